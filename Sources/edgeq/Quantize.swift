import EdgeQ
import EdgeQCalibration
import EdgeQCLI
import EdgeQQuantizer

let quantize = Command(
    name: "quantize", summary: "int8 post-training quantization of an ONNX model with calibration images",
    help: """
        Usage: edgeq quantize MODEL.onnx --calib DIR -o OUT.eqm [options]
               edgeq quantize MODEL.onnx --table-in RANGES.tsv -o OUT.eqm [options]

        Runs the float model over the calibration images (JPEG/PPM files of DIR, sorted by name), chooses a
        range for every activation tensor, and writes an int8 model: weights int8 symmetric per output channel,
        biases int32, activations int8 asymmetric per tensor. Layers without an int8 kernel (and those you
        keep float) stay float32, with quantize/dequantize at the boundaries. The maths:
        Sources/EdgeQ/Kernels/Int8/QUANTIZATION.md.

          --method M          minmax | percentile | entropy | mse (default: percentile)
          --percentile P      percent of values kept by --method percentile (default 99.99)
          --calib-limit N     use the first N calibration images
          --skip-bad          skip images that do not decode (with a warning) instead of stopping
          --per-tensor        one weight scale per layer instead of one per output channel
          --keep-float L      keep layers float32: a node name or a glob (* and ?); repeatable
          --float-first-stage on|off
                              keep float32 the layers at the largest resolution of any convolution output
                              (the stem and the first block: 13 % of the MACs of MobileNetV2 and GhostNet),
                              where one int8 scale per tensor loses most (default off: measured more accurate
                              and no slower, but the float activations need a larger arena, see README)
          --table OUT.tsv     also write the chosen ranges as an editable table (tensor, lo, hi, method)
          --table-in IN.tsv   quantize with the ranges of a table instead of calibrating; a tensor without a
                              line stays float32
          --search N          range search on the first N calibration images (default 64; 0: off): each
                              tensor in turn tries the ranges of the other methods and keeps the one that
                              brings the int8 logits closest to float's (Quantizer/Int8/RangeSearch.swift)
          --bias-correction on|off
                              empirical bias correction: shift each int8 layer's bias so that its mean
                              output on the calibration images matches float's (default off: it measured
                              worse on both models, see README)
          --equalize on|off   cross-layer equalization of layer pairs joined by ReLU or nothing (default
                              off: no measurable gain with per-channel weights, see README)

        Binarization (XNOR-Net, post-training; Quantizer/Binary/BINARIZATION.md): a binarized convolution
        computes α[o]·β·conv(sign(W), sign(x)) + bias in the binary kernel, the rest stays as the int8 plan.
          --binary LAYERS     binarize these convolutions (groups 1): comma-separated node names, globs (* ?),
                              candidate numbers i or ranges i-j as numbered in the sensitivity table; repeatable.
                              Numbers count the candidates: every convolution with groups 1 except the first
                              layer and a classifier; names and globs may name those too
          --binary auto --budget P
                              measure every candidate alone, then binarize the least sensitive ones greedily
                              while the top-1 agreement with float on the binarization images stays within P
                              points of the int8 model's
          --binary-weights-only
                              binary weights α[o]·sign(W), int8 activations: the layers stay int8 convolutions
                              (less lossy; same speed and file size as int8)
          --binary-input centered|sign
                              sign(x − mean[c]) with the mean folded into the bias, at the cost of a float add
                              before the layer (default: loses less); or sign(x) as ONNX Sign, post-ReLU zeros
                              counting 0
          --binary-images N   calibration images the input scales, sensitivities and auto plan are measured on
                              (default 32)
          --sensitivity OUT.csv
                              measure every candidate alone (also without auto), print and write the table
        """,
    run: { arguments throws(EdgeQError) in
        let args = try Arguments(
            arguments,
            options: ["--calib", "-o", "--output", "--method", "--percentile", "--calib-limit", "--keep-float",
                      "--table", "--table-in", "--float-first-stage", "--bias-correction", "--search", "--equalize", "--binary",
                      "--budget", "--binary-input", "--binary-images", "--sensitivity"],
            switches: ["--skip-bad", "--per-tensor", "--binary-weights-only"])
        let usage = "usage: edgeq quantize MODEL.onnx (--calib DIR | --table-in RANGES.tsv) -o OUT.eqm"
        guard args.positionals.count == 1, let output = args.value("-o") ?? args.value("--output") else {
            throw EdgeQError(.invalidArgument, usage)
        }
        let modelPath = args.positionals[0]
        guard modelPath.hasSuffix(".onnx") else {
            throw EdgeQError(.invalidArgument, "edgeq quantize takes a float ONNX model, not '" + modelPath + "'")
        }
        var options = QuantizationOptions()
        options.perTensorWeights = args.has("--per-tensor")
        options.keepFloat = args.all("--keep-float")
        options.rangeSearchImages = try args.int("--search", default: args.value("--calib") == nil ? 0 : 64, range: 0...1_000_000)
        options.floatFirstStage = try onOff(args, "--float-first-stage", default: false)
        options.biasCorrection = try onOff(args, "--bias-correction", default: false)
        options.crossLayerEqualization = try onOff(args, "--equalize", default: false)
        options.binarization = try binarizationOptions(args)

        let source: RangeSource
        if let tablePath = args.value("--table-in") {
            let text = String(decoding: try Platform.readBytes(tablePath), as: UTF8.self)
            do throws(CalibrationError) { source = .table(try RangeTable(parsing: text)) } catch {
                throw EdgeQError(.invalidInput, tablePath + ": " + error.description)
            }
        } else if let directory = args.value("--calib") {
            let limit: Int? = args.value("--calib-limit") == nil
                ? nil : try args.int("--calib-limit", default: 0, range: 1...1_000_000)
            source = .images(try calibrationImages(in: directory, limit: limit), method: try rangeMethod(args),
                             skipBad: args.has("--skip-bad"))
        } else {
            throw EdgeQError(.invalidArgument, "give --calib DIR or --table-in RANGES.tsv. " + usage)
        }

        if let directory = args.value("--calib") {
            options.binarization.calibrationImages = try calibrationImages(in: directory, limit: nil)
        }

        let onnx = try Platform.readBytes(modelPath)
        var progress: (stage: String, line: Progress)? = nil
        let result = try quantizeONNX(
            onnx, ranges: source, options: options, report: { Platform.printError($0) },
            progress: { stage, done, total in
                if progress?.stage != stage { progress = (stage, Progress(label: stage, total: total)) }
                progress!.line.update(done)
            })
        let bytes = serializeEQM(result.model.graph, weights: result.model.weights)
        let interpreter = try Interpreter(model: try Model(bytes: bytes))
        if let tablePath = args.value("--table") {
            try Platform.writeFileAtomically(tablePath, Array(result.table.text.utf8))
        }
        try Platform.writeFileAtomically(output, bytes)
        if let binarization = result.binarization {
            try printBinarization(binarization, csv: args.value("--sensitivity"))
        }
        let graph = result.model.graph
        let int8Layers = graph.nodes.filter { n in graph.tensors[n.outputs[0]].dtype == .int8 }.count
        Platform.print(
            "wrote " + output + ": " + String(bytes.count) + " bytes, " + String(int8Layers) + " of "
                + String(graph.nodes.count) + " layers int8, " + String(result.table.entries.count)
                + " calibrated tensors, arena " + String(interpreter.arenaBytes) + " bytes")
    })

func rangeMethod(_ args: Arguments) throws(EdgeQError) -> RangeMethod {
    switch args.value("--method") ?? "percentile" {
    case "minmax": return .minmax
    case "entropy": return .entropy
    case "mse": return .mse
    case "percentile":
        let text = args.value("--percentile") ?? "99.99"
        guard let p = Platform.parseDouble(text), p > 0, p <= 100 else {
            throw EdgeQError(.invalidArgument, "--percentile takes a number in (0, 100], got '" + text + "'")
        }
        return .percentile(p)
    case let other:
        throw EdgeQError(.invalidArgument, "--method is minmax, percentile, entropy or mse, not '" + other + "'")
    }
}

func onOff(_ args: Arguments, _ option: String, default value: Bool) throws(EdgeQError) -> Bool {
    switch args.value(option) {
    case nil: return value
    case "on": return true
    case "off": return false
    case let other?: throw EdgeQError(.invalidArgument, option + " is on or off, not '" + other + "'")
    }
}

func binarizationOptions(_ args: Arguments) throws(EdgeQError) -> BinarizationOptions {
    var options = BinarizationOptions()
    let layers = args.all("--binary")
    if layers == ["auto"] {
        guard let text = args.value("--budget") else {
            throw EdgeQError(.invalidArgument, "--binary auto needs --budget P (agreement points it may lose)")
        }
        guard let budget = Platform.parseDouble(text), budget >= 0, budget <= 100 else {
            throw EdgeQError(.invalidArgument, "--budget takes points from 0 to 100, got '" + text + "'")
        }
        options.budget = budget
    } else if layers.contains("auto") {
        throw EdgeQError(.invalidArgument, "--binary auto chooses the layers itself: give auto or layers, not both")
    } else if args.value("--budget") != nil {
        throw EdgeQError(.invalidArgument, "--budget is the budget of --binary auto")
    } else {
        options.layers = layers
    }
    options.weightsOnly = args.has("--binary-weights-only")
    let input = args.value("--binary-input") ?? options.input.rawValue
    guard let mode = BinaryInput(rawValue: input) else {
        throw EdgeQError(.invalidArgument, "--binary-input is centered or sign, not '" + input + "'")
    }
    options.input = mode
    options.images = try args.int("--binary-images", default: options.images, range: 1...1_000_000)
    options.measureSensitivity = args.value("--sensitivity") != nil
    if options.weightsOnly && options.layers.isEmpty && options.budget == nil {
        throw EdgeQError(.invalidArgument, "--binary-weights-only applies to the layers of --binary: give --binary")
    }
    return options
}

/// The sensitivity table (least sensitive first) and what was binarized, on stdout; the table also as CSV.
func printBinarization(_ report: BinarizationReport, csv: String?) throws(EdgeQError) {
    if !report.sensitivity.isEmpty {
        Platform.print("binarization sensitivity (each candidate alone; int8 model: agreement "
            + fixed(report.int8Agreement, 2) + " %)")
        let nameWidth = columnWidth(report.sensitivity.map(\.layer), minimum: 8)
        Platform.print(padLeft("#", 4) + "  " + padRight("layer", nameWidth) + padLeft("MMACs", 9) + padLeft("agree", 9)
            + padLeft("drop", 8) + padLeft("SQNR dB", 9))
        for line in report.sensitivity {
            Platform.print(padLeft(String(line.number), 4) + "  " + padRight(line.layer, nameWidth)
                + padLeft(fixed(Double(line.macs) / 1e6, 2), 9) + padLeft(fixed(line.agreement, 2) + "%", 9)
                + padLeft(fixed(line.drop, 2), 8) + padLeft(fixed(line.sqnrDecibels, 2), 9))
        }
    }
    if let csv { try Platform.writeFileAtomically(csv, Array(report.sensitivityCSV.utf8)) }
    Platform.print("binarized " + String(report.layers.count) + " layers, " + fixed(Double(report.macs) / 1e6, 2)
        + " MMACs: agreement with float " + fixed(report.agreement, 2) + " % (int8 " + fixed(report.int8Agreement, 2)
        + " %), logit SQNR " + fixed(report.sqnrDecibels, 2) + " dB on the binarization images")
    for layer in report.layers { Platform.print("  binary: " + layer) }
}
