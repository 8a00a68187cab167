import EdgeQ

// Cross-layer equalization (Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
// Correction", 2019, section 4.1). For two convolutions joined by a positive-homogeneous activation f
// (f(x/s) = f(x)/s for s > 0: none or ReLU), scaling output channel i of the first by 1/s_i and input channel i
// of the second by s_i leaves the model's function unchanged:
//
//     W1[i] /= s_i, b1[i] /= s_i, W2[:, i] *= s_i,      s_i = sqrt(r1_i / r2_i)
//
// where r1_i = max |W1[i]| (output channel i of the first) and r2_i = max |W2[:, i]| (input channel i of the
// second). Afterwards both ranges are sqrt(r1_i · r2_i): channels with tiny weights next to channels with large
// ones (which per-tensor weight scales represent badly) are evened out, and so are the intermediate tensor's
// channel ranges, which share one activation scale.
//
// ReLU6 and other clips are not positive-homogeneous (clip(x/s, 0, 6) ≠ clip(x, 0, 6)/s), so pairs joined by them
// are left alone; the paper instead replaced ReLU6 by ReLU, which changes the float model. The pairs found are
// a first layer whose output feeds only the second, which is a convolution with groups 1 or a depthwise one.
// It runs on the float graph before calibration, so the ranges are measured on the equalized model.

extension ImportGraph {
    /// Equalizes every pair described above, each once, in execution order; returns how many pairs it scaled.
    mutating func equalizeCrossLayer() -> Int {
        var uses = [Int](repeating: 0, count: tensors.count)
        for node in nodes where !node.isRemoved { for input in node.inputs { uses[input] += 1 } }
        for output in outputs { uses[output] += 1 }
        var producer = [Int?](repeating: nil, count: tensors.count)
        for (index, node) in nodes.enumerated() where !node.isRemoved { producer[node.output] = index }

        var pairs = 0
        for second in nodes.indices where !nodes[second].isRemoved {
            guard case .conv(let params2, var weights2, let bias2) = nodes[second].op,
                uses[nodes[second].inputs[0]] == 1, let first = producer[nodes[second].inputs[0]],
                case .conv(let params1, var weights1, var bias1) = nodes[first].op,
                params1.activation.kind == .none || params1.activation.kind == .relu
            else { continue }
            let channels = bias1.count
            let depthwise = params2.groups == channels && params2.groups > 1
            guard params2.groups == 1 || depthwise else { continue }
            let perOutput1 = weights1.count / channels
            // W2 as [out][in][taps]: a depthwise one has one input channel per output channel.
            let taps = params2.kernelHeight * params2.kernelWidth
            let inputsPerOutput2 = depthwise ? 1 : channels
            /// Calls `body(i, k)` for every weight k of the second layer, with its input channel i.
            func forEachSecondWeight(_ body: (Int, Int) -> Void) {
                for o in 0..<bias2.count {
                    for j in 0..<inputsPerOutput2 {
                        for t in 0..<taps { body(depthwise ? o : j, (o * inputsPerOutput2 + j) * taps + t) }
                    }
                }
            }
            var range2 = [Float](repeating: 0, count: channels)
            forEachSecondWeight { i, k in range2[i] = max(range2[i], abs(weights2[k])) }
            var scales = [Float](repeating: 1, count: channels)
            for i in 0..<channels {
                let range1 = weights1[(i * perOutput1)..<((i + 1) * perOutput1)].reduce(0) { max($0, abs($1)) }
                if range1 > 0 && range2[i] > 0 { scales[i] = (range1 / range2[i]).squareRoot() }
            }
            for i in 0..<channels {
                for k in (i * perOutput1)..<((i + 1) * perOutput1) { weights1[k] /= scales[i] }
                bias1[i] /= scales[i]
            }
            forEachSecondWeight { i, k in weights2[k] *= scales[i] }
            nodes[first].op = .conv(params1, weights: weights1, bias: bias1)
            nodes[second].op = .conv(params2, weights: weights2, bias: bias2)
            pairs += 1
        }
        return pairs
    }
}
