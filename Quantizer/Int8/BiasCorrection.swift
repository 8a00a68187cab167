import EdgeQ

// Empirical bias correction (Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
// Correction", 2019, section 4.2, the variant with data): quantization shifts the mean of a layer's output —
// clipped ranges cut one tail, rounded inputs feed weights whose errors do not cancel — and the shift of
// every channel adds up through the following layers. The shift is measured on the calibration images and
// subtracted from the layer's float bias before the bias is quantized:
//
//     bias[c] += (E[y_float[c]] − E[y_int8[c]]) / P(active[c])
//
// E is the mean over every pixel of every calibration image of the layer's output, in the float model and in
// the int8 model (dequantized). The outputs are taken after the fused activation, which flattens a shift where
// it clips: a pre-activation shift δ moves the post-activation mean by about δ · P(active), the fraction of
// float outputs strictly inside the activation's linear range (all of them for no activation, x > 0 for ReLU,
// a < x < b for a clip). Channels active less than `minimumActiveFraction` of the time give no usable estimate
// and keep their bias.
//
// Every layer's shift depends on the corrections of the layers before it (correcting all layers from one
// measurement corrects the upstream shift twice, once where it arises and once in every layer after it, and
// wrecks the model), so the layers are corrected one at a time in execution order, each measured in the int8
// model with all layers before it already corrected: one pass over the calibration images per layer, on
// inputs decoded once.

/// Channels whose float output is inside the activation's linear range less often than this keep their bias.
let minimumActiveFraction = 0.02

/// Per-channel sums of one layer's output over the calibration images.
struct ChannelSums {
    var sums: [Double]
    var active: [Double]
    var count = 0.0

    init(channels: Int) {
        sums = [Double](repeating: 0, count: channels)
        active = sums
    }

    /// Adds NHWC values; with `activation`, also counts the values in its linear range.
    mutating func add(_ values: [Float], countingActiveOf activation: Activation?) {
        let channels = sums.count
        for p in stride(from: 0, to: values.count, by: channels) {
            for c in 0..<channels {
                let v = values[p + c]
                sums[c] += Double(v)
                if let activation, activation.isLinear(at: v) { active[c] += 1 }
            }
        }
        count += Double(values.count / channels)
    }
}

extension Activation {
    /// Whether an output value lies strictly inside the part of the activation where it passes x unchanged.
    fileprivate func isLinear(at y: Float) -> Bool {
        switch kind {
        case .relu: return y > 0
        case .clip: return y > a && y < b
        default: return true
        }
    }
}

/// The int8 convolutions and fully connected layers of `plan`, each with its output tensor's name and its
/// fused activation.
func correctableLayers(_ graph: ImportGraph, _ plan: QuantizationPlan) -> [(node: Int, activation: Activation)] {
    graph.nodes.indices.compactMap { index in
        guard plan.isInt8[index], !graph.nodes[index].isRemoved else { return nil }
        switch graph.nodes[index].op {
        case .conv(let params, _, _): return (index, params.activation)
        case .fullyConnected(let activation, _, _): return (index, activation)
        default: return nil
        }
    }
}

/// Per-channel output sums of the tensors `names` (with `channels` channels) of `model` over `inputs`.
func layerSums(
    _ model: ImportedModel, _ names: [String], channels: [Int], activations: [Activation]?, inputs: [[Float]]
) throws(EdgeQError) -> [ChannelSums] {
    var sums = channels.map { ChannelSums(channels: $0) }
    try observeTensors(model, names, inputs: inputs) { i, values in
        sums[i].add(values, countingActiveOf: activations?[i])
    }
    return sums
}

/// Runs `model` on each of `inputs` and hands `body` the values (NHWC, real) of each tensor of `names`, by its
/// position in `names`.
func observeTensors(
    _ model: ImportedModel, _ names: [String], inputs: [[Float]], _ body: (Int, [Float]) -> Void
) throws(EdgeQError) {
    let observed = try Model(bytes: serializeEQM(model.graph, weights: model.weights)).observingEveryActivation()
    let interpreter = try Interpreter(model: observed)
    let tensors = names.map { name in observed.graph.tensors.firstIndex { $0.name == name && !$0.isConstant }! }
    for input in inputs {
        interpreter.run(input)
        for (i, t) in tensors.enumerated() { body(i, interpreter.values(of: t)) }
    }
}

extension ImportGraph {
    /// Corrects the float biases of the int8 layers of `plan` so that the int8 model's per-channel output means
    /// match the float model's on the calibration images (see the top of this file).
    mutating func correctBiases(
        plan: QuantizationPlan, producer: String, calibration: CalibrationInputs,
        progress: (String, Int, Int) -> Void
    ) throws(EdgeQError) {
        let layers = correctableLayers(self, plan)
        let names = layers.map { tensors[nodes[$0.node].output].name }
        let channels = layers.map { layer in
            let dims = tensors[nodes[layer.node].output].dims
            return dims[channelAxis(rank: dims.count)]
        }
        let inputs = try calibration.inputs()
        let float = try layerSums(
            emit(producer: producer), names, channels: channels, activations: layers.map(\.activation),
            inputs: inputs)
        for (i, layer) in layers.enumerated() {
            let quantized = try layerSums(
                emit(producer: producer, quantization: plan), [names[i]], channels: [channels[i]], activations: nil,
                inputs: inputs)[0]
            let shift = float[i].sums.indices.map { c -> Float in
                let active = float[i].active[c]
                guard active >= minimumActiveFraction * float[i].count else { return 0 }
                return Float((float[i].sums[c] - quantized.sums[c]) / active)
            }
            nodes[layer.node].op.addToBias(shift)
            progress("bias correction", i + 1, layers.count)
        }
    }
}

extension ImportGraph.Op {
    fileprivate mutating func addToBias(_ shift: [Float]) {
        switch self {
        case .conv(let params, let weights, var bias):
            for c in bias.indices { bias[c] += shift[c] }
            self = .conv(params, weights: weights, bias: bias)
        case .fullyConnected(let activation, let weights, var bias):
            for c in bias.indices { bias[c] += shift[c] }
            self = .fullyConnected(activation, weights: weights, bias: bias)
        default:
            preconditionFailure("only convolutions and fully connected layers have a bias")
        }
    }
}
