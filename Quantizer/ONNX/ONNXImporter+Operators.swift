import EdgeQ

// One lowering per ONNX operator (or family). Errors thrown here are prefixed with the node by `lower`.

/// Convolution sizes beyond this are malformed for any edge model; the bound also keeps size arithmetic
/// far from overflow.
private let maxConvParameter = 1 << 16

extension ONNXImporter {
    /// Lowers one node; false if the operator is not one EdgeQ imports.
    mutating func lowerOperator(_ node: NodeContext) throws(EdgeQError) -> Bool {
        switch node.opType {
        case "Constant": try define(node, .constant(constantAttribute(node)))
        case "Identity", "Dropout": try lowerIdentity(node)
        case "Cast": try lowerCast(node)
        case "Shape": try lowerShape(node)
        case "Gather": try lowerGather(node)
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze": try lowerReshape(node)
        case "Concat": try lowerConcat(node)
        case "Slice": try lowerSlice(node)
        case "Split": try lowerSplit(node)
        case "Add", "Sub", "Mul", "Div": try lowerArithmetic(node)
        case "Conv": try lowerConv(node)
        case "Sign": try lowerSign(node)
        case "BatchNormalization": try lowerBatchNormalization(node)
        case "Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Clip": try lowerActivation(node)
        case "GlobalAveragePool", "ReduceMean": try lowerAveragePool(node)
        case "Gemm", "MatMul": try lowerFullyConnected(node)
        default: return false
        }
        return true
    }

    // MARK: Constants and aliases

    private func constantAttribute(_ node: NodeContext) throws(EdgeQError) -> ConstantTensor {
        if let tensor = try node.attribute("value", .tensor)?.t { return try ConstantTensor(decoding: tensor) }
        if let value = try node.float("value_float") { return ConstantTensor(dims: [], floats: [value]) }
        if let values = try node.attribute("value_floats", .floats)?.floats {
            return ConstantTensor(dims: [values.count], floats: values)
        }
        if let value = try node.attribute("value_int", .int)?.i { return ConstantTensor(dims: [], ints: [value]) }
        if let values = try node.attribute("value_ints", .ints)?.ints {
            return ConstantTensor(dims: [values.count], ints: values)
        }
        throw EdgeQError(.unsupported, "only tensor, float and int values are supported")
    }

    private mutating func lowerIdentity(_ node: NodeContext) throws(EdgeQError) {
        if node.opType == "Dropout" && node.node.outputs.count > 1 && !node.node.outputs[1].isEmpty {
            throw EdgeQError(.unsupported, "the mask output of Dropout is not supported")
        }
        try define(node, try input(node, 0))
    }

    private mutating func lowerCast(_ node: NodeContext) throws(EdgeQError) {
        guard let target = try node.int("to") else { throw EdgeQError(.invalidModel, "attribute 'to' is missing") }
        guard let type = ONNXDataType(rawValue: Int32(truncatingIfNeeded: target)) else {
            throw EdgeQError(.unsupported, "cast to data type \(target) is not supported")
        }
        switch try input(node, 0) {
        case .activation where type == .float:
            try define(node, try input(node, 0))
        case .activation:
            throw EdgeQError(.unsupported, "activations can only be cast to float")
        case .constant(let constant) where type.isFloatingPoint:
            try define(node, .constant(ConstantTensor(dims: constant.dims, floats: constant.floats)))
        case .constant(let constant):
            var ints: [Int64] = []
            if let values = constant.ints {
                ints = values
            } else {
                for value in constant.floats {
                    // Float(Int64.max) rounds up to 2^63, so the upper bound is exclusive.
                    guard value.isFinite && value >= -9.223372e18 && value < 9.223372e18 else {
                        throw EdgeQError(.invalidModel, "cannot cast \(value) to an integer")
                    }
                    ints.append(Int64(value))
                }
            }
            if type == .bool { ints = ints.map { $0 == 0 ? 0 : 1 } }
            try define(node, .constant(ConstantTensor(dims: constant.dims, ints: ints)))
        }
    }

    private mutating func lowerShape(_ node: NodeContext) throws(EdgeQError) {
        let dims = dims(of: try input(node, 0))
        let rank = dims.count
        func clamped(_ position: Int) -> Int { min(max(position < 0 ? position + rank : position, 0), rank) }
        let start = clamped(try node.int("start") ?? 0)
        let end = max(start, clamped(try node.int("end") ?? rank))
        let shape = dims[start..<end].map { Int64($0) }
        try define(node, .constant(ConstantTensor(dims: [shape.count], ints: shape)))
    }

    private mutating func lowerGather(_ node: NodeContext) throws(EdgeQError) {
        guard case .constant(let data) = try input(node, 0) else {
            throw EdgeQError(.unsupported, "Gather is only supported on constants (shape computations)")
        }
        let axis = try normalizedAxis(try node.int("axis") ?? 0, rank: data.dims.count)
        try define(node, .constant(try data.gathered(try constantInput(node, 1), axis: axis)))
    }

    // MARK: Shape-only operators

    private mutating func lowerReshape(_ node: NodeContext) throws(EdgeQError) {
        let data = try input(node, 0)
        let dims = dims(of: data)
        let newDims: [Int]
        switch node.opType {
        case "Flatten":
            let axis = try node.int("axis") ?? 1
            guard axis >= -dims.count && axis <= dims.count else {
                throw EdgeQError(.invalidModel, "axis \(axis) is out of range for rank \(dims.count)")
            }
            let split = axis < 0 ? axis + dims.count : axis
            newDims = [dims[..<split].reduce(1, *), dims[split...].reduce(1, *)]
        case "Reshape":
            guard let shape = try intsInput(node, 1) else { throw EdgeQError(.invalidModel, "input 1 is missing") }
            newDims = try reshapedDims(dims, to: shape, allowZero: try node.int("allowzero") == 1)
        case "Squeeze":
            // Axes are an attribute before opset 13 and an input from then on.
            if let axes = try intsAttributeOrInput(node, "axes", input: 1) {
                let squeezed = try Set(
                    axes.map { (axis) throws(EdgeQError) in try normalizedAxis(axis, rank: dims.count) })
                guard squeezed.allSatisfy({ dims[$0] == 1 }) else {
                    throw EdgeQError(.invalidModel, "cannot squeeze axes \(axes) of shape \(dims)")
                }
                newDims = dims.indices.filter { !squeezed.contains($0) }.map { dims[$0] }
            } else {
                newDims = dims.filter { $0 != 1 }
            }
        default:  // Unsqueeze
            guard let axes = try intsAttributeOrInput(node, "axes", input: 1) else {
                throw EdgeQError(.invalidModel, "axes are missing")
            }
            let rank = dims.count + axes.count
            let inserted = try Set(axes.map { (axis) throws(EdgeQError) in try normalizedAxis(axis, rank: rank) })
            guard inserted.count == axes.count else { throw EdgeQError(.invalidModel, "repeated axes \(axes)") }
            var remaining = dims.makeIterator()
            newDims = (0..<rank).map { inserted.contains($0) ? 1 : remaining.next() ?? 1 }
        }
        switch data {
        case .constant(let constant): try define(node, .constant(constant.reshaped(newDims)))
        case .activation(let tensor): try reshapeActivation(node, tensor, dims, to: newDims)
        }
    }

    /// Reshape's target shape: 0 copies the input dimension (unless allowzero), one -1 is inferred.
    private func reshapedDims(_ dims: [Int], to shape: [Int], allowZero: Bool) throws(EdgeQError) -> [Int] {
        let count = dims.reduce(1, *)
        var result: [Int] = []
        var inferredAxis: Int?
        for (axis, size) in shape.enumerated() {
            if size == -1 && inferredAxis == nil {
                inferredAxis = axis
                result.append(1)
            } else if size == 0 && !allowZero && axis < dims.count {
                result.append(dims[axis])
            } else {
                result.append(size)
            }
        }
        guard let known = checkedElementCount(result) else {
            throw EdgeQError(.invalidModel, "invalid reshape target \(shape)")
        }
        if let axis = inferredAxis, known > 0, count % known == 0 { result[axis] = count / known }
        guard checkedElementCount(result) == count else {
            throw EdgeQError(.invalidModel, "cannot reshape \(dims) to \(shape)")
        }
        return result
    }

    /// A reshape of an activation: free when it keeps EdgeQ's NHWC element order, an error when it does not.
    private mutating func reshapeActivation(_ node: NodeContext, _ tensor: Int, _ dims: [Int], to newDims: [Int])
        throws(EdgeQError)
    {
        if newDims == dims { return try define(node, .activation(tensor)) }
        /// NHWC and NCHW order agree when C = 1 or H·W = 1 (and trivially for other ranks, kept as they are).
        func keepsOrder(_ dims: [Int]) -> Bool { dims.count != 4 || dims[1] == 1 || dims[2] * dims[3] == 1 }
        guard keepsOrder(dims) && keepsOrder(newDims) else {
            throw EdgeQError(
                .unsupported,
                "reshaping \(dims) to \(newDims) reorders data in NHWC; "
                    + "only reshapes with H = W = 1 or C = 1 are supported"
            )
        }
        try addNode(node, .reshape, inputs: [tensor], dims: newDims)
    }

    // MARK: Channel operators

    private mutating func lowerConcat(_ node: NodeContext) throws(EdgeQError) {
        let parts = try node.node.inputs.indices.map { (index) throws(EdgeQError) in try input(node, index) }
        guard let first = parts.first else { throw EdgeQError(.invalidModel, "no inputs") }
        guard let axisAttribute = try node.int("axis") else {
            throw EdgeQError(.invalidModel, "attribute 'axis' is missing")
        }
        let rank = dims(of: first).count
        let axis = try normalizedAxis(axisAttribute, rank: rank)
        for part in parts {
            let partDims = dims(of: part)
            guard
                partDims.count == rank
                    && partDims.indices.allSatisfy({ $0 == axis || partDims[$0] == dims(of: first)[$0] })
            else {
                throw EdgeQError(
                    .invalidModel,
                    "inputs of shapes \(dims(of: first)) and \(partDims) do not concatenate on axis \(axis)")
            }
        }
        var constants: [ConstantTensor] = []
        var tensors: [Int] = []
        for part in parts {
            switch part {
            case .constant(let constant): constants.append(constant)
            case .activation(let tensor): tensors.append(tensor)
            }
        }
        if tensors.isEmpty {
            return try define(node, .constant(ConstantTensor.concatenated(constants, axis: axis)))
        }
        guard constants.isEmpty else {
            throw EdgeQError(.unsupported, "concatenating activations with constants is not supported")
        }
        guard axis == channelAxis(rank: rank) else {
            throw EdgeQError(
                .unsupported, "concatenation on axis \(axisAttribute) is not supported (only channels, axis 1)")
        }
        if tensors.count == 1 { return try define(node, first) }
        var outputDims = dims(of: first)
        outputDims[axis] = tensors.reduce(0) { $0 + graph.tensors[$1].dims[axis] }
        try addNode(node, .concat, inputs: tensors, dims: outputDims)
    }

    private mutating func lowerSlice(_ node: NodeContext) throws(EdgeQError) {
        let data = try input(node, 0)
        let dims = dims(of: data)
        guard let starts = try intsInput(node, 1), let ends = try intsInput(node, 2) else {
            throw EdgeQError(.invalidModel, "starts and ends are required")
        }
        let axes = try intsInput(node, 3) ?? Array(starts.indices)
        let steps = try intsInput(node, 4) ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count && axes.count == starts.count && steps.count == starts.count else {
            throw EdgeQError(.invalidModel, "starts, ends, axes and steps differ in length")
        }
        // The view each axis's slice describes: first element, count and step.
        var ranges = dims.map { (first: 0, count: $0, step: 1) }
        for index in starts.indices {
            let axis = try normalizedAxis(axes[index], rank: dims.count)
            guard steps[index] != 0 else { throw EdgeQError(.invalidModel, "step 0") }
            ranges[axis] = sliceRange(start: starts[index], end: ends[index], step: steps[index], length: dims[axis])
        }
        switch data {
        case .constant(let constant):
            let strides = contiguousStrides(dims)
            let offset = zip(ranges, strides).reduce(0) { $0 + $1.0.first * $1.1 }
            try define(
                node,
                .constant(
                    constant.strided(
                        dims: ranges.map(\.count), strides: zip(ranges, strides).map { $0.step * $1 }, offset: offset)))
        case .activation(let tensor):
            var channels: (start: Int, end: Int)?
            for (axis, range) in ranges.enumerated() where range.first != 0 || range.count != dims[axis] {
                guard range.step == 1 else {
                    throw EdgeQError(.unsupported, "slices with step \(range.step) are not supported")
                }
                guard axis == channelAxis(rank: dims.count) else {
                    throw EdgeQError(.unsupported, "slicing axis \(axis) is not supported (only channels, axis 1)")
                }
                channels = (range.first, range.first + range.count)
            }
            guard let (start, end) = channels else { return try define(node, data) }  // no-op slice
            try addChannelSlice(node, tensor, dims, start: start, end: end)
        }
    }

    /// ONNX Slice's index range on an axis of `length`: starts and ends clamp, negatives count from the end.
    private func sliceRange(start: Int, end: Int, step: Int, length: Int) -> (first: Int, count: Int, step: Int) {
        // A step of at least the length takes one element either way; clamping it keeps offsets small.
        let step = min(max(step, -max(length, 1)), max(length, 1))
        let from = start < 0 ? start + length : start
        let to = end < 0 ? end + length : end
        if step > 0 {
            let first = min(max(from, 0), length)
            let last = min(max(to, 0), length)
            return (first, last > first ? 1 + (last - first - 1) / step : 0, step)
        }
        let first = min(max(from, 0), length - 1)
        let last = min(max(to, -1), length - 1)
        return (first, first > last ? 1 + (first - last - 1) / -step : 0, step)
    }

    private mutating func addChannelSlice(
        _ node: NodeContext, _ tensor: Int, _ dims: [Int], start: Int, end: Int, output: Int = 0, name: String? = nil
    ) throws(EdgeQError) {
        guard end > start else { throw EdgeQError(.unsupported, "empty slices are not supported") }
        var sliced = dims
        sliced[channelAxis(rank: dims.count)] = end - start
        try addNode(node, .slice(start: start, end: end), inputs: [tensor], dims: sliced, output: output, name: name)
    }

    private mutating func lowerSplit(_ node: NodeContext) throws(EdgeQError) {
        let data = try input(node, 0)
        let dims = dims(of: data)
        let axis = try normalizedAxis(try node.int("axis") ?? 0, rank: dims.count)
        let outputs = node.node.outputs.count
        guard outputs >= 1, try node.int("num_outputs").map({ $0 == outputs }) ?? true else {
            throw EdgeQError(.invalidModel, "num_outputs does not match the \(outputs) outputs")
        }
        // Sizes: the 'split' attribute (before opset 13) or input, else equal parts (the last one smaller).
        let sizes: [Int]
        if let explicit = try intsAttributeOrInput(node, "split", input: 1) {
            sizes = explicit
        } else {
            let size = (dims[axis] + outputs - 1) / outputs
            sizes = (0..<outputs).map { min(size, max(dims[axis] - $0 * size, 0)) }
        }
        guard sizes.count == outputs, sizes.allSatisfy({ $0 >= 0 && $0 <= dims[axis] }),
            sizes.reduce(0, +) == dims[axis]
        else {
            throw EdgeQError(
                .invalidModel, "split sizes \(sizes) do not divide axis \(axis) of \(dims) into \(outputs) outputs")
        }
        var start = 0
        for (output, size) in sizes.enumerated() {
            defer { start += size }
            switch data {
            case .constant(let constant):
                var partDims = dims
                partDims[axis] = size
                let strides = contiguousStrides(dims)
                try define(
                    node, output: output,
                    .constant(constant.strided(dims: partDims, strides: strides, offset: start * strides[axis])))
            case .activation where size == dims[axis]:
                try define(node, output: output, data)
            case .activation(let tensor):
                guard axis == channelAxis(rank: dims.count) else {
                    throw EdgeQError(.unsupported, "splitting axis \(axis) is not supported (only channels, axis 1)")
                }
                try addChannelSlice(
                    node, tensor, dims, start: start, end: start + size, output: output, name: "\(node.name):\(output)")
            }
        }
    }

    // MARK: Elementwise arithmetic

    private mutating func lowerArithmetic(_ node: NodeContext) throws(EdgeQError) {
        let op = ConstantTensor.Arithmetic(rawValue: node.opType)!
        switch (try input(node, 0), try input(node, 1)) {
        case (.constant(let a), .constant(let b)):
            try define(node, .constant(try ConstantTensor.arithmetic(op, a, b)))
        case (.activation(let x), .constant(let b)):
            let dims = graph.tensors[x].dims
            switch op {
            case .add: try addNode(node, .add(.none, constant: try operand(b, for: dims)), inputs: [x], dims: dims)
            case .sub:
                try addNode(node, .add(.none, constant: try operand(b, for: dims, { -$0 })), inputs: [x], dims: dims)
            case .mul: try addNode(node, .mul(constant: try operand(b, for: dims)), inputs: [x], dims: dims)
            case .div: try addNode(node, .mul(constant: try operand(b, for: dims, { 1 / $0 })), inputs: [x], dims: dims)
            }
        case (.constant(let a), .activation(let x)):
            let dims = graph.tensors[x].dims
            switch op {
            case .add: try addNode(node, .add(.none, constant: try operand(a, for: dims)), inputs: [x], dims: dims)
            case .mul: try addNode(node, .mul(constant: try operand(a, for: dims)), inputs: [x], dims: dims)
            case .sub, .div:
                throw EdgeQError(.unsupported, "\(node.opType) of a constant by an activation is not supported")
            }
        case (.activation(let x), .activation(let y)):
            guard op == .add || op == .mul else {
                throw EdgeQError(
                    .unsupported, "\(node.opType) of two activations is not supported (only by a constant)")
            }
            let (xDims, yDims) = (graph.tensors[x].dims, graph.tensors[y].dims)
            /// `b` is one value per channel of `a` ([1, C, 1, 1]), which EdgeQ broadcasts over pixels.
            func isChannelVector(_ b: [Int], of a: [Int]) -> Bool {
                let axis = channelAxis(rank: a.count)
                return b.count == a.count && b.indices.allSatisfy { b[$0] == ($0 == axis ? a[axis] : 1) }
            }
            let inputs: [Int]
            if xDims == yDims || isChannelVector(yDims, of: xDims) {
                inputs = [x, y]
            } else if isChannelVector(xDims, of: yDims) {
                inputs = [y, x]
            } else {
                throw EdgeQError(
                    .unsupported,
                    "\(node.opType) of shapes \(xDims) and \(yDims) is not supported "
                        + "(same shape, or one value per channel)"
                )
            }
            let dims = graph.tensors[inputs[0]].dims
            try addNode(node, op == .add ? .add(.none, constant: nil) : .mul(constant: nil), inputs: inputs, dims: dims)
        }
    }

    /// A constant operand of add/mul on an activation of shape `dims`, in EdgeQ's form: one value per channel
    /// when it only varies along channels, else materialized in NHWC. `transform` applies to every value.
    private func operand(_ constant: ConstantTensor, for dims: [Int], _ transform: (Float) -> Float = { $0 })
        throws(EdgeQError) -> ImportGraph.Operand
    {
        guard broadcastDims(dims, constant.dims) == dims else {
            throw EdgeQError(
                .unsupported,
                "a constant of shape \(constant.dims) would broadcast the activation \(dims) to a larger shape")
        }
        let values = constant.floats.map(transform)
        let strides = broadcastStrides(constant.dims, to: dims)
        let axis = channelAxis(rank: dims.count)
        if strides.indices.allSatisfy({ $0 == axis || strides[$0] == 0 }) {
            return ImportGraph.Operand(
                shape: [Int](repeating: 1, count: dims.count - 1) + [dims[axis]],
                values: stridedGather(values, dims: [dims[axis]], strides: [strides[axis]]))
        }
        guard checkedElementCount(dims, limit: maxComputedElements) != nil else {
            throw EdgeQError(.unsupported, "a constant operand of shape \(dims) is too large")
        }
        return ImportGraph.Operand(
            shape: channelsLast(dims),
            values: stridedGather(values, dims: channelsLast(dims), strides: channelsLast(strides)))
    }

    // MARK: Convolution and friends

    private mutating func lowerConv(_ node: NodeContext) throws(EdgeQError) {
        let (x, dims) = try activationInput(node, 0)
        guard dims.count == 4 else {
            throw EdgeQError(.unsupported, "only 2-D convolutions are supported (input rank \(dims.count))")
        }
        let weight = try constantInput(node, 1)
        let weightName = node.node.inputs[1]
        guard weight.dims.count == 4, weight.dims.allSatisfy({ $0 >= 1 }) else {
            throw EdgeQError(
                .invalidModel, "weight '\(weightName)' has shape \(weight.dims), expected [Cout, Cin/group, KH, KW]")
        }
        let (outputChannels, inputsPerGroup, kh, kw) = (weight.dims[0], weight.dims[1], weight.dims[2], weight.dims[3])
        let group = try node.int("group") ?? 1
        guard group >= 1 && group <= dims[1] && inputsPerGroup * group == dims[1] && outputChannels % group == 0 else {
            throw EdgeQError(
                .invalidModel,
                "weight '\(weightName)' of shape \(weight.dims) with group \(group) does not fit "
                    + "input '\(node.node.inputs[0])' of \(dims[1]) channels"
            )
        }
        if let kernel = try node.ints("kernel_shape"), kernel != [kh, kw] {
            throw EdgeQError(
                .invalidModel, "kernel_shape \(kernel) does not match weight '\(weightName)' of shape \(weight.dims)")
        }
        let strides = try convPair(node, "strides")
        let dilations = try convPair(node, "dilations")
        let extent = [dilations[0] * (kh - 1) + 1, dilations[1] * (kw - 1) + 1]
        let pads = try convPads(node, size: [dims[2], dims[3]], strides: strides, extent: extent)
        let outputSize = try (0..<2).map { (axis) throws(EdgeQError) in
            let padded = [dims[2], dims[3]][axis] + pads[axis] + pads[axis + 2]
            guard padded >= extent[axis] else {
                throw EdgeQError(.invalidModel, "kernel extent \(extent) exceeds the padded input \(dims)")
            }
            return (padded - extent[axis]) / strides[axis] + 1
        }
        var bias = [Float](repeating: 0, count: outputChannels)
        if let given = try optionalConstantInput(node, 2) {
            guard given.count == outputChannels else {
                throw EdgeQError(
                    .invalidModel,
                    "bias '\(node.node.inputs[2])' has \(given.count) values for \(outputChannels) output channels")
            }
            bias = given.floats
        }
        let params = Conv2DParams(
            kernelHeight: kh, kernelWidth: kw, strideHeight: strides[0], strideWidth: strides[1],
            dilationHeight: dilations[0], dilationWidth: dilations[1], padTop: pads[0], padLeft: pads[1],
            padBottom: pads[2], padRight: pads[3], groups: group)
        try addNode(
            node, .conv(params, weights: weight.floats, bias: bias), inputs: [x],
            dims: [1, outputChannels, outputSize[0], outputSize[1]])
    }

    /// A two-value convolution attribute (strides, dilations), default [1, 1].
    private func convPair(_ node: NodeContext, _ name: String) throws(EdgeQError) -> [Int] {
        let values = try node.ints(name) ?? [1, 1]
        guard values.count == 2 && values.allSatisfy({ $0 >= 1 && $0 <= maxConvParameter }) else {
            throw EdgeQError(.invalidModel, "invalid \(name) \(values)")
        }
        return values
    }

    /// [top, left, bottom, right] from `pads` or `auto_pad`.
    private func convPads(_ node: NodeContext, size: [Int], strides: [Int], extent: [Int]) throws(EdgeQError) -> [Int] {
        let autoPad = try node.string("auto_pad") ?? "NOTSET"
        switch autoPad {
        case "NOTSET":
            let pads = try node.ints("pads") ?? [0, 0, 0, 0]
            guard pads.count == 4 && pads.allSatisfy({ $0 >= 0 && $0 <= maxConvParameter }) else {
                throw EdgeQError(.invalidModel, "invalid pads \(pads)")
            }
            return pads
        case "VALID":
            return [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            // Output = ceil(input / stride); the odd padding pixel goes after (UPPER) or before (LOWER).
            let totals = (0..<2).map { (axis: Int) -> Int in
                let outputSize = (size[axis] + strides[axis] - 1) / strides[axis]
                return max(0, (outputSize - 1) * strides[axis] + extent[axis] - size[axis])
            }
            let small = totals.map { $0 / 2 }
            let large = zip(totals, small).map { $0 - $1 }
            return autoPad == "SAME_UPPER" ? small + large : large + small
        default:
            throw EdgeQError(.invalidModel, "invalid auto_pad '\(autoPad)'")
        }
    }

    /// Kept as a node for `ImportGraph.binarize`, which folds it into the binary convolutions it feeds.
    private mutating func lowerSign(_ node: NodeContext) throws(EdgeQError) {
        let (x, dims) = try activationInput(node, 0)
        try addNode(node, .sign, inputs: [x], dims: dims)
    }

    private mutating func lowerBatchNormalization(_ node: NodeContext) throws(EdgeQError) {
        let (x, dims) = try activationInput(node, 0)
        guard dims.count >= 2 && channelAxis(rank: dims.count) == 1 else {
            throw EdgeQError(.unsupported, "BatchNormalization of rank \(dims.count) is not supported (rank 2 or 4)")
        }
        if try node.int("training_mode") == 1 || node.node.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
            throw EdgeQError(.unsupported, "training-mode BatchNormalization is not supported")
        }
        let channels = dims[1]
        let parameters = try (1...4).map { (index) throws(EdgeQError) in
            let parameter = try constantInput(node, index)
            guard parameter.count == channels else {
                throw EdgeQError(
                    .invalidModel, "'\(node.node.inputs[index])' has \(parameter.count) values for \(channels) channels"
                )
            }
            return parameter.floats
        }
        let (gamma, beta, mean, variance) = (parameters[0], parameters[1], parameters[2], parameters[3])
        let epsilon = try node.float("epsilon") ?? 1e-5
        let scale = (0..<channels).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
        let shift = (0..<channels).map { beta[$0] - mean[$0] * scale[$0] }
        try addNode(node, .scaleShift(scale: scale, shift: shift), inputs: [x], dims: dims)
    }

    private mutating func lowerActivation(_ node: NodeContext) throws(EdgeQError) {
        let (x, dims) = try activationInput(node, 0)
        let activation: Activation
        switch node.opType {
        case "Relu": activation = .relu
        case "Sigmoid": activation = .sigmoid
        case "HardSwish": activation = .hardSwish
        case "HardSigmoid":
            activation = Activation(.hardSigmoid, try node.float("alpha") ?? 0.2, try node.float("beta") ?? 0.5)
        default:  // Clip: bounds are inputs from opset 11, attributes before; either may be absent.
            let lower = try clipBound(node, input: 1, attribute: "min") ?? -.infinity
            let upper = try clipBound(node, input: 2, attribute: "max") ?? .infinity
            switch (lower, upper) {
            case (-.infinity, .infinity): return try define(node, .activation(x))
            case (0, .infinity): activation = .relu
            default: activation = Activation(.clip, lower, upper)
            }
        }
        try addNode(node, .activation(activation), inputs: [x], dims: dims)
    }

    private func clipBound(_ node: NodeContext, input index: Int, attribute: String) throws(EdgeQError) -> Float? {
        guard let bound = try optionalConstantInput(node, index) else { return try node.float(attribute) }
        guard let value = bound.scalar else {
            throw EdgeQError(.invalidModel, "'\(node.node.inputs[index])' must be a scalar, has shape \(bound.dims)")
        }
        return value
    }

    private mutating func lowerAveragePool(_ node: NodeContext) throws(EdgeQError) {
        let (x, dims) = try activationInput(node, 0)
        guard dims.count == 4 else { throw EdgeQError(.unsupported, "only rank-4 (NCHW) inputs are supported") }
        var keepDims = true
        if node.opType == "ReduceMean" {
            // Axes are an attribute before opset 18 and an input from then on.
            let axes = try intsAttributeOrInput(node, "axes", input: 1) ?? []
            let isNoOp = try node.int("noop_with_empty_axes") == 1
            if axes.isEmpty && isNoOp { return try define(node, .activation(x)) }
            let reduced = try Set(axes.map { (axis) throws(EdgeQError) in try normalizedAxis(axis, rank: 4) })
            guard reduced == [2, 3] else {
                throw EdgeQError(
                    .unsupported,
                    "ReduceMean over axes \(axes.isEmpty ? "all" : "\(axes)") is not supported (only spatial, [2, 3])")
            }
            keepDims = try node.int("keepdims") ?? 1 != 0
        }
        let pooledDims = [1, dims[1], 1, 1]
        if keepDims {
            try addNode(node, .globalAveragePool, inputs: [x], dims: pooledDims)
            return
        }
        let pooled = graph.addNode(
            name: node.name, op: .globalAveragePool, inputs: [x], outputName: node.node.outputs[0] + ":pooled",
            dims: pooledDims)
        try addNode(node, .reshape, inputs: [pooled], dims: [1, dims[1]], name: node.name + ":squeeze")
    }

    /// Gemm (alpha·A·B' + beta·C) and MatMul with a constant B on a [1, K] activation.
    private mutating func lowerFullyConnected(_ node: NodeContext) throws(EdgeQError) {
        let (x, dims) = try activationInput(node, 0)
        guard dims.count == 2 else { throw EdgeQError(.unsupported, "only [1, K] inputs are supported, not \(dims)") }
        let b = try constantInput(node, 1)
        let isGemm = node.opType == "Gemm"
        if isGemm, try node.int("transA") ?? 0 != 0 { throw EdgeQError(.unsupported, "transA = 1 is not supported") }
        let transposedB = isGemm ? try node.int("transB") ?? 0 != 0 : false
        let k = dims[1]
        guard b.dims.count == 2 && b.dims[transposedB ? 1 : 0] == k else {
            throw EdgeQError(
                .invalidModel, "'\(node.node.inputs[1])' of shape \(b.dims) does not multiply an input of shape \(dims)"
            )
        }
        let m = b.dims[transposedB ? 0 : 1]
        guard m >= 1 else { throw EdgeQError(.invalidModel, "'\(node.node.inputs[1])' has no output columns") }
        let alpha = isGemm ? try node.float("alpha") ?? 1 : 1
        // EdgeQ's weights are [M][K], as B is when transposed.
        let weights = stridedGather(b.floats, dims: [m, k], strides: transposedB ? [k, 1] : [1, m]).map { alpha * $0 }
        var bias = [Float](repeating: 0, count: m)
        if isGemm, let c = try optionalConstantInput(node, 2) {
            guard broadcastDims(c.dims, [1, m]) == [1, m] else {
                throw EdgeQError(.invalidModel, "C of shape \(c.dims) does not broadcast to [1, \(m)]")
            }
            let beta = try node.float("beta") ?? 1
            bias = stridedGather(c.floats, dims: [m], strides: [broadcastStrides(c.dims, to: [1, m])[1]]).map {
                beta * $0
            }
        }
        try addNode(node, .fullyConnected(.none, weights: weights, bias: bias), inputs: [x], dims: [1, m])
    }
}
