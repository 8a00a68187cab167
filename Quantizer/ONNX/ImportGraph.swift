import EdgeQ

/// The imported graph before packing: EdgeQ operators on activations that still have their ONNX (NCHW)
/// shapes, with weights still as ONNX-ordered floats, so that the rewrites (activation patterns, BatchNorm
/// folding, fusion into the producer) can edit them. `emit` then lays activations out as NHWC, packs the
/// weights and drops dead nodes.
struct ImportGraph {
    struct Tensor {
        var name: String
        /// ONNX shape with batch 1.
        var dims: [Int]
    }

    /// A constant operand b of add or mul, already in EdgeQ form: one value per channel with shape
    /// [1, ..., 1, C], or the whole tensor in channels-last order.
    struct Operand {
        var shape: [Int]
        var values: [Float]

        /// The one value of an operand that is the same everywhere.
        var uniformValue: Float? {
            guard let first = values.first, values.allSatisfy({ $0 == first }) else { return nil }
            return first
        }
    }

    enum Op {
        /// weights OIHW, bias [Cout].
        case conv(Conv2DParams, weights: [Float], bias: [Float])
        /// ONNX Sign: only ever the input of a convolution that `binarize` turns into a binary one.
        case sign
        /// A convolution of sign(x) (groups 1) whose weights OIHW are ±α[o] per output channel (BINARY.md).
        case binaryConv(Conv2DParams, weights: [Float], bias: [Float])
        /// weights [M][K], bias [M].
        case fullyConnected(Activation, weights: [Float], bias: [Float])
        /// b is the second input, or `constant`.
        case add(Activation, constant: Operand?)
        case mul(constant: Operand?)
        /// x * scale[c] + shift[c]: a BatchNormalization that could not be folded into a convolution.
        case scaleShift(scale: [Float], shift: [Float])
        case concat
        case slice(start: Int, end: Int)
        case globalAveragePool
        case activation(Activation)
        case reshape
    }

    struct Node {
        var name: String
        var op: Op
        var inputs: [Int]
        var output: Int
        var isRemoved = false
    }

    var tensors: [Tensor] = []
    /// In execution order: the importer appends them in ONNX's topological order and rewrites keep it.
    var nodes: [Node] = []
    var inputs: [Int] = []
    var outputs: [Int] = []

    mutating func addTensor(name: String, dims: [Int]) -> Int {
        tensors.append(Tensor(name: name, dims: dims))
        return tensors.count - 1
    }

    /// Appends a node and its new output tensor; returns the tensor.
    mutating func addNode(name: String, op: Op, inputs: [Int], outputName: String, dims: [Int]) -> Int {
        let output = addTensor(name: outputName, dims: dims)
        nodes.append(Node(name: name, op: op, inputs: inputs, output: output))
        return output
    }
}

/// EdgeQ's layout of an activation of ONNX shape `dims`: NCHW → NHWC for rank 4, others unchanged (their
/// last axis is the channel axis). The same permutation applies to strides.
func channelsLast(_ dims: [Int]) -> [Int] {
    dims.count == 4 ? [dims[0], dims[2], dims[3], dims[1]] : dims
}

/// The ONNX axis that becomes EdgeQ's channel (last) axis.
func channelAxis(rank: Int) -> Int {
    rank == 4 ? 1 : rank - 1
}

// MARK: Rewrites

extension ImportGraph {
    /// Pattern rewrites, then merges into producers. A tensor is merged away only when its one consumer is
    /// the node that absorbs it (graph outputs count as a consumer, so they are never merged away).
    mutating func fuse() {
        var uses = [Int](repeating: 0, count: tensors.count)
        for node in nodes { for input in node.inputs { uses[input] += 1 } }
        for output in outputs { uses[output] += 1 }
        var producer = [Int?](repeating: nil, count: tensors.count)
        for (index, node) in nodes.enumerated() { producer[node.output] = index }

        /// The node producing `tensor` when the caller is its only consumer.
        func soleProducer(_ tensor: Int) -> Int? { uses[tensor] == 1 ? producer[tensor] : nil }

        // Activation patterns first: fusion into producers would otherwise split them up.
        for index in nodes.indices {
            guard case .mul(let constant) = nodes[index].op else { continue }
            if let constant {
                matchHardSigmoid(at: index, scale: constant, soleProducer)
            } else if let (x, gate) = matchHardSwish(at: index, soleProducer) {
                uses[x] -= 1  // x fed both the hard-sigmoid and the mul; now only the hard-swish
                nodes[gate].isRemoved = true
            }
        }

        for index in nodes.indices where !nodes[index].isRemoved {
            guard let source = soleProducer(nodes[index].inputs[0]), mergeIntoProducer(index, source) else { continue }
            nodes[source].output = nodes[index].output
            producer[nodes[index].output] = source
            nodes[index].isRemoved = true
        }
    }

    /// `clip(x + s, 0, m) * r` with m·r = 1 (torch's `relu6(x + 3) / 6`) → hardSigmoid(a: r, b: s·r) at `index`.
    private mutating func matchHardSigmoid(at index: Int, scale: Operand, _ soleProducer: (Int) -> Int?) {
        guard let r = scale.uniformValue,
            let clipNode = soleProducer(nodes[index].inputs[0]),
            case .activation(let clip) = nodes[clipNode].op, clip.kind == .clip, clip.a == 0,
            abs(clip.b * r - 1) <= 1e-6,
            let addNode = soleProducer(nodes[clipNode].inputs[0]),
            case .add(let addActivation, let offset?) = nodes[addNode].op, addActivation == .none,
            let s = offset.uniformValue
        else { return }
        nodes[index].op = .activation(Activation(.hardSigmoid, r, s * r))
        nodes[index].inputs = nodes[addNode].inputs
        nodes[clipNode].isRemoved = true
        nodes[addNode].isRemoved = true
    }

    /// `x * hardSigmoid(x)` → hardSwish at `index`; returns x and the hard-sigmoid node it replaced.
    private mutating func matchHardSwish(at index: Int, _ soleProducer: (Int) -> Int?) -> (Int, Int)? {
        let operands = nodes[index].inputs
        for (x, gate) in [(operands[0], operands[1]), (operands[1], operands[0])] {
            guard let gateNode = soleProducer(gate), nodes[gateNode].inputs == [x],
                case .activation(let sigmoid) = nodes[gateNode].op, sigmoid.kind == .hardSigmoid
            else { continue }
            nodes[index].op = .activation(Activation(.hardSwish, sigmoid.a, sigmoid.b))
            nodes[index].inputs = [x]
            return (x, gateNode)
        }
        return nil
    }

    /// Folds node `index` (a scale-shift or an activation) into `source`, the only producer it reads; false
    /// if the pair does not merge.
    private mutating func mergeIntoProducer(_ index: Int, _ source: Int) -> Bool {
        switch (nodes[index].op, nodes[source].op) {
        case (.scaleShift(let scale, let shift), .conv(let params, var weights, var bias))
        where params.activation == .none:
            // Scaling a channel's weights ±α by one factor keeps them ±α' (the two products round alike), so a
            // batch norm after a binary convolution folds before `binarize` recognizes it.
            let perChannel = weights.count / bias.count
            for channel in bias.indices {
                for k in (channel * perChannel)..<((channel + 1) * perChannel) { weights[k] *= scale[channel] }
                bias[channel] = bias[channel] * scale[channel] + shift[channel]
            }
            nodes[source].op = .conv(params, weights: weights, bias: bias)
        case (.activation(let activation), .conv(var params, let weights, let bias)) where params.activation == .none:
            params.activation = activation
            nodes[source].op = .conv(params, weights: weights, bias: bias)
        case (.activation(let activation), .fullyConnected(.none, let weights, let bias)):
            nodes[source].op = .fullyConnected(activation, weights: weights, bias: bias)
        case (.activation(let activation), .add(.none, let constant)):
            nodes[source].op = .add(activation, constant: constant)
        default:
            return false
        }
        return true
    }
}

// MARK: Binary convolutions

extension ImportGraph {
    /// `Sign → Conv` (groups 1) whose weights take only the values ±α[o] in each output channel o becomes one
    /// binary convolution of Sign's input (Kernels/Binary/BINARY.md); runs after `fuse`, so a folded batch
    /// norm and a fused activation come along. A Sign still used by anything else is unsupported.
    mutating func binarize() throws(EdgeQError) {
        var producer = [Int?](repeating: nil, count: tensors.count)
        for (index, node) in nodes.enumerated() where !node.isRemoved { producer[node.output] = index }
        for index in nodes.indices where !nodes[index].isRemoved {
            guard case .conv(let params, let weights, let bias) = nodes[index].op, params.groups == 1,
                let source = producer[nodes[index].inputs[0]], case .sign = nodes[source].op,
                Self.isBinary(weights, outputChannels: bias.count)
            else { continue }
            nodes[index].op = .binaryConv(params, weights: weights, bias: bias)
            nodes[index].inputs = nodes[source].inputs
        }
        var used = Set(outputs)
        for node in nodes where !node.isRemoved { used.formUnion(node.inputs) }
        for node in nodes where !node.isRemoved && used.contains(node.output) {
            guard case .sign = node.op else { continue }
            throw EdgeQError(
                .unsupported,
                "Sign node '\(node.name)' feeds something other than a convolution (group 1) whose weights are "
                    + "±α per output channel; EdgeQ runs Sign only as the input of such a binary convolution")
        }
    }

    /// Every weight of output channel o has the same magnitude α[o] (0 included: an all-zero channel).
    static func isBinary(_ weights: [Float], outputChannels: Int) -> Bool {
        let perChannel = weights.count / outputChannels
        return (0..<outputChannels).allSatisfy { o in
            let channel = weights[(o * perChannel)..<((o + 1) * perChannel)]
            let alpha = abs(channel.first!)
            return alpha.isFinite && channel.allSatisfy { abs($0) == alpha }
        }
    }
}

// MARK: Emission

extension ImportGraph {
    /// The EdgeQ graph: live nodes only, NHWC activations, packed weights. With a quantization plan, the nodes
    /// it marks run in int8 (weights quantized and packed for the int8 kernels) and quantize / dequantize
    /// nodes join int8 and float32 tensors. With `packBinaryActivations`, binary convolutions that feed only
    /// binary convolutions pass them bit-packed activations (`bitPackedBinaryOutputs`); the model computes the
    /// same bits, so calibration and measurements, which observe the float tensors, emit without.
    func emit(producer: String, quantization plan: QuantizationPlan? = nil, packBinaryActivations: Bool = false)
        -> ImportedModel
    {
        var needed = [Bool](repeating: false, count: tensors.count)
        for output in outputs { needed[output] = true }
        var isLive = [Bool](repeating: false, count: nodes.count)
        for index in nodes.indices.reversed() where !nodes[index].isRemoved && needed[nodes[index].output] {
            isLive[index] = true
            for input in nodes[index].inputs { needed[input] = true }
        }
        let packed = packBinaryActivations ? bitPackedBinaryOutputs(isLive: isLive, plan: plan) : [:]
        // Bit-packed EdgeQ tensors, by import-graph tensor: a packed output and the output of its skipped center.
        var asPacked = [Int](repeating: -1, count: tensors.count)

        var builder = GraphBuilder(producer: producer)
        // Each import-graph tensor as an EdgeQ tensor in float32 and, once needed, in int8.
        var asFloat = [Int](repeating: -1, count: tensors.count)
        var asInt8 = [Int](repeating: -1, count: tensors.count)
        for input in inputs {
            asFloat[input] = builder.addInput(name: tensors[input].name, shape: channelsLast(tensors[input].dims))
        }
        /// Tensor `t` in the representation a consumer needs, converting on first request.
        func value(_ t: Int, int8: Bool) -> Int {
            if int8 && asInt8[t] < 0 {
                let quant = plan!.quantization[t]!
                asInt8[t] = builder.addActivation(
                    name: tensors[t].name + ":int8", shape: channelsLast(tensors[t].dims), dtype: .int8, quant: quant)
                builder.addNode(name: tensors[t].name + ":quantize", op: .quantize, inputs: [asFloat[t]],
                                outputs: [asInt8[t]])
            } else if !int8 && asFloat[t] < 0 {
                asFloat[t] = builder.addActivation(name: tensors[t].name + ":float", shape: channelsLast(tensors[t].dims))
                builder.addNode(name: tensors[t].name + ":dequantize", op: .dequantize, inputs: [asInt8[t]],
                                outputs: [asFloat[t]])
            }
            return int8 ? asInt8[t] : asFloat[t]
        }
        for (index, node) in nodes.enumerated() where isLive[index] {
            let output = tensors[node.output]
            let int8 = plan?.isInt8[index] ?? false
            if let center = packed.values.first(where: { $0.centerNode == index }) {
                asPacked[node.output] = asPacked[nodes[center.producer].output]  // folded into the thresholds
                continue
            }
            // The squeeze-excite gate of an int8 channel multiply stays float32; binary convolutions read bits
            // when there are.
            var operands = node.inputs.enumerated().map { position, t in
                if case .binaryConv = node.op, position == 0, asPacked[t] >= 0 { return asPacked[t] }
                return value(t, int8: int8 && !(position == 1 && node.op.isChannelMultiply))
            }
            func constant(_ suffix: String, _ shape: [Int], _ layout: WeightLayout, _ values: [Float]) -> Int {
                builder.addConstant(name: node.name + "." + suffix, shape: shape, layout: layout, values: values)
            }
            func emit(_ op: Operator, _ inputs: [Int]) {
                let shape = channelsLast(output.dims)
                if int8 {
                    asInt8[node.output] = builder.addActivation(
                        name: output.name, shape: shape, dtype: .int8, quant: plan!.quantization[node.output]!)
                } else {
                    asFloat[node.output] = builder.addActivation(name: output.name, shape: shape)
                }
                builder.addNode(name: node.name, op: op, inputs: inputs,
                                outputs: [int8 ? asInt8[node.output] : asFloat[node.output]])
            }
            switch node.op {
            case .conv(let params, let weights, let bias):
                if int8 {
                    operands += Self.addInt8Weights(
                        &builder, node.name, params: params, weights: weights, bias: bias,
                        input: plan!.quantization[node.inputs[0]]!, perTensor: plan!.options.perTensorWeights)
                } else {
                    let (shape, layout, values, biasLayout, biasValues) = Self.packConv(params, weights, bias)
                    operands.append(constant("weight", shape, layout, values))
                    operands.append(constant("bias", [bias.count], biasLayout, biasValues))
                }
                emit(.conv2d(params), operands)
            case .binaryConv(let params, let weights, let bias):
                operands += Self.addBinaryWeights(
                    &builder, node.name, params: params, weights: weights, bias: bias,
                    thresholds: packed[index]?.thresholds)
                guard packed[index] != nil else {
                    emit(.binaryConv2d(params), operands)
                    break
                }
                asPacked[node.output] = builder.addActivation(
                    name: output.name, shape: channelsLast(output.dims), dtype: .binary)
                builder.addNode(name: node.name, op: .binaryConv2d(params), inputs: operands,
                                outputs: [asPacked[node.output]])
            case .sign:
                preconditionFailure("binarize leaves no Sign in use")
            case .fullyConnected(let activation, let weights, let bias):
                let k = weights.count / bias.count
                if int8 {
                    operands += Self.addInt8Weights(
                        &builder, node.name, params: Conv2DParams(kernelHeight: 1, kernelWidth: 1), weights: weights,
                        bias: bias, input: plan!.quantization[node.inputs[0]]!, perTensor: plan!.options.perTensorWeights)
                } else {
                    operands.append(
                        constant(
                            "weight", [bias.count, k], .gemmPacked16,
                            packGEMM16(ohwi: weights, outputChannels: bias.count, reductionSize: k)))
                    operands.append(constant("bias", [bias.count], .biasPadded16, packBias16(bias)))
                }
                emit(.fullyConnected(activation), operands)
            case .add(let activation, let b):
                if let b { operands.append(constant("b", b.shape, .plain, b.values)) }
                emit(.add(activation), operands)
            case .mul(let b):
                if let b { operands.append(constant("b", b.shape, .plain, b.values)) }
                emit(.mul, operands)
            case .scaleShift(let scale, let shift):
                // EdgeQ has no per-channel affine operator: a mul then an add, each with a [.., C] operand.
                let shape = [Int](repeating: 1, count: output.dims.count - 1) + [scale.count]
                let scaleConstant = constant("scale", shape, .plain, scale)
                let shiftConstant = constant("shift", shape, .plain, shift)
                let scaled = builder.addActivation(name: output.name + ":scaled", shape: channelsLast(output.dims))
                builder.addNode(
                    name: node.name + ":scale", op: .mul, inputs: operands + [scaleConstant], outputs: [scaled])
                emit(.add(.none), [scaled, shiftConstant])
            case .concat: emit(.concat, operands)
            case .slice(let start, let end): emit(.slice(start: start, end: end), operands)
            case .globalAveragePool: emit(.globalAveragePool, operands)
            case .activation(let activation): emit(.activation(activation), operands)
            case .reshape: emit(.reshape(shape: channelsLast(output.dims)), operands)
            }
        }
        for output in outputs { builder.addOutput(value(output, int8: false)) }
        return builder.model
    }

    /// A convolution's weights as OHWI [Cout][KH][KW][Cin/groups] (ONNX's OIHW transposed), and whether it is
    /// depthwise (groups == Cin == Cout).
    private static func ohwiWeights(_ params: Conv2DParams, _ weights: [Float], outputChannels: Int)
        -> (ohwi: [Float], depthwise: Bool)
    {
        let kh = params.kernelHeight
        let kw = params.kernelWidth
        let inputsPerGroup = weights.count / (outputChannels * kh * kw)
        let inputChannels = inputsPerGroup * params.groups
        if params.groups > 1 && params.groups == inputChannels && params.groups == outputChannels {
            return (weights, true)  // OIHW with I = 1 is already OHWI.
        }
        let ohwi = stridedGather(
            weights, dims: [outputChannels, kh, kw, inputsPerGroup],
            strides: [inputsPerGroup * kh * kw, kw, 1, kh * kw])
        return (ohwi, false)
    }

    /// A convolution's weight and bias in the layout its kind of kernel reads (see WeightPacking.swift):
    /// logical shape, layout and stored values of the weight, then the bias's layout and values.
    private static func packConv(_ params: Conv2DParams, _ weights: [Float], _ bias: [Float])
        -> ([Int], WeightLayout, [Float], WeightLayout, [Float])
    {
        let outputChannels = bias.count
        let (kh, kw) = (params.kernelHeight, params.kernelWidth)
        let (ohwi, depthwise) = ohwiWeights(params, weights, outputChannels: outputChannels)
        if depthwise {
            let hwc = packDepthwiseHWC(ohwi: ohwi, channels: outputChannels, kernelHeight: kh, kernelWidth: kw)
            return ([outputChannels, kh, kw], .depthwiseHWC, hwc, .plain, bias)
        }
        let k = ohwi.count / outputChannels
        if params.groups == 1 {
            return (
                [outputChannels, k], .gemmPacked16,
                packGEMM16(ohwi: ohwi, outputChannels: outputChannels, reductionSize: k),
                .biasPadded16, packBias16(bias)
            )
        }
        return ([outputChannels, kh, kw, k / (kh * kw)], .plain, ohwi, .plain, bias)
    }

    /// The sign bits (binaryPacked64), multiplier α[o] and bias of a binary convolution whose OIHW weights are
    /// ±α[o]; returns the three constants' tensors. With `thresholds` (a bit-packed output: int32 [3, Cout],
    /// direction, lower, upper) the signs and the thresholds instead.
    static func addBinaryWeights(
        _ builder: inout GraphBuilder, _ name: String, params: Conv2DParams, weights: [Float], bias: [Float],
        thresholds: [Int32]? = nil
    ) -> [Int] {
        let outputChannels = bias.count
        let (ohwi, _) = ohwiWeights(params, weights, outputChannels: outputChannels)
        let taps = params.kernelHeight * params.kernelWidth
        let perChannel = ohwi.count / outputChannels
        let packed = packBinaryWeights(
            signs: ohwi.map { $0 < 0 ? -1 : 1 }, outputChannels: outputChannels, taps: taps,
            inputChannels: perChannel / taps)
        let signs = packed.withUnsafeBytes {
            builder.addConstant(
                name: name + ".weight", dtype: .binary,
                shape: [outputChannels, params.kernelHeight, params.kernelWidth, perChannel / taps],
                layout: .binaryPacked64, bytes: $0)
        }
        if let thresholds {
            return [signs, thresholds.withUnsafeBytes {
                builder.addConstant(name: name + ".thresholds", dtype: .int32, shape: [3, outputChannels], bytes: $0)
            }]
        }
        let alpha = (0..<outputChannels).map { abs(ohwi[$0 * perChannel]) }
        return [
            signs, builder.addConstant(name: name + ".multiplier", shape: [outputChannels], values: alpha),
            builder.addConstant(name: name + ".bias", shape: [outputChannels], values: bias),
        ]
    }

    /// The int8 weight and folded int32 bias of a convolution (groups 1 or depthwise) or fully connected layer
    /// reading an input quantized as `input` (QUANTIZATION.md); returns the two constants' tensors.
    static func addInt8Weights(
        _ builder: inout GraphBuilder, _ name: String, params: Conv2DParams, weights: [Float], bias: [Float],
        input: QuantParams, perTensor: Bool
    ) -> [Int] {
        let outputChannels = bias.count
        let (kh, kw) = (params.kernelHeight, params.kernelWidth)
        let (ohwi, depthwise) = ohwiWeights(params, weights, outputChannels: outputChannels)
        let k = ohwi.count / outputChannels
        let (q, scales) = quantizeWeights(ohwi, rows: outputChannels, perTensor: perTensor)
        var folded = foldI8Bias(
            bias: quantizeBias(bias, inputScale: input.scales[0], weightScales: scales), ohwi: q,
            outputChannels: outputChannels, reductionSize: k, inputZeroPoint: input.zeroPoints[0])
        let quant = QuantParams(
            scales: scales, zeroPoints: [Int32](repeating: 0, count: outputChannels), axis: 0)
        let packed: [Int8]
        let shape: [Int]
        let layout: WeightLayout
        let biasLayout: WeightLayout
        if depthwise {
            packed = packDepthwiseHWCI8(ohwi: q, channels: outputChannels, kernelHeight: kh, kernelWidth: kw)
            (shape, layout, biasLayout) = ([outputChannels, kh, kw], .depthwiseHWC, .plain)
        } else {
            packed = packGEMMI8C4(ohwi: q, outputChannels: outputChannels, reductionSize: k)
            (shape, layout, biasLayout) = ([outputChannels, k], .gemmI8C4, .biasPadded16)
            folded += [Int32](repeating: 0, count: (16 - outputChannels % 16) % 16)
        }
        let weight = packed.withUnsafeBytes {
            builder.addConstant(name: name + ".weight", dtype: .int8, shape: shape, layout: layout, quant: quant,
                                bytes: $0)
        }
        let foldedBias = folded.withUnsafeBytes {
            builder.addConstant(name: name + ".bias", dtype: .int32, shape: [outputChannels], layout: biasLayout,
                                bytes: $0)
        }
        return [weight, foldedBias]
    }
}

// MARK: Bit-packed activations

/// A binary convolution that writes its output bit-packed (Kernels/Binary/BINARY.md).
struct BitPackedOutput {
    /// The binary convolution and, when its consumers read it through one, the skipped center node x − t.
    var producer: Int
    var centerNode: Int?
    /// int32 [3, Cout]: direction, lower, upper per output channel.
    var thresholds: [Int32]
}

extension ImportGraph {
    /// Binary convolutions (writing float32 in `plan`) whose output feeds only binary convolutions, directly
    /// (ONNX Sign → Conv chains: t = 0) or through one add of a per-channel constant −t that nothing else reads
    /// (binarization's `NAME:center`), by node index. Their thresholds reproduce exactly the signs the
    /// consumers would take of the float32 output: sign(act(Float(acc)·α[o] + b[o]) + (−t[o])), evaluated with
    /// the float epilogue's and the add's own float operations for every acc in [−K, K]. An activation that
    /// makes that sign non-monotone in acc (hard-swish) leaves the layer float32.
    func bitPackedBinaryOutputs(isLive: [Bool], plan: QuantizationPlan?) -> [Int: BitPackedOutput] {
        var consumers = [[Int]](repeating: [], count: tensors.count)
        for (index, node) in nodes.enumerated() where isLive[index] {
            for input in node.inputs { consumers[input].append(index) }
        }
        func readByBinaryConvolutionsOnly(_ t: Int) -> Bool {
            !outputs.contains(t) && !consumers[t].isEmpty && consumers[t].allSatisfy { c in
                guard case .binaryConv = nodes[c].op else { return false }
                return nodes[c].inputs == [t]
            }
        }
        var result: [Int: BitPackedOutput] = [:]
        for (index, node) in nodes.enumerated() where isLive[index] && !(plan?.isInt8[index] ?? false) {
            guard case .binaryConv(let params, let weights, let bias) = node.op, !outputs.contains(node.output)
            else { continue }
            var shift = [Float](repeating: 0, count: bias.count)
            var centerNode: Int? = nil
            if !readByBinaryConvolutionsOnly(node.output) {
                guard consumers[node.output].count == 1, let c = consumers[node.output].first,
                    case .add(.none, let operand?) = nodes[c].op, nodes[c].inputs == [node.output],
                    operand.values.count == bias.count, operand.shape.dropLast().allSatisfy({ $0 == 1 }),
                    readByBinaryConvolutionsOnly(nodes[c].output)
                else { continue }
                (shift, centerNode) = (operand.values, c)
            }
            let perChannel = weights.count / bias.count
            let reduction = perChannel  // KH·KW·Cin: |acc| ≤ K
            var thresholds = [Int32](repeating: 0, count: 3 * bias.count)
            var monotone = true
            for o in bias.indices where monotone {
                let alpha = abs(weights[o * perChannel])
                guard let t = b1_output_thresholds(reduction: reduction, sign: { acc in
                    ref_b1_sign(params.activation.apply(Float(acc) * alpha + bias[o]) + shift[o])
                }) else {
                    monotone = false
                    continue
                }
                (thresholds[o], thresholds[bias.count + o], thresholds[2 * bias.count + o]) = t
            }
            if monotone {
                result[index] = BitPackedOutput(producer: index, centerNode: centerNode, thresholds: thresholds)
            }
        }
        return result
    }
}

extension ImportGraph.Op {
    /// A multiply of two activations: in the models EdgeQ imports, x times a per-channel squeeze-excite gate.
    var isChannelMultiply: Bool {
        if case .mul(nil) = self { return true }
        return false
    }
}
