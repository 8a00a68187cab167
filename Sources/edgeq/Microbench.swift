import EdgeQ
import EdgeQCLI
import EdgeQQuantizer

/// `edgeq microbench`: one MobileNetV2-like 1x1 layer and one 3x3 layer in float32, int8 and binary, timed
/// alone on one thread. The layer shapes are the (XNOR-Net, issue 5).
let microbench = Command(
    name: "microbench", summary: "time single float32 / int8 / binary convolution layers on one thread",
    help: """
        Usage: edgeq microbench [--runs N] [--warmup N] [--dir DIR]

        Builds two layers, each as a float32, an int8 and a binary model of its own (fixed pseudo-random
        weights; the binary one is Sign then a convolution with weights ±α per output channel, float32 in and
        out; binary-i8 the same layer reading and writing int8 like the int8 one; binary-b1 the same layer
        inside a binary network, reading and writing bit-packed activations, between two 1x1 binary layers),
        and times the layer's step alone, on one thread: median and minimum over the runs. Quantize and
        dequantize steps and the binary-b1 model's other layers are not timed.
          1x1: 56x56x128 -> 128 (a MobileNetV2 expansion / projection size)
          3x3: 28x28x128 -> 128, stride 1, padding 1

          --runs N     timed runs of each layer (default 200)
          --warmup N   untimed runs first (default 20)
          --dir DIR    also write the ten models as DIR/conv1x1-f32.eqm ... DIR/conv3x3-binary-b1.eqm;
                       'edgeq bench MODEL --layers' times every step of one of them
        """,
    run: { arguments throws(EdgeQError) in
        let args = try Arguments(arguments, options: ["--runs", "--warmup", "--dir"], switches: [])
        let runs = try args.int("--runs", default: 200, range: 1...1_000_000)
        let warmup = try args.int("--warmup", default: 20, range: 0...1_000_000)
        let layers = [
            ("conv1x1", "56x56x128 -> 128", singleConvolutionModels(
                height: 56, width: 56, inputChannels: 128, outputChannels: 128, kernel: 1, stride: 1)),
            ("conv3x3", "28x28x128 -> 128", singleConvolutionModels(
                height: 28, width: 28, inputChannels: 128, outputChannels: 128, kernel: 3, stride: 1)),
        ]
        Platform.print(padRight("layer", 26) + padRight("dtype", 10) + padRight("kernel", 24) + padLeft("median ms", 10)
            + padLeft("min ms", 9) + padLeft("GMAC/s", 9) + padLeft("vs i8", 7) + padLeft("vs f32", 8))
        for (name, shape, models) in layers {
            var medians: [String: Double] = [:]
            for (dtype, imported) in models {
                let bytes = serializeEQM(imported.graph, weights: imported.weights)
                if let directory = args.value("--dir") {
                    try Platform.writeFileAtomically(directory + "/" + name + "-" + dtype + ".eqm", bytes)
                }
                let interpreter = try Interpreter(model: try Model(bytes: bytes))
                let input = interpreter.input()
                // No exact zeros (a float model's batch-normed activations have none): the unmasked path.
                for i in 0..<input.count { input[i] = (Float(i % 97) + 0.5) / 24 - 2 }
                interpreter.invoke()  // every step once: the convolution's input is in place from here on
                let graph = interpreter.model.graph
                guard let step = interpreter.steps.firstIndex(where: { graph.nodes[$0.node].name == "conv" }) else {
                    throw EdgeQError(.invalidModel, "no layer 'conv' in the " + dtype + " model")
                }
                for _ in 0..<warmup { interpreter.invoke(step: step) }
                var times: [Double] = []
                for _ in 0..<runs {
                    let start = Platform.nanoseconds()
                    interpreter.invoke(step: step)
                    times.append(Double(Platform.nanoseconds() - start) / 1e6)
                }
                let ms = median(times)
                medians[dtype] = ms
                func ratio(_ other: String) -> String { medians[other].map { fixed($0 / ms, 2) + "x" } ?? "" }
                Platform.print(padRight(name + " " + shape, 26) + padRight(dtype, 10)
                    + padRight(interpreter.steps[step].kernel, 24) + padLeft(fixed(ms, 3), 10)
                    + padLeft(fixed(times.min()!, 3), 9)
                    + padLeft(fixed(Double(interpreter.steps[step].macs) / ms / 1e6, 1), 9)
                    + padLeft(dtype == "i8" ? "" : ratio("i8"), 7) + padLeft(dtype == "f32" ? "" : ratio("f32"), 8))
            }
        }
    })
