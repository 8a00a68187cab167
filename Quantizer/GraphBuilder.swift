import EdgeQ

/// A model graph together with its weight section, the bytes every constant's `TensorInfo.data` points into.
public struct ImportedModel {
    public var graph: ModelGraph
    public var weights: [UInt8]

    public init(graph: ModelGraph, weights: [UInt8]) {
        self.graph = graph
        self.weights = weights
    }
}

/// Accumulates an EdgeQ graph and its weight section: tensors, nodes and constant bytes, each constant at a
/// 64-byte-aligned offset (the model file's alignment, so the runtime can use the weights in place).
public struct GraphBuilder {
    public static let weightAlignment = 64

    public private(set) var model: ImportedModel

    public init(producer: String) {
        model = ImportedModel(graph: ModelGraph(producer: producer), weights: [])
    }

    /// Adds a constant whose bytes, already in `layout`, are `bytes`; returns its tensor index.
    /// `shape` is the logical shape (see `WeightLayout`), not the stored one.
    public mutating func addConstant(
        name: String, dtype: DType, shape: [Int], layout: WeightLayout = .plain, quant: QuantParams = .none,
        bytes: UnsafeRawBufferPointer
    ) -> Int {
        let padding = (Self.weightAlignment - model.weights.count % Self.weightAlignment) % Self.weightAlignment
        model.weights.append(contentsOf: repeatElement(0, count: padding))
        let range = DataRange(offset: model.weights.count, length: bytes.count)
        model.weights.append(contentsOf: bytes)
        return addTensor(
            TensorInfo(name: name, dtype: dtype, shape: shape, layout: layout, quant: quant, data: range))
    }

    /// Adds a float32 constant. EdgeQ files are little-endian, as are all its targets, so the floats' memory
    /// is their file encoding.
    public mutating func addConstant(
        name: String, shape: [Int], layout: WeightLayout = .plain, values: [Float]
    ) -> Int {
        values.withUnsafeBytes { addConstant(name: name, dtype: .float32, shape: shape, layout: layout, bytes: $0) }
    }

    /// Adds an activation tensor (NHWC shape); returns its index.
    public mutating func addActivation(
        name: String, shape: [Int], dtype: DType = .float32, quant: QuantParams = .none
    ) -> Int {
        addTensor(TensorInfo(name: name, dtype: dtype, shape: shape, layout: dtype == .binary ? .binaryBits64 : .plain,
                             quant: quant))
    }

    /// Adds an activation tensor that the caller feeds.
    public mutating func addInput(name: String, shape: [Int], dtype: DType = .float32, quant: QuantParams = .none)
        -> Int
    {
        let index = addActivation(name: name, shape: shape, dtype: dtype, quant: quant)
        model.graph.inputs.append(index)
        return index
    }

    /// Appends a node; nodes must be added in execution order.
    public mutating func addNode(name: String, op: Operator, inputs: [Int], outputs: [Int]) {
        model.graph.nodes.append(Node(name: name, op: op, inputs: inputs, outputs: outputs))
    }

    public mutating func addOutput(_ tensor: Int) {
        model.graph.outputs.append(tensor)
    }

    private mutating func addTensor(_ info: TensorInfo) -> Int {
        model.graph.tensors.append(info)
        return model.graph.tensors.count - 1
    }
}
