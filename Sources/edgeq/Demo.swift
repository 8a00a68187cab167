import EdgeQ
import EdgeQCLI
import EdgeQQuantizer

/// `edgeq demo`: the whole pipeline on a fresh machine with nothing downloaded. It builds a small
/// MobileNet-style network with fixed pseudo-random weights (so its "classes" mean nothing), writes it as an
/// .eqm file, draws a 320x240 PPM picture, then inspects, runs (resize, crop, normalise, infer) and benchmarks.
let demo = Command(
    name: "demo", summary: "build a small model and an image, then inspect, run and bench them (no downloads)",
    help: """
        Usage: edgeq demo [--dir DIR]

        Writes DIR/demo.eqm (a MobileNet-style network: 3x3 stem, depthwise-separable blocks with ReLU6 and a
        residual, squeeze-excite with hard-sigmoid, global pool, 10-way classifier; fixed pseudo-random weights,
        so the predicted class is meaningless) and DIR/demo.ppm (a 320x240 synthetic picture), then runs
        'edgeq inspect', 'edgeq run' and 'edgeq bench' on them. DIR defaults to the current directory.
        For real models, see README.md: 'edgeq convert', 'edgeq run', 'edgeq eval'.
        """,
    run: { arguments throws(EdgeQError) in
        let args = try Arguments(arguments, options: ["--dir"], switches: [])
        let directory = args.value("--dir") ?? "."
        let modelPath = directory + "/demo.eqm"
        let imagePath = directory + "/demo.ppm"
        let model = demoModel()
        let bytes = serializeEQM(model.graph, weights: model.weights)
        try Platform.writeFileAtomically(modelPath, bytes)
        let image = demoImage(width: 320, height: 240)
        try Platform.writeFileAtomically(imagePath, image)
        Platform.print("wrote " + modelPath + " (" + String(bytes.count) + " bytes) and " + imagePath + "\n")
        let commands = runtimeCommands(loader: loadEQM)
        for step in [["inspect", modelPath], ["run", modelPath, imagePath, "--top", "3"],
                     ["bench", modelPath, "--runs", "10"]] {
            Platform.print("$ edgeq " + step.joined(separator: " "))
            guard edgeqMain(step, commands: commands) == 0 else {
                throw EdgeQError(.invalidInput, "demo step '" + step[0] + "' failed")
            }
            Platform.print("")
        }
    })

/// A 224x224 MobileNet-style network with weights from a fixed xorshift sequence, scaled so activations
/// stay in a sensible range.
func demoModel() -> ImportedModel {
    var state: UInt32 = 0x1234_5678
    func weights(_ count: Int, fanIn: Int) -> [Float] {
        let scale = (3.0 / Float(fanIn)).squareRoot()
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return (Float(state % 20001) / 10000 - 1) * scale
        }
    }
    var b = GraphBuilder(producer: "edgeq demo (fixed pseudo-random weights)")
    func layer(_ name: String, _ op: Operator, _ inputs: [Int]) -> Int {
        let output = b.addActivation(name: name, shape: [])
        b.addNode(name: name, op: op, inputs: inputs, outputs: [output])
        return output
    }
    func conv(_ name: String, _ x: Int, cin: Int, cout: Int, kernel: Int = 1, stride: Int = 1,
              activation: Activation = .relu6) -> Int {
        let k = kernel * kernel * cin
        let w = b.addConstant(name: name + ".weight", shape: [cout, k], layout: .gemmPacked16,
            values: packGEMM16(ohwi: weights(cout * k, fanIn: k), outputChannels: cout, reductionSize: k))
        let bias = b.addConstant(name: name + ".bias", shape: [cout], layout: .biasPadded16,
            values: packBias16(weights(cout, fanIn: 100)))
        let pad = kernel / 2
        return layer(name, .conv2d(Conv2DParams(kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride,
            strideWidth: stride, padTop: pad, padLeft: pad, padBottom: pad, padRight: pad, activation: activation)),
            [x, w, bias])
    }
    func depthwise(_ name: String, _ x: Int, channels: Int, stride: Int) -> Int {
        let w = b.addConstant(name: name + ".weight", shape: [channels, 3, 3], layout: .depthwiseHWC,
            values: weights(9 * channels, fanIn: 9))
        let bias = b.addConstant(name: name + ".bias", shape: [channels], values: weights(channels, fanIn: 100))
        return layer(name, .conv2d(Conv2DParams(kernelHeight: 3, kernelWidth: 3, strideHeight: stride,
            strideWidth: stride, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: channels,
            activation: .relu6)), [x, w, bias])
    }
    let input = b.addInput(name: "input", shape: [1, 224, 224, 3])
    var x = conv("stem", input, cin: 3, cout: 16, kernel: 3, stride: 2)
    x = depthwise("block1.dw", x, channels: 16, stride: 2)
    x = conv("block1.project", x, cin: 16, cout: 24, activation: .none)
    let expanded = conv("block2.expand", x, cin: 24, cout: 96)
    let dw = depthwise("block2.dw", expanded, channels: 96, stride: 1)
    let pooled = layer("block2.se.pool", .globalAveragePool, [dw])
    let squeezed = conv("block2.se.reduce", pooled, cin: 96, cout: 24, activation: .relu)
    let gate = conv("block2.se.expand", squeezed, cin: 24, cout: 96, activation: .hardSigmoid)
    let excited = layer("block2.se.scale", .mul, [dw, gate])
    let projected = conv("block2.project", excited, cin: 96, cout: 24, activation: .none)
    x = layer("block2.residual", .add(.none), [x, projected])
    x = conv("head", x, cin: 24, cout: 128, activation: .hardSwish)
    x = layer("pool", .globalAveragePool, [x])
    x = layer("flatten", .reshape(shape: [1, 128]), [x])
    let fcWeight = b.addConstant(name: "classifier.weight", shape: [10, 128], layout: .gemmPacked16,
        values: packGEMM16(ohwi: weights(1280, fanIn: 128), outputChannels: 10, reductionSize: 128))
    let fcBias = b.addConstant(name: "classifier.bias", shape: [10], layout: .biasPadded16,
        values: packBias16(weights(10, fanIn: 100)))
    b.addOutput(layer("classifier", .fullyConnected(.none), [x, fcWeight, fcBias]))
    return b.model
}

/// A binary PPM (P6) picture: a colour gradient with a bright disc, so the resize path has something to do.
func demoImage(width: Int, height: Int) -> [UInt8] {
    var bytes = Array(("P6\n" + String(width) + " " + String(height) + "\n255\n").utf8)
    for y in 0..<height {
        for x in 0..<width {
            let dx = x - width / 2
            let dy = y - height / 2
            let inDisc = dx * dx + dy * dy < (height / 4) * (height / 4)
            bytes.append(inDisc ? 250 : UInt8(x * 255 / width))
            bytes.append(inDisc ? 220 : UInt8(y * 255 / height))
            bytes.append(inDisc ? 40 : UInt8(128))
        }
    }
    return bytes
}
