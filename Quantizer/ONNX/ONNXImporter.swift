import EdgeQ

/// Imports an ONNX model (opsets 11 to 21 of the default domain) as an EdgeQ float graph.
///
/// Batch is fixed to 1; activations become NHWC; BatchNormalization folds into the convolution before it,
/// activations into the convolution, fully connected layer or add that produces their input; shape
/// computations fold to constants. Unsupported operators and variants are `.unsupported` errors naming the
/// node; malformed or inconsistent files are `.invalidModel` errors. Binary convolutions feeding binary
/// convolutions pass bit-packed activations unless `packBinaryActivations` is false (the same outputs).
public func importONNX(_ bytes: [UInt8], packBinaryActivations: Bool = true) throws(EdgeQError) -> ImportedModel {
    let (graph, producer) = try importONNXGraph(bytes)
    return graph.emit(producer: producer, packBinaryActivations: packBinaryActivations)
}

/// The fused import graph, before packing, and the producer line for the model file.
func importONNXGraph(_ bytes: [UInt8]) throws(EdgeQError) -> (ImportGraph, producer: String) {
    let model = try ONNXModel(decoding: bytes)
    guard let graph = model.graph else { throw EdgeQError(.invalidModel, "the ONNX model has no graph") }
    var importer = ONNXImporter(opset: try defaultDomainOpset(model))
    try importer.importGraph(graph)
    importer.graph.fuse()
    try importer.graph.binarize()
    let producer = model.producerName + (model.producerVersion.isEmpty ? "" : " " + model.producerVersion)
    return (importer.graph, "EdgeQ ONNX import (IR \(model.irVersion), opset \(importer.opset), from \(producer))")
}

let supportedOpsets = 11...21

private func defaultDomainOpset(_ model: ONNXModel) throws(EdgeQError) -> Int {
    let versions = model.opsetImports.filter { $0.domain == "" || $0.domain == "ai.onnx" }.map(\.version)
    guard let version = versions.max() else {
        throw EdgeQError(.invalidModel, "the ONNX model imports no opset of the default domain")
    }
    if let unsupported = versions.first(where: { $0 < supportedOpsets.lowerBound || $0 > supportedOpsets.upperBound }) {
        throw EdgeQError(
            .unsupported,
            "unsupported ONNX opset \(unsupported) "
                + "(EdgeQ imports opsets \(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound))"
        )
    }
    return Int(version)
}

/// Lowers ONNX nodes, in their (topological) file order, into an `ImportGraph`.
struct ONNXImporter {
    /// What an ONNX tensor name stands for.
    enum Value {
        case constant(ConstantTensor)
        /// An `ImportGraph` tensor.
        case activation(Int)
    }

    let opset: Int
    var graph = ImportGraph()
    private var values: [String: Value] = [:]

    init(opset: Int) {
        self.opset = opset
    }

    mutating func importGraph(_ onnx: ONNXGraph) throws(EdgeQError) {
        for initializer in onnx.initializers {
            values[initializer.name] = .constant(try ConstantTensor(decoding: initializer))
        }
        // Before IR 4, initializers were listed among the inputs too; those are not fed by the caller.
        for input in onnx.inputs where values[input.name] == nil {
            let tensor = graph.addTensor(name: input.name, dims: try Self.inputDims(input))
            graph.inputs.append(tensor)
            values[input.name] = .activation(tensor)
        }
        for (index, node) in onnx.nodes.enumerated() {
            try lower(node, index: index)
        }
        guard !onnx.outputs.isEmpty else { throw EdgeQError(.invalidModel, "the ONNX graph has no outputs") }
        for output in onnx.outputs {
            switch values[output.name] {
            case .activation(let tensor)?:
                try Self.checkDeclaredShape(output, graph.tensors[tensor].dims)
                if !graph.inputs.contains(tensor) { graph.tensors[tensor].name = output.name }
                graph.outputs.append(tensor)
            case .constant?:
                throw EdgeQError(.unsupported, "graph output '\(output.name)' is a constant")
            case nil:
                throw EdgeQError(.invalidModel, "graph output '\(output.name)' is not produced by any node")
            }
        }
    }

    /// A float graph input's shape with the batch fixed to 1; any other dynamic dimension is an error.
    private static func inputDims(_ input: ONNXValueInfo) throws(EdgeQError) -> [Int] {
        let what = "graph input '\(input.name)'"
        guard input.elementType == ONNXDataType.float.rawValue else {
            throw EdgeQError(.unsupported, "\(what) has element type \(input.elementType); EdgeQ takes float inputs")
        }
        guard let shape = input.shape, !shape.isEmpty else {
            throw EdgeQError(.invalidModel, "\(what) has no shape")
        }
        var dims: [Int] = []
        for (axis, dim) in shape.enumerated() {
            if axis == 0 {
                if case .value(let batch) = dim, batch != 1 {
                    throw EdgeQError(.unsupported, "\(what) has batch \(batch); EdgeQ runs batch 1")
                }
                dims.append(1)
                continue
            }
            switch dim {
            case .value(let size): dims.append(Int(truncatingIfNeeded: size))
            case .parameter(let name):
                throw EdgeQError(
                    .unsupported,
                    "\(what) has dynamic dimension '\(name)' on axis \(axis); only the batch may be dynamic")
            case .unknown:
                throw EdgeQError(
                    .unsupported, "\(what) has an unknown dimension on axis \(axis); only the batch may be dynamic")
            }
        }
        guard checkedElementCount(dims, minimumDimension: 1) != nil else {
            throw EdgeQError(.invalidModel, "\(what) has invalid or too large shape \(dims)")
        }
        return dims
    }

    private static func checkDeclaredShape(_ output: ONNXValueInfo, _ dims: [Int]) throws(EdgeQError) {
        guard let shape = output.shape else { return }
        let matches =
            shape.count == dims.count
            && zip(shape, dims).enumerated().allSatisfy { axis, pair in
                if case .value(let size) = pair.0 { return size == pair.1 || axis == 0 }
                return true
            }
        guard matches else {
            throw EdgeQError(
                .invalidModel, "graph output '\(output.name)' is declared with shape \(shape) but computes \(dims)")
        }
    }

    // MARK: Nodes

    private mutating func lower(_ node: ONNXNode, index: Int) throws(EdgeQError) {
        let name = node.name.isEmpty ? "\(node.opType)_\(index)" : node.name
        let domain = node.domain.isEmpty ? "" : " of domain '\(node.domain)'"
        let unsupported = EdgeQError(
            .unsupported, "unsupported ONNX operator '\(node.opType)'\(domain) (node '\(name)', opset \(opset))")
        guard node.domain == "" || node.domain == "ai.onnx" else { throw unsupported }
        guard !node.outputs.isEmpty else {
            throw EdgeQError(.invalidModel, "\(node.opType) node '\(name)' has no outputs")
        }
        let handled: Bool
        do throws(EdgeQError) {
            handled = try lowerOperator(NodeContext(node: node, name: name))
        } catch {
            throw EdgeQError(error.kind, "\(node.opType) node '\(name)': \(error.message)")
        }
        guard handled else { throw unsupported }
    }

    // MARK: Inputs and outputs of the node being lowered

    func input(_ node: NodeContext, _ index: Int) throws(EdgeQError) -> Value {
        guard let value = try optionalInput(node, index) else {
            throw EdgeQError(.invalidModel, "input \(index) is missing")
        }
        return value
    }

    /// nil when the input is absent (past the end, or an empty name: ONNX's way to skip an optional input).
    func optionalInput(_ node: NodeContext, _ index: Int) throws(EdgeQError) -> Value? {
        guard index < node.node.inputs.count, !node.node.inputs[index].isEmpty else { return nil }
        let name = node.node.inputs[index]
        guard let value = values[name] else {
            throw EdgeQError(
                .invalidModel,
                "unknown tensor '\(name)' (input \(index)): "
                    + "not an initializer, a graph input or an output of an earlier node"
            )
        }
        return value
    }

    func constantInput(_ node: NodeContext, _ index: Int) throws(EdgeQError) -> ConstantTensor {
        guard let constant = try optionalConstantInput(node, index) else {
            throw EdgeQError(.invalidModel, "input \(index) is missing")
        }
        return constant
    }

    func optionalConstantInput(_ node: NodeContext, _ index: Int) throws(EdgeQError) -> ConstantTensor? {
        switch try optionalInput(node, index) {
        case .constant(let constant)?: return constant
        case .activation?:
            throw EdgeQError(.unsupported, "input \(index) ('\(node.node.inputs[index])') must be a constant")
        case nil: return nil
        }
    }

    /// An activation input and its ONNX shape.
    func activationInput(_ node: NodeContext, _ index: Int) throws(EdgeQError) -> (tensor: Int, dims: [Int]) {
        switch try input(node, index) {
        case .activation(let tensor): return (tensor, graph.tensors[tensor].dims)
        case .constant:
            throw EdgeQError(
                .unsupported,
                "input \(index) ('\(node.node.inputs[index])') is a constant; "
                    + "EdgeQ computes this operator on activations only"
            )
        }
    }

    /// An integer constant input (axes, shapes, sizes).
    func intsInput(_ node: NodeContext, _ index: Int) throws(EdgeQError) -> [Int]? {
        guard let constant = try optionalConstantInput(node, index) else { return nil }
        guard let ints = constant.ints else {
            throw EdgeQError(.invalidModel, "input \(index) ('\(node.node.inputs[index])') must be an integer tensor")
        }
        return ints.map { Int(truncatingIfNeeded: $0) }
    }

    /// An integer list that moved from an attribute to an input in some opset (axes, split): whichever is given.
    func intsAttributeOrInput(_ node: NodeContext, _ name: String, input index: Int) throws(EdgeQError) -> [Int]? {
        if let values = try node.ints(name) { return values }
        return try intsInput(node, index)
    }

    func dims(of value: Value) -> [Int] {
        switch value {
        case .constant(let constant): return constant.dims
        case .activation(let tensor): return graph.tensors[tensor].dims
        }
    }

    /// Binds the node's output `index` (if the model uses it) to `value`.
    mutating func define(_ node: NodeContext, output index: Int = 0, _ value: Value) throws(EdgeQError) {
        guard index < node.node.outputs.count else {
            throw EdgeQError(.invalidModel, "output \(index) is missing")
        }
        let name = node.node.outputs[index]
        if !name.isEmpty { values[name] = value }
    }

    /// Appends an `ImportGraph` node computing the ONNX node's output `index` and binds that output to it.
    @discardableResult
    mutating func addNode(
        _ node: NodeContext, _ op: ImportGraph.Op, inputs: [Int], dims: [Int], output index: Int = 0,
        name: String? = nil
    ) throws(EdgeQError) -> Int {
        guard index < node.node.outputs.count else {
            throw EdgeQError(.invalidModel, "output \(index) is missing")
        }
        guard checkedElementCount(dims, minimumDimension: 1) != nil else {
            throw EdgeQError(.unsupported, "output shape \(dims) is empty or too large")
        }
        let tensor = graph.addNode(
            name: name ?? node.name, op: op, inputs: inputs, outputName: node.node.outputs[index], dims: dims)
        try define(node, output: index, .activation(tensor))
        return tensor
    }
}

/// The ONNX node being lowered: its name for messages and typed access to its attributes.
struct NodeContext {
    let node: ONNXNode
    let name: String

    var opType: String { node.opType }

    func attribute(_ name: String, _ kind: ONNXAttribute.Kind) throws(EdgeQError) -> ONNXAttribute? {
        guard let attribute = node.attributes.first(where: { $0.name == name }) else { return nil }
        guard attribute.kind == kind else {
            let actual = attribute.kind.map { "\($0)".uppercased() } ?? "unknown"
            throw EdgeQError(
                .invalidModel,
                "attribute '\(name)' has type \(actual) (\(attribute.type)), "
                    + "expected \("\(kind)".uppercased()) (\(kind.rawValue))"
            )
        }
        return attribute
    }

    func int(_ name: String) throws(EdgeQError) -> Int? {
        try attribute(name, .int).map { Int(truncatingIfNeeded: $0.i) }
    }

    func ints(_ name: String) throws(EdgeQError) -> [Int]? {
        try attribute(name, .ints).map { $0.ints.map { Int(truncatingIfNeeded: $0) } }
    }

    func float(_ name: String) throws(EdgeQError) -> Float? {
        try attribute(name, .float)?.f
    }

    func string(_ name: String) throws(EdgeQError) -> String? {
        try attribute(name, .string)?.s
    }
}

/// `axis` in [-rank, rank) as an index in [0, rank).
func normalizedAxis(_ axis: Int, rank: Int) throws(EdgeQError) -> Int {
    guard axis >= -rank && axis < rank else {
        throw EdgeQError(.invalidModel, "axis \(axis) is out of range for rank \(rank)")
    }
    return axis < 0 ? axis + rank : axis
}
