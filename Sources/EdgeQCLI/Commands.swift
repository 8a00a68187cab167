import EdgeQ

/// Loads MODEL (a path) into memory: the host accepts `.onnx` and `.eqm`, the device `.eqm` only.
public typealias ModelLoader = (String) throws(EdgeQError) -> Model

public struct Command {
    public let name: String
    public let summary: String
    public let help: String
    public let run: ([String]) throws(EdgeQError) -> Void

    public init(name: String, summary: String, help: String, run: @escaping ([String]) throws(EdgeQError) -> Void) {
        self.name = name
        self.summary = summary
        self.help = help
        self.run = run
    }
}

/// Reads an `.eqm` file straight into aligned memory and validates it.
public func loadEQM(_ path: String) throws(EdgeQError) -> Model {
    let file = try Platform.readFile(path)
    do {
        return try Model(file: file)
    } catch {
        throw EdgeQError(error.kind, path + ": " + error.message)
    }
}

/// Dispatches `arguments` (without the program name) to a command; prints errors as one line on stderr.
/// Returns the process exit code: 0 success, 1 failure, 2 usage error.
public func edgeqMain(_ arguments: [String], commands: [Command], program: String = "edgeq") -> Int32 {
    func overview() -> String {
        var text = program + " — quantized edge inference runtime\n\nUsage: " + program + " COMMAND [ARGS]\n\nCommands:\n"
        for c in commands { text += "  " + padRight(c.name, 10) + c.summary + "\n" }
        text += "\nMODEL is an EdgeQ model file (.eqm)"
        text += commands.contains { $0.name == "convert" } ? " or an ONNX file (.onnx, converted in memory)." : "."
        text += "\nRun '" + program + " COMMAND --help' for the options of a command."
        return text
    }
    guard let first = arguments.first else {
        Platform.printError(overview())
        return 2
    }
    if first == "--help" || first == "-h" || first == "help" {
        Platform.print(overview())
        return 0
    }
    guard let command = commands.first(where: { $0.name == first }) else {
        Platform.printError("error: unknown command '" + first + "'\n\n" + overview())
        return 2
    }
    let rest = Array(arguments.dropFirst())
    if rest.contains("--help") || rest.contains("-h") {
        Platform.print(command.help)
        return 0
    }
    do {
        try command.run(rest)
        return 0
    } catch {
        Platform.printError("error: " + error.description)
        return error.kind == .invalidArgument ? 2 : 1
    }
}

/// The commands every EdgeQ executable has: run, eval, bench, inspect.
public func runtimeCommands(loader: @escaping ModelLoader) -> [Command] {
    [
        Command(
            name: "run", summary: "classify one image or tensor and print the top classes",
            help: """
                Usage: edgeq run MODEL INPUT [--top K] [--labels synsets.txt] [--logits OUT.f32] [--threads N]

                INPUT is a JPEG or binary PPM image, or a raw little-endian float32 tensor file (*.f32) in the
                model's NCHW input shape (e.g. [1,3,224,224]). Images of another size than the model input are
                resized (shorter side 256/224 of the input, bilinear with antialiasing) and centre-cropped, then
                normalised with the ImageNet mean and standard deviation.

                  --top K          how many classes to print (default 5)
                  --labels FILE    class names, one per line ('synset<TAB>name' or just 'name')
                  --logits FILE    also write the raw float32 output there (little-endian, written atomically)
                  --threads N      run the layers on N threads (default 1); the output is bit-identical for every N
                """,
            run: { a throws(EdgeQError) in try runCommand(a, loader) }),
        Command(
            name: "eval", summary: "top-1/top-5 accuracy of one or more models on a labelled image folder",
            help: """
                Usage: edgeq eval MODEL... --images DIR [--limit N] [--json] [--predictions OUT.tsv] [--threads N]

                DIR holds JPEG/PPM images and labels.tsv (tab-separated, header row, columns 'file' and
                'class_index'). Every image is decoded once and run through each model; progress goes to stderr.

                  --limit N            use the first N images of labels.tsv
                  --json               print one JSON object on stdout:
                                       {"images": N, "models": [{"path": ..., "top1": 85.0, "top5": 97.25}, ...]}
                  --predictions FILE   write each image's label and every model's top-1 and top-5 as TSV
                  --layers             also print, for every model after the first, the SQNR of each of its
                                       activations (int8 ones dequantized) against the first model's tensor
                                       of the same name: where quantization loses accuracy
                  --threads N          run the layers on N threads (default 1); results do not depend on N
                """,
            run: { a throws(EdgeQError) in try evalCommand(a, loader) }),
        Command(
            name: "bench", summary: "latency per inference (median and min) and memory",
            help: """
                Usage: edgeq bench MODEL [--runs N] [--warmup N] [--threads N] [--json] [--layers]

                Times whole inferences on a fixed pseudo-random input. Reports the median and minimum latency,
                the activation arena and the peak resident memory of the process.

                  --runs N     timed inferences (default 20)
                  --warmup N   untimed inferences first (default 3)
                  --threads N  run the layers on N threads (default 1)
                  --json       print {"median_ms": ..., "min_ms": ..., "runs": N, "arena_bytes": ..., ...}
                  --layers     also print the median time of every layer with its kernel, dtype and MACs
                """,
            run: { a throws(EdgeQError) in try benchCommand(a, loader) }),
        Command(
            name: "inspect", summary: "layers, shapes, dtypes, MACs, parameter and arena bytes",
            help: """
                Usage: edgeq inspect MODEL

                Prints every layer with its kernel, output shape, dtype, multiply-accumulates and parameter
                bytes, then totals and the size of the activation arena.
                """,
            run: { a throws(EdgeQError) in try inspectCommand(a, loader) }),
        Command(
            name: "selftest", summary: "int8 convolution kernels of this build against the reference",
            help: """
                Usage: edgeq selftest [--cases N] [--seed S]

                Runs the int8 convolution kernels this build's kernel table selects (on the Raspberry Pi builds
                the sdot or NEON ones) on N seeded random shapes (default 600) through the table, as an
                inference calls them, and compares every output byte with the scalar reference. Prints the
                cases per kernel; exits 1 at the first difference, naming the shape.
                """,
            run: { a throws(EdgeQError) in try selfTestCommand(a) }),
    ]
}

func selfTestCommand(_ arguments: [String]) throws(EdgeQError) {
    let args = try Arguments(arguments, options: ["--cases", "--seed"], switches: [])
    let cases = try args.int("--cases", default: 600, range: 1...1_000_000)
    let seed = try args.int("--seed", default: 1, range: 0...Int.max)
    let check = int8KernelSelfCheck(cases: cases, seed: UInt64(seed))
    for name in check.casesPerKernel.keys.sorted() {
        Platform.print(padRight(name, 34) + String(check.casesPerKernel[name]!) + " cases bit-exact")
    }
    if let failure = check.failure { throw EdgeQError(.selfCheckFailed, failure) }
    Platform.print("selftest: " + String(cases) + " int8 convolutions identical to the reference")
}

// MARK: - Shared pieces

/// The `--threads N` option of run, eval and bench (default 1): the pool that runs the layers, none for one
/// thread.
func threadPool(_ args: Arguments) throws(EdgeQError) -> ThreadPool? {
    let threads = try args.int("--threads", default: 1, range: 1...ThreadPool.maximumThreads)
    return threads > 1 ? try ThreadPool(threads: threads) : nil
}

func singleModel(_ args: Arguments, _ usage: String) throws(EdgeQError) -> String {
    guard let path = args.positionals.first else { throw EdgeQError(.invalidArgument, "missing MODEL. " + usage) }
    return path
}

/// Writes the model input for `path`: an image (decoded, resized, cropped, normalised) or a raw NCHW tensor.
public func loadInput(_ path: String, into interpreter: Interpreter) throws(EdgeQError) {
    let shape = interpreter.inputShape
    guard shape.count == 4 else { throw EdgeQError(.invalidInput, "model input " + describe(shape) + " is not an image") }
    let (height, width, channels) = (shape[1], shape[2], shape[3])
    let destination = interpreter.input()
    if path.hasSuffix(".f32") {
        let file = try Platform.readFile(path)
        guard file.count == destination.count * 4 else {
            throw EdgeQError(
                .invalidInput,
                path + " has " + String(file.count) + " bytes; the model takes a float32 tensor "
                    + describe([1, channels, height, width]) + " (NCHW) = " + String(destination.count * 4) + " bytes")
        }
        nchwToNHWC(
            UnsafePointer(file.base.assumingMemoryBound(to: Float.self)), channels: channels, height: height,
            width: width, dst: destination.baseAddress!)
        return
    }
    guard channels == 3, height == width else {
        throw EdgeQError(.invalidInput, "model input " + describe(shape) + " is not a square RGB image")
    }
    let image: RGBImage
    do {
        image = try decodeImage(try Platform.readBytes(path))
    } catch {
        throw EdgeQError(error.kind, path + ": " + error.message)
    }
    let pixels = imageNetInputNHWC(image, size: height)
    for i in 0..<pixels.count { destination[i] = pixels[i] }
}

func loadLabels(_ path: String) throws(EdgeQError) -> [String] {
    let text = String(decoding: try Platform.readBytes(path), as: UTF8.self)
    return text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        let fields = line.split(separator: "\t", maxSplits: 1)
        return fields.count == 2 ? String(fields[1]) : String(line)
    }
}

// MARK: - run

func runCommand(_ arguments: [String], _ loader: ModelLoader) throws(EdgeQError) {
    let args = try Arguments(arguments, options: ["--top", "--labels", "--logits", "--threads"], switches: [])
    guard args.positionals.count == 2 else {
        throw EdgeQError(
            .invalidArgument, "usage: edgeq run MODEL INPUT [--top K] [--labels FILE] [--logits OUT.f32] [--threads N]")
    }
    let top = try args.int("--top", default: 5, range: 1...100_000)
    var labels: [String]? = nil
    if let path = args.value("--labels") { labels = try loadLabels(path) }
    let pool = try threadPool(args)
    let interpreter = try Interpreter(model: try loader(args.positionals[0]), executor: pool)
    try loadInput(args.positionals[1], into: interpreter)
    interpreter.invoke()
    let logits = interpreter.output()
    if let out = args.value("--logits") {
        try Platform.writeFileAtomically(out, logits)
    }
    Platform.print("rank  class   logit  name")
    for (rank, c) in topK(logits, min(top, logits.count)).enumerated() {
        let name = labels.flatMap { c < $0.count ? $0[c] : nil } ?? ""
        Platform.print(
            padLeft(String(rank + 1), 4) + "  " + padLeft(String(c), 5) + "  " + padLeft(fixed(Double(logits[c]), 3), 7)
                + "  " + name)
    }
}

// MARK: - eval

struct LabelledImage {
    var file: String
    var label: Int
}

func readLabelTable(_ directory: String) throws(EdgeQError) -> [LabelledImage] {
    let path = directory + "/labels.tsv"
    let text = String(decoding: try Platform.readBytes(path), as: UTF8.self)
    var lines = text.split(separator: "\n").map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
    guard let header = lines.first?.split(separator: "\t", omittingEmptySubsequences: false),
        let fileColumn = header.firstIndex(of: "file"), let labelColumn = header.firstIndex(of: "class_index")
    else {
        throw EdgeQError(.invalidInput, path + ": header row must name the columns 'file' and 'class_index'")
    }
    lines.removeFirst()
    var table: [LabelledImage] = []
    for (row, line) in lines.enumerated() where !line.isEmpty {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
        guard fields.count > max(fileColumn, labelColumn), let label = Int(fields[labelColumn]), label >= 0 else {
            throw EdgeQError(.invalidInput, path + ": line " + String(row + 2) + " has no valid file and class_index")
        }
        table.append(LabelledImage(file: String(fields[fileColumn]), label: label))
    }
    guard !table.isEmpty else { throw EdgeQError(.invalidInput, path + " lists no images") }
    return table
}

/// Prints "eval: 120/400" on stderr: redrawn in place on a terminal, every tenth otherwise.
public struct Progress {
    let label: String
    let total: Int
    let terminal = Platform.stderrIsTerminal

    public init(label: String, total: Int) {
        self.label = label
        self.total = total
    }

    public func update(_ done: Int) {
        if terminal {
            Platform.write("\r" + label + ": " + String(done) + "/" + String(total) + (done == total ? "\n" : ""),
                toError: true)
        } else if done == total || done % max(total / 10, 1) == 0 {
            Platform.printError(label + ": " + String(done) + "/" + String(total))
        }
    }
}

func evalCommand(_ arguments: [String], _ loader: ModelLoader) throws(EdgeQError) {
    let args = try Arguments(
        arguments, options: ["--images", "--limit", "--predictions", "--threads"], switches: ["--json", "--layers"])
    guard !args.positionals.isEmpty, let directory = args.value("--images") else {
        throw EdgeQError(.invalidArgument, "usage: edgeq eval MODEL... --images DIR [--limit N] [--json]")
    }
    var table = try readLabelTable(directory)
    table = Array(table.prefix(try args.int("--limit", default: table.count, range: 1...Int(Int32.max))))
    let pool = try threadPool(args)  // the models run one after the other: one pool serves them all
    var interpreters: [Interpreter] = []
    for path in args.positionals { interpreters.append(try Interpreter(model: try loader(path), executor: pool)) }

    let count = interpreters.count
    var top1 = [Int](repeating: 0, count: count)
    var top5 = [Int](repeating: 0, count: count)
    // Models after the first are compared with it: top-1 agreement and the SQNR of their logits.
    var agreement = [Int](repeating: 0, count: count)
    var signal = [Double](repeating: 0, count: count)
    var noise = [Double](repeating: 0, count: count)
    var predictions = "file\tlabel"
    for i in interpreters.indices { predictions += "\ttop1_" + String(i) + "\ttop5_" + String(i) }
    predictions += "\n"
    let progress = Progress(label: "eval", total: table.count)
    for (n, item) in table.enumerated() {
        let path = directory + "/" + item.file
        predictions += item.file + "\t" + String(item.label)
        var reference: [Float] = []
        var referenceTop1 = -1
        for (m, interpreter) in interpreters.enumerated() {
            try loadInput(path, into: interpreter)
            interpreter.invoke()
            let logits = interpreter.output()
            let best = topK(logits, 5)
            if best.first == item.label { top1[m] += 1 }
            if best.contains(item.label) { top5[m] += 1 }
            if m == 0 {
                reference = logits
                referenceTop1 = best[0]
            } else if logits.count == reference.count {
                if best[0] == referenceTop1 { agreement[m] += 1 }
                for (value, expected) in zip(logits, reference) {
                    signal[m] += Double(expected) * Double(expected)
                    noise[m] += (Double(value) - Double(expected)) * (Double(value) - Double(expected))
                }
            }
            predictions += "\t" + String(best[0]) + "\t"
            for (k, c) in best.enumerated() { predictions += (k == 0 ? "" : ",") + String(c) }
        }
        predictions += "\n"
        progress.update(n + 1)
    }
    if let out = args.value("--predictions") {
        try Platform.writeFileAtomically(out, Array(predictions.utf8))
    }
    if args.has("--layers") {
        for m in 1..<max(count, 1) {
            try printLayerSQNR(reference: interpreters[0].model, interpreters[m].model, paths: args.positionals[0],
                               args.positionals[m], images: table.map { directory + "/" + $0.file })
        }
    }
    func percent(_ count: Int) -> Double { Double(count) * 100 / Double(table.count) }
    func sqnr(_ m: Int) -> Double { decibels(signal[m] / noise[m]) }
    if args.has("--json") {
        var json = "{\"images\": " + String(table.count) + ", \"models\": ["
        for (m, path) in args.positionals.enumerated() {
            json += (m == 0 ? "" : ", ") + "{\"path\": " + jsonString(path) + ", \"top1\": " + String(percent(top1[m]))
                + ", \"top5\": " + String(percent(top5[m]))
            if m > 0 {
                json += ", \"top1_drop\": " + String(percent(top1[0]) - percent(top1[m])) + ", \"top1_agreement\": "
                    + String(percent(agreement[m])) + ", \"logit_sqnr_db\": " + jsonNumber(sqnr(m))
            }
            json += "}"
        }
        Platform.print(json + "]}")
    } else {
        Platform.print("images: " + String(table.count) + " (" + directory + ")")
        Platform.print(padRight("model", 48) + padLeft("top-1", 9) + padLeft("top-5", 9)
            + (count > 1 ? padLeft("drop", 8) + padLeft("agree", 9) + padLeft("SQNR dB", 9) : ""))
        for (m, path) in args.positionals.enumerated() {
            var line = padRight(path, 48) + padLeft(fixed(percent(top1[m]), 2) + "%", 9)
                + padLeft(fixed(percent(top5[m]), 2) + "%", 9)
            if m > 0 {
                line += padLeft(fixed(percent(top1[0]) - percent(top1[m]), 2), 8)
                    + padLeft(fixed(percent(agreement[m]), 2) + "%", 9) + padLeft(fixed(sqnr(m), 2), 9)
            }
            Platform.print(line)
        }
    }
}

/// Per tensor present (by name) in both models: the SQNR of `model`'s values against `reference`'s over
/// `images`, 10·log10(Σ ref² / Σ (value − ref)²), int8 tensors dequantized. Shows where quantization loses.
func printLayerSQNR(reference: Model, _ model: Model, paths referencePath: String, _ path: String,
                    images: [String]) throws(EdgeQError) {
    let a = try Interpreter(model: try reference.observingEveryActivation())
    let b = try Interpreter(model: try model.observingEveryActivation())
    var index: [String: Int] = [:]
    for t in a.model.graph.outputs { index[a.model.graph.tensors[t].name] = t }
    let pairs = b.model.graph.outputs.compactMap { t in index[b.model.graph.tensors[t].name].map { ($0, t) } }
    var signal = [Double](repeating: 0, count: pairs.count)
    var noise = [Double](repeating: 0, count: pairs.count)
    let progress = Progress(label: "layers", total: images.count)
    for (n, image) in images.enumerated() {
        try loadInput(image, into: a)
        try loadInput(image, into: b)
        a.invoke()
        b.invoke()
        for (i, (ta, tb)) in pairs.enumerated() {
            for (x, y) in zip(a.values(of: ta), b.values(of: tb)) {
                signal[i] += Double(x) * Double(x)
                noise[i] += (Double(y) - Double(x)) * (Double(y) - Double(x))
            }
        }
        progress.update(n + 1)
    }
    Platform.print("per-layer SQNR of " + path + " against " + referencePath + " (" + String(images.count) + " images)")
    let nameWidth = columnWidth(pairs.map { b.model.graph.tensors[$0.1].name }, minimum: 8)
    Platform.print(padLeft("#", 4) + "  " + padRight("tensor", nameWidth) + padRight("dtype", 6) + padLeft("SQNR dB", 9))
    for (i, (_, tb)) in pairs.enumerated() {
        let tensor = b.model.graph.tensors[tb]
        Platform.print(padLeft(String(i), 4) + "  " + padRight(tensor.name, nameWidth) + padRight(tensor.dtype.name, 6)
            + padLeft(fixed(decibels(signal[i] / noise[i]), 2), 9))
    }
}

// MARK: - bench

func benchCommand(_ arguments: [String], _ loader: ModelLoader) throws(EdgeQError) {
    let args = try Arguments(
        arguments, options: ["--runs", "--warmup", "--threads"], switches: ["--json", "--layers"])
    let path = try singleModel(
        args, "usage: edgeq bench MODEL [--runs N] [--warmup N] [--threads N] [--json] [--layers]")
    let runs = try args.int("--runs", default: 20, range: 1...1_000_000)
    let warmup = try args.int("--warmup", default: 3, range: 0...1_000_000)
    let pool = try threadPool(args)
    let threads = pool?.workerCount ?? 1
    let interpreter = try Interpreter(model: try loader(path), executor: pool)
    // A fixed pseudo-random input (xorshift) in roughly the range of normalised images.
    var state: UInt32 = 2_463_534_242
    let input = interpreter.input()
    for i in 0..<input.count {
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        input[i] = Float(state % 2000) / 500 - 2
    }
    for _ in 0..<warmup { interpreter.invoke() }
    var totals: [Double] = []
    var layerTimes = [[Double]](repeating: [], count: args.has("--layers") ? interpreter.steps.count : 0)
    for _ in 0..<runs {
        let start = Platform.nanoseconds()
        if layerTimes.isEmpty {
            interpreter.invoke()
        } else {
            var t0 = start
            for s in interpreter.steps.indices {
                interpreter.invoke(step: s)
                let t1 = Platform.nanoseconds()
                layerTimes[s].append(Double(t1 - t0) / 1e6)
                t0 = t1
            }
        }
        totals.append(Double(Platform.nanoseconds() - start) / 1e6)
    }
    let medianMs = median(totals)
    let minMs = totals.min()!
    let peak = Platform.peakMemoryKiB()
    if args.has("--json") {
        Platform.print(
            "{\"model\": " + jsonString(path) + ", \"median_ms\": " + fixed(medianMs, 4) + ", \"min_ms\": "
                + fixed(minMs, 4) + ", \"runs\": " + String(runs) + ", \"warmup\": " + String(warmup)
                + ", \"threads\": " + String(threads) + ", \"arena_bytes\": " + String(interpreter.arenaBytes) + ", \"peak_rss_kib\": "
                + String(peak) + "}")
        return
    }
    if !layerTimes.isEmpty {
        let graph = interpreter.model.graph
        let nameWidth = columnWidth(interpreter.steps.map { graph.nodes[$0.node].name }, minimum: 8)
        Platform.print(padLeft("#", 4) + "  " + padRight("layer", nameWidth) + padRight("kernel", 32) + padRight("dtype", 8)
            + padLeft("MMACs", 9) + padLeft("ms", 9) + padLeft("GMAC/s", 8))
        for (s, step) in interpreter.steps.enumerated() {
            let ms = median(layerTimes[s])
            let rate = step.macs > 0 && ms > 0 ? fixed(Double(step.macs) / ms / 1e6, 2) : ""
            Platform.print(padLeft(String(s), 4) + "  " + padRight(graph.nodes[step.node].name, nameWidth)
                + padRight(step.kernel, 32) + padRight(graph.layerDType(graph.nodes[step.node]).name, 8)
                + padLeft(fixed(Double(step.macs) / 1e6, 2), 9) + padLeft(fixed(ms, 3), 9)
                + padLeft(rate, 8))
        }
    }
    Platform.print("model:      " + path)
    Platform.print("threads:    " + String(threads))
    Platform.print("runs:       " + String(runs) + " (after " + String(warmup) + " warm-up)")
    Platform.print("median:     " + fixed(medianMs, 3) + " ms")
    Platform.print("min:        " + fixed(minMs, 3) + " ms")
    Platform.print("arena:      " + String(interpreter.arenaBytes) + " bytes (" + byteSize(interpreter.arenaBytes) + ")")
    Platform.print("peak RSS:   " + String(peak) + " KiB")
}

public func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let n = sorted.count
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
}

// MARK: - inspect

func inspectCommand(_ arguments: [String], _ loader: ModelLoader) throws(EdgeQError) {
    let args = try Arguments(arguments, options: [], switches: [])
    let path = try singleModel(args, "usage: edgeq inspect MODEL")
    let interpreter = try Interpreter(model: try loader(path))
    let graph = interpreter.model.graph
    var kernels: [Int: String] = [:]  // a node's first kernel (a Concat may have several copy steps)
    for step in interpreter.steps where kernels[step.node] == nil { kernels[step.node] = step.kernel }
    Platform.print("model: " + path + (graph.producer.isEmpty ? "" : "  (" + graph.producer + ")"))
    let nameWidth = columnWidth(graph.nodes.map { $0.name }, minimum: 8)
    Platform.print(padLeft("#", 4) + "  " + padRight("layer", nameWidth) + padRight("op", 18) + padRight("kernel", 30)
        + padRight("output", 18) + padRight("dtype", 7) + padLeft("MMACs", 8) + padLeft("params", 10))
    var totalMacs = 0
    var totalParameterBytes = 0
    for (n, node) in graph.nodes.enumerated() {
        let macs = Interpreter.geometry(node, interpreter.shapes)?.macs ?? 0
        var parameterBytes = 0
        for i in node.inputs where graph.tensors[i].isConstant { parameterBytes += graph.tensors[i].data!.length }
        totalMacs += macs
        totalParameterBytes += parameterBytes
        let output = node.outputs[0]
        Platform.print(
            padLeft(String(n), 4) + "  " + padRight(node.name, nameWidth) + padRight(node.op.name, 18)
                + padRight(kernels[n] ?? (node.op.isViewOrConcat ? "(view)" : "-"), 30)
                + padRight(describe(interpreter.shapes[output]), 18) + padRight(graph.layerDType(node).name, 7)
                + padLeft(fixed(Double(macs) / 1e6, 2), 8) + padLeft(String(parameterBytes), 10))
    }
    let input = graph.inputs.map { describe(interpreter.shapes[$0]) }.joined(separator: ", ")
    let output = graph.outputs.map { describe(interpreter.shapes[$0]) }.joined(separator: ", ")
    Platform.print("")
    Platform.print("input:       " + input + " NHWC float32")
    Platform.print("output:      " + output)
    Platform.print("layers:      " + String(graph.nodes.count) + " (" + String(interpreter.steps.count) + " kernel calls)")
    Platform.print("MACs:        " + fixed(Double(totalMacs) / 1e6, 2) + " M (float32)")
    Platform.print("parameters:  " + String(totalParameterBytes) + " bytes (" + byteSize(totalParameterBytes) + ")")
    Platform.print("arena:       " + String(interpreter.arenaBytes) + " bytes (" + byteSize(interpreter.arenaBytes)
        + ", activations " + String(interpreter.memory.activationBytes) + ")")
    Platform.print("file:        " + String(interpreter.model.file.count) + " bytes")
}

extension Operator {
    var isViewOrConcat: Bool { isView || self == .concat }
}

extension ModelGraph {
    /// A layer's dtype as inspect and bench show it: its output's, except that binary layers (whatever they read
    /// and write) say so.
    func layerDType(_ node: Node) -> DType {
        if case .binaryConv2d = node.op { return tensors[node.inputs[1]].dtype }
        return tensors[node.outputs[0]].dtype
    }
}
