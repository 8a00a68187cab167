/// Shape inference and structural validation of a loaded graph: every node's arity, operand dtypes and
/// shapes, weight shapes and layouts, and the order of definitions are checked here, once, before anything
/// runs, so kernels can trust their arguments.

public func inferShapes(_ graph: ModelGraph) throws(EdgeQError) -> [[Int]] {
    var shapes = graph.tensors.map { $0.shape }
    var defined = graph.tensors.map { $0.isConstant }
    for input in graph.inputs {
        let t = graph.tensors[input]
        guard !t.isConstant, t.dtype == .float32, t.shape.count == 4 || t.shape.count == 2, t.shape[0] == 1 else {
            throw EdgeQError(.invalidModel, "graph input '" + t.name + "' must be a float32 NHWC tensor with batch 1")
        }
        defined[input] = true
    }
    for node in graph.nodes {
        func fail(_ message: String) -> EdgeQError {
            EdgeQError(.invalidModel, "node '" + node.name + "' (" + node.op.name + "): " + message)
        }
        func operand(_ i: Int) -> TensorInfo { graph.tensors[node.inputs[i]] }
        func shape(_ i: Int) -> [Int] { shapes[node.inputs[i]] }
        // int8 layers: x int8 → int8 weights (one scale per output channel) and a folded int32 bias.
        let int8 = !node.inputs.isEmpty && graph.tensors[node.inputs[0]].dtype == .int8
        func expectConstant(_ i: Int, layout: WeightLayout, shape expected: [Int], what: String) throws(EdgeQError) {
            let t = operand(i)
            let dtype: DType = !int8 ? .float32 : what == "bias" ? .int32 : .int8
            let int8Layout = int8 && layout == .gemmPacked16 ? WeightLayout.gemmI8C4 : layout
            guard t.isConstant, t.dtype == dtype, t.layout == int8Layout, t.shape == expected else {
                throw fail(
                    what + " '" + t.name + "' must be a " + dtype.name + " " + int8Layout.name + " constant of shape "
                        + describe(expected) + ", found " + t.dtype.name + " " + t.layout.name + " "
                        + describe(t.shape))
            }
            let perChannel = t.quant.scales.count == expected[0] && t.quant.zeroPoints.allSatisfy { $0 == 0 }
            if int8 && what == "weights" && !perChannel {
                throw fail("int8 weights '" + t.name + "' need one scale per output channel and zero points 0")
            }
        }
        let arity: ClosedRange<Int>
        switch node.op {
        case .conv2d, .fullyConnected: arity = 3...3
        case .binaryConv2d: arity = 3...4  // 3 with a bit-packed output: thresholds instead of multiplier, bias
        case .add, .mul: arity = 2...2
        case .concat: arity = 1...1024
        default: arity = 1...1
        }
        guard arity.contains(node.inputs.count), node.outputs.count == 1 else {
            throw fail("has " + String(node.inputs.count) + " inputs and " + String(node.outputs.count) + " outputs")
        }
        let output = node.outputs[0]
        guard !defined[output] else {
            throw fail("output '" + graph.tensors[output].name + "' is already defined")
        }
        for (position, i) in node.inputs.enumerated() {
            guard defined[i] else {
                throw fail("input '" + graph.tensors[i].name + "' is used before it is computed")
            }
            let isWeight = position > 0 && (node.op.isWeighted)
            // Bit-packed activations feed binary convolutions only.
            let packedInput = position == 0 && node.op.isBinaryConv && graph.tensors[i].dtype == .binary
            let expected = packedInput ? .binary : node.op.inputDType(position, int8: int8)
            guard isWeight || graph.tensors[i].dtype == expected else {
                throw fail("input '" + graph.tensors[i].name + "' must be " + expected.name)
            }
            if expected == .int8 && !isWeight {
                try checkPerTensorQuantization(graph.tensors[i], fail)
            }
            guard isWeight || node.op.acceptsConstantOperand(at: position) || !graph.tensors[i].isConstant else {
                throw fail("input '" + graph.tensors[i].name + "' must not be a constant")
            }
        }
        let x = shape(0)
        var result: [Int]
        let out = graph.tensors[output]
        var outputDType = node.op.outputDType(int8: int8)
        switch node.op {
        case .conv2d(let p):
            guard x.count == 4 else { throw fail("input must be NHWC, has shape " + describe(x)) }
            let cin = x[3]
            let weights = operand(1).shape
            guard cin % p.groups == 0, weights.count >= 1 else {
                throw fail(String(cin) + " input channels do not divide into " + String(p.groups) + " groups")
            }
            let cout: Int
            if p.groups == 1 {
                cout = weights[0]
                try expectConstant(1, layout: .gemmPacked16, shape: [cout, p.kernelHeight * p.kernelWidth * cin],
                    what: "weights")
                try expectConstant(2, layout: .biasPadded16, shape: [cout], what: "bias")
            } else if p.groups == cin && weights.count == 3 {
                cout = cin
                try expectConstant(1, layout: .depthwiseHWC, shape: [cin, p.kernelHeight, p.kernelWidth], what: "weights")
                try expectConstant(2, layout: .plain, shape: [cout], what: "bias")
            } else {
                cout = weights[0]
                guard cout % p.groups == 0 else { throw fail("output channels not divisible by groups") }
                try expectConstant(1, layout: .plain, shape: [cout, p.kernelHeight, p.kernelWidth, cin / p.groups],
                    what: "weights")
                try expectConstant(2, layout: .plain, shape: [cout], what: "bias")
            }
            let g = ConvGeometry(p, input: x, outputChannels: cout)
            guard g.outputHeight >= 1, g.outputWidth >= 1 else {
                throw fail("kernel does not fit the " + describe(x) + " input")
            }
            result = [1, g.outputHeight, g.outputWidth, cout]
        case .binaryConv2d(let p):
            guard x.count == 4 else { throw fail("input must be NHWC, has shape " + describe(x)) }
            let cout = operand(1).shape.first ?? 0
            func expect(_ i: Int, _ dtype: DType, _ layout: WeightLayout, _ expected: [Int], _ what: String)
                throws(EdgeQError)
            {
                let t = operand(i)
                guard t.isConstant, t.dtype == dtype, t.layout == layout, t.shape == expected else {
                    throw fail(
                        what + " '" + t.name + "' must be a " + dtype.name + " " + layout.name + " constant of shape "
                            + describe(expected) + ", found " + t.dtype.name + " " + t.layout.name + " "
                            + describe(t.shape))
                }
            }
            try expect(1, .binary, .binaryPacked64, [cout, p.kernelHeight, p.kernelWidth, x[3]], "weights")
            let packedOutput = out.dtype == .binary
            guard node.inputs.count == (packedOutput ? 3 : 4) else {
                throw fail(packedOutput ? "a bit-packed output takes inputs x, weights, thresholds"
                                        : "takes inputs x, weights, multiplier, bias")
            }
            if packedOutput {
                try expect(2, .int32, .plain, [3, cout], "thresholds")
            } else {
                try expect(2, .float32, .plain, [cout], "multiplier")
                try expect(3, .float32, .plain, [cout], "bias")
            }
            let g = ConvGeometry(p, input: x, outputChannels: cout)
            guard g.outputHeight >= 1, g.outputWidth >= 1 else {
                throw fail("kernel does not fit the " + describe(x) + " input")
            }
            // The output dtype is the layer's choice: float32, int8 whose clamp holds the activation, or bit-packed
            // (the activation is in the thresholds).
            outputDType = out.dtype == .int8 || packedOutput ? out.dtype : .float32
            if outputDType == .int8 && ![.none, .relu, .clip].contains(p.activation.kind) {
                throw fail("an int8 output takes no activation but ReLU or Clip")
            }
            result = [1, g.outputHeight, g.outputWidth, cout]
        case .fullyConnected:
            guard (x.count == 2 || (x.count == 4 && x[1] == 1 && x[2] == 1)) else {
                throw fail("input must be [1,K] or [1,1,1,K], has shape " + describe(x))
            }
            let k = x[x.count - 1]
            let m = operand(1).shape.first ?? 0
            try expectConstant(1, layout: .gemmPacked16, shape: [m, k], what: "weights")
            try expectConstant(2, layout: .biasPadded16, shape: [m], what: "bias")
            result = [1, m]
        case .add, .mul:
            let b = shape(1)
            let broadcast = b.count == x.count && b.count >= 2 && b.last == x.last
                && b.dropLast().allSatisfy { $0 == 1 }
            guard b == x || broadcast else {
                throw fail("operand shapes " + describe(x) + " and " + describe(b) + " do not match")
            }
            result = x
        case .concat:
            result = x
            result[result.count - 1] = 0
            for i in 0..<node.inputs.count {
                let s = shape(i)
                guard s.count == x.count, s.dropLast() == x.dropLast() else {
                    throw fail("concat operands " + describe(x) + " and " + describe(s) + " differ outside channels")
                }
                result[result.count - 1] += s[s.count - 1]
            }
        case .slice(let start, let end):
            guard let c = x.last, end <= c else {
                throw fail("slice [" + String(start) + ", " + String(end) + ") exceeds " + describe(x))
            }
            result = x
            result[result.count - 1] = end - start
        case .globalAveragePool:
            guard x.count == 4 else { throw fail("input must be NHWC, has shape " + describe(x)) }
            result = [1, 1, 1, x[3]]
        case .activation:
            result = x
        case .quantize, .dequantize:
            result = x
        case .reshape(let newShape):
            guard newShape.reduce(1, *) == x.reduce(1, *), newShape.count == 2 || newShape.count == 4,
                newShape[0] == 1
            else {
                throw fail("cannot reshape " + describe(x) + " to " + describe(newShape))
            }
            result = newShape
        }
        guard !out.isConstant else { throw fail("output is a constant") }
        guard out.dtype == outputDType else {
            throw fail("output '" + out.name + "' must be " + outputDType.name + ", is " + out.dtype.name)
        }
        if outputDType == .int8 { try checkPerTensorQuantization(out, fail) }
        if int8 && node.op.isView && out.quant != operand(0).quant {
            throw fail("an int8 " + node.op.name + " must keep its input's scale and zero point")
        }
        if int8, node.op == .concat, node.inputs.contains(where: { graph.tensors[$0].quant != out.quant }) {
            throw fail("int8 concat operands must share the output's scale and zero point")
        }
        shapes[output] = result
        defined[output] = true
    }
    for output in graph.outputs where !defined[output] {
        throw EdgeQError(.invalidModel, "graph output '" + graph.tensors[output].name + "' is never computed")
    }
    return shapes
}

/// int8 activations carry one scale and one zero point in [-128, 127], with a positive, finite scale.
private func checkPerTensorQuantization(_ t: TensorInfo, _ fail: (String) -> EdgeQError) throws(EdgeQError) {
    guard t.quant.scales.count == 1, t.quant.zeroPoints.count == 1, t.quant.scales[0] > 0,
        t.quant.scales[0].isFinite, (-128...127).contains(t.quant.zeroPoints[0])
    else {
        throw fail("int8 tensor '" + t.name + "' needs one positive scale and a zero point in [-128, 127]")
    }
}

extension Operator {
    /// The dtype of activation input `position`, given whether the first input is int8.
    func inputDType(_ position: Int, int8: Bool) -> DType {
        switch self {
        case .quantize: return .float32
        case .dequantize: return .int8
        case .mul: return int8 && position == 0 ? .int8 : .float32  // int8 x, float32 squeeze-excite gate
        default: return int8 ? .int8 : .float32
        }
    }

    func outputDType(int8: Bool) -> DType {
        switch self {
        case .quantize: return .int8
        case .dequantize: return .float32
        default: return int8 ? .int8 : .float32
        }
    }

    var isBinaryConv: Bool {
        if case .binaryConv2d = self { return true }
        return false
    }

    /// Operators whose inputs after the first are weights (constants in a kernel layout).
    var isWeighted: Bool {
        switch self {
        case .conv2d, .fullyConnected, .binaryConv2d: return true
        default: return false
        }
    }

    /// Add and Mul take a constant second operand (a folded batch norm, a scale).
    func acceptsConstantOperand(at position: Int) -> Bool {
        switch self {
        case .add, .mul: return position == 1
        default: return false
        }
    }
}

extension ConvGeometry {
    public init(_ p: Conv2DParams, input: [Int], outputChannels: Int) {
        self.init(
            inputHeight: input[1], inputWidth: input[2], inputChannels: input[3], outputChannels: outputChannels,
            kernelHeight: p.kernelHeight, kernelWidth: p.kernelWidth, strideHeight: p.strideHeight,
            strideWidth: p.strideWidth, dilationHeight: p.dilationHeight, dilationWidth: p.dilationWidth,
            padTop: p.padTop, padLeft: p.padLeft, padBottom: p.padBottom, padRight: p.padRight, groups: p.groups)
    }
}

public func describe(_ shape: [Int]) -> String {
    var s = "["
    for (i, d) in shape.enumerated() { s += (i == 0 ? "" : ",") + String(d) }
    return s + "]"
}
