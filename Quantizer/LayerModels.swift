import EdgeQ
import EdgeQCalibration

/// One convolution layer as a model of its own in float32, int8 and binary, for `edgeq microbench`: built
/// through the importer's own rewrites and emission (packing, int8 quantization with a fixed range table,
/// Sign → Conv binarization), with fixed pseudo-random weights. The int8 model is quantize → int8 conv →
/// dequantize; the binary one reads and writes float32, as a binary layer between batch norms does,
/// "binary-i8" is the same binary layer reading and writing int8 with the int8 model's quantization, and
/// "binary-b1" the same layer inside a binary network, reading and writing bit-packed activations: a 1x1
/// binary layer feeds it and another reads it. The layer is the node named "conv" in every model.
/// Padding is kernel / 2 on every side (MobileNetV2's).
public func singleConvolutionModels(
    height: Int, width: Int, inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int
) -> [(dtype: String, model: ImportedModel)] {
    var state: UInt32 = 0x9E37_79B9
    func random() -> Float {  // xorshift32 in [-1, 1]
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        return Float(state % 20001) / 10000 - 1
    }
    let k = kernel * kernel * inputChannels
    let weights = (0..<outputChannels * k).map { _ in random() * (3 / Float(k)).squareRoot() }
    let bias = (0..<outputChannels).map { _ in random() * 0.1 }
    let pad = kernel / 2
    let params = Conv2DParams(
        kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride, strideWidth: stride, padTop: pad,
        padLeft: pad, padBottom: pad, padRight: pad)
    let outputDims = [
        1, outputChannels, (height + 2 * pad - kernel) / stride + 1, (width + 2 * pad - kernel) / stride + 1,
    ]
    /// XNOR-Net: α[o] = mean |W[o]|, weights α[o]·sign(W[o]).
    func xnor(_ weights: [Float], outputChannels: Int) -> [Float] {
        let k = weights.count / outputChannels
        var w = weights
        for o in 0..<outputChannels {
            let row = (o * k)..<((o + 1) * k)
            let alpha = weights[row].reduce(0) { $0 + abs($1) } / Float(k)
            for i in row { w[i] = weights[i] < 0 ? -alpha : alpha }
        }
        return w
    }
    /// Sign then a 1x1 binary convolution of `channels` channels with pseudo-random weights.
    func binaryPointwise(_ g: inout ImportGraph, _ name: String, _ x: Int, channels: Int) -> Int {
        let dims = g.tensors[x].dims
        let w = (0..<channels * dims[1]).map { _ in random() }
        let sign = g.addNode(name: name + ":sign", op: .sign, inputs: [x], outputName: name + ":sign", dims: dims)
        return g.addNode(
            name: name, op: .conv(Conv2DParams(kernelHeight: 1, kernelWidth: 1),
                                  weights: xnor(w, outputChannels: channels), bias: bias.map { -$0 }),
            inputs: [sign], outputName: name + ":y", dims: [1, channels, dims[2], dims[3]])
    }
    func graph(binary: Bool, inNetwork: Bool = false) -> ImportGraph {
        var g = ImportGraph()
        var x = g.addTensor(name: "x", dims: [1, inputChannels, height, width])
        g.inputs = [x]
        if inNetwork { x = binaryPointwise(&g, "feed", x, channels: inputChannels) }
        if binary { x = g.addNode(name: "sign", op: .sign, inputs: [x], outputName: "sign", dims: g.tensors[x].dims) }
        let w = binary ? xnor(weights, outputChannels: outputChannels) : weights
        var y = g.addNode(name: "conv", op: .conv(params, weights: w, bias: bias), inputs: [x], outputName: "y",
                          dims: outputDims)
        if inNetwork { y = binaryPointwise(&g, "read", y, channels: outputChannels) }
        g.outputs = [y]
        return g
    }
    let producer = "edgeq microbench"
    let float = graph(binary: false)
    let ranges = ["x": ActivationRange(lo: -2, hi: 2), "y": ActivationRange(lo: -4, hi: 4)]
    let plan = QuantizationPlan(float, ranges: ranges, options: QuantizationOptions())
    var binary = graph(binary: true)
    try! binary.binarize()  // Sign feeds the ±α convolution only: nothing for binarize to refuse
    let binaryModel = binary.emit(producer: producer)
    var network = graph(binary: true, inNetwork: true)
    try! network.binarize()
    // quantize → the binary convolution on int8 → dequantize, with the binary model's constants.
    var int8Binary = binaryModel
    let nodes = binaryModel.graph.nodes
    func add(_ t: TensorInfo) -> Int {
        int8Binary.graph.tensors.append(t)
        return int8Binary.graph.tensors.count - 1
    }
    let (x, y) = (nodes[0].inputs[0], nodes[0].outputs[0])
    let xq = add(TensorInfo(name: "x:int8", dtype: .int8, quant: plan.quantization[0]!))
    let yq = add(TensorInfo(name: "y:int8", dtype: .int8, quant: plan.quantization[float.outputs[0]]!))
    int8Binary.graph.nodes = [
        Node(name: "x:quantize", op: .quantize, inputs: [x], outputs: [xq]),
        Node(name: nodes[0].name, op: nodes[0].op, inputs: [xq] + nodes[0].inputs.dropFirst(), outputs: [yq]),
        Node(name: "y:dequantize", op: .dequantize, inputs: [yq], outputs: [y]),
    ]
    return [
        ("f32", float.emit(producer: producer)),
        ("i8", float.emit(producer: producer, quantization: plan)),
        ("binary", binaryModel),
        ("binary-i8", int8Binary),
        ("binary-b1", network.emit(producer: producer, packBinaryActivations: true)),
    ]
}
