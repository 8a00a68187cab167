/// Reading and writing the `.eqm` model file; the format is specified in FORMAT.md beside this file.

public enum EQM {
    public static let magic: [UInt8] = Array("EDGEQMDL".utf8)
    public static let version: UInt32 = 1
    static let headerSize = 64
    static let sectionEntrySize = 24
    static let checksumOffset = 24
    static let maxSections = 64
    static let maxRank = 8
    static let maxElements = 1 << 31

    enum SectionKind: UInt32 {
        case meta = 1, tensors = 2, nodes = 3, graph = 4, weights = 5

        var name: String {
            switch self {
            case .meta: return "META"
            case .tensors: return "TENSORS"
            case .nodes: return "NODES"
            case .graph: return "GRAPH"
            case .weights: return "WEIGHTS"
            }
        }
    }

    enum Opcode: UInt16 {
        case conv2d = 1, fullyConnected, add, mul, concat, slice, globalAveragePool, activation, reshape, quantize,
            dequantize, binaryConv2d
    }

    /// CRC-32 of the file with the checksum field read as zero.
    static func checksum(_ file: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32()
        crc.update(UnsafeRawBufferPointer(rebasing: file[0..<checksumOffset]))
        withUnsafeBytes(of: UInt32(0)) { crc.update($0) }
        crc.update(UnsafeRawBufferPointer(rebasing: file[(checksumOffset + 4)...]))
        return crc.checksum
    }
}

/// The bytes a constant of `layout` with logical `shape` and `dtype` must occupy.
public func storedByteCount(dtype: DType, layout: WeightLayout, shape: [Int]) -> Int? {
    let elements = shape.reduce(1, *)
    // Packed signs exist only in their one layout; bit-packed activations are never constants.
    guard (dtype == .binary) == (layout == .binaryPacked64) else { return nil }
    switch layout {
    case .plain:
        return elements * dtype.byteSize
    case .gemmPacked16:
        guard shape.count == 2 else { return nil }
        return (shape[0] + 15) / 16 * 16 * shape[1] * dtype.byteSize
    case .depthwiseHWC:
        guard shape.count == 3 else { return nil }
        return elements * dtype.byteSize
    case .biasPadded16:
        guard shape.count == 1 else { return nil }
        return (shape[0] + 15) / 16 * 16 * dtype.byteSize
    case .gemmI8C4:
        guard shape.count == 2, dtype == .int8 else { return nil }
        return (shape[0] + 15) / 16 * 16 * ((shape[1] + 3) / 4 * 4)
    case .binaryPacked64:
        guard shape.count == 4 else { return nil }
        return binaryPacked64ByteCount(
            outputChannels: shape[0], taps: shape[1] * shape[2], inputChannels: shape[3])
    case .binaryBits64:
        return nil
    }
}

// MARK: - Writing

/// Serializes a graph and its weight section (constants' `data` ranges index into `weights`).
public func serializeEQM(_ graph: ModelGraph, weights: [UInt8]) -> [UInt8] {
    var meta = ByteWriter()
    meta.string(graph.producer)

    var tensors = ByteWriter()
    tensors.u32(UInt32(graph.tensors.count))
    for t in graph.tensors {
        tensors.string(t.name)
        tensors.u8(t.dtype.rawValue)
        tensors.u8(t.layout.rawValue)
        tensors.u8(UInt8(t.shape.count))
        tensors.u8(0)
        for d in t.shape { tensors.u32(UInt32(d)) }
        tensors.u32(UInt32(t.quant.scales.count))
        for s in t.quant.scales { tensors.f32(s) }
        for z in t.quant.zeroPoints { tensors.i32(z) }
        tensors.i32(t.quant.axis)
        if let data = t.data {
            tensors.u8(1)
            tensors.u64(UInt64(data.offset))
            tensors.u64(UInt64(data.length))
        } else {
            tensors.u8(0)
        }
    }

    var nodes = ByteWriter()
    nodes.u32(UInt32(graph.nodes.count))
    for n in graph.nodes {
        let (opcode, ints, floats) = encode(n.op)
        nodes.string(n.name)
        nodes.u16(opcode.rawValue)
        nodes.u16(0)
        nodes.u32(UInt32(n.inputs.count))
        for i in n.inputs { nodes.i32(Int32(i)) }
        nodes.u32(UInt32(n.outputs.count))
        for o in n.outputs { nodes.i32(Int32(o)) }
        nodes.u32(UInt32(ints.count))
        for v in ints { nodes.i32(Int32(v)) }
        nodes.u32(UInt32(floats.count))
        for v in floats { nodes.f32(v) }
    }

    var io = ByteWriter()
    io.u32(UInt32(graph.inputs.count))
    for i in graph.inputs { io.i32(Int32(i)) }
    io.u32(UInt32(graph.outputs.count))
    for o in graph.outputs { io.i32(Int32(o)) }

    let sections: [(EQM.SectionKind, [UInt8])] = [
        (.meta, meta.bytes), (.tensors, tensors.bytes), (.nodes, nodes.bytes), (.graph, io.bytes),
        (.weights, weights),
    ]
    var file = ByteWriter()
    file.bytes(EQM.magic)
    file.u32(EQM.version)
    file.u32(UInt32(sections.count))
    file.u64(0)  // file size, patched below
    file.u32(0)  // checksum, patched below
    file.pad(toMultipleOf: EQM.headerSize)
    let tableOffset = file.count
    for _ in sections {
        for _ in 0..<EQM.sectionEntrySize { file.u8(0) }
    }
    for (index, (kind, body)) in sections.enumerated() {
        file.pad(toMultipleOf: AlignedBuffer.alignment)
        let entry = tableOffset + index * EQM.sectionEntrySize
        file.patchU32(at: entry, kind.rawValue)
        file.patchU64(at: entry + 8, UInt64(file.count))
        file.patchU64(at: entry + 16, UInt64(body.count))
        file.bytes(body)
    }
    file.patchU64(at: 16, UInt64(file.count))
    var bytes = file.bytes
    let crc = bytes.withUnsafeBytes { EQM.checksum($0) }
    for i in 0..<4 { bytes[EQM.checksumOffset + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
    return bytes
}

private func encode(_ op: Operator) -> (EQM.Opcode, [Int], [Float]) {
    func act(_ a: Activation) -> ([Int], [Float]) { ([Int(a.kind.rawValue)], [a.a, a.b]) }
    switch op {
    case .conv2d(let p), .binaryConv2d(let p):
        let (ai, af) = act(p.activation)
        let opcode: EQM.Opcode
        if case .conv2d = op { opcode = .conv2d } else { opcode = .binaryConv2d }
        return (
            opcode,
            [p.kernelHeight, p.kernelWidth, p.strideHeight, p.strideWidth, p.dilationHeight, p.dilationWidth,
             p.padTop, p.padLeft, p.padBottom, p.padRight, p.groups] + ai, af
        )
    case .fullyConnected(let a):
        let (ai, af) = act(a)
        return (.fullyConnected, ai, af)
    case .add(let a):
        let (ai, af) = act(a)
        return (.add, ai, af)
    case .mul: return (.mul, [], [])
    case .concat: return (.concat, [], [])
    case .slice(let start, let end): return (.slice, [start, end], [])
    case .globalAveragePool: return (.globalAveragePool, [], [])
    case .activation(let a):
        let (ai, af) = act(a)
        return (.activation, ai, af)
    case .reshape(let shape): return (.reshape, shape, [])
    case .quantize: return (.quantize, [], [])
    case .dequantize: return (.dequantize, [], [])
    }
}

// MARK: - Reading

/// A loaded model: the file image in aligned memory and its validated graph. Constant data ranges are
/// relative to `weightsOffset`.
public final class Model {
    public let graph: ModelGraph
    public let file: AlignedBuffer
    public let weightsOffset: Int

    /// Parses and validates a file image already in aligned memory (no copy).
    public init(file: AlignedBuffer) throws(EdgeQError) {
        self.file = file
        (graph, weightsOffset) = try parseEQM(file.bytes)
    }

    public convenience init(bytes: [UInt8]) throws(EdgeQError) {
        try self.init(file: bytes.withUnsafeBytes { AlignedBuffer(copying: $0) })
    }

    /// The same model with every activation also a graph output, so that each keeps its own memory and can be
    /// read after an inference (calibration, per-layer comparison). Costs the arena reuse.
    public func observingEveryActivation() throws(EdgeQError) -> Model {
        var observed = graph
        observed.outputs = graph.tensors.indices.filter { !graph.tensors[$0].isConstant }
        var end = 0
        for t in graph.tensors { if let d = t.data { end = max(end, d.offset + d.length) } }
        let weights = Array(UnsafeRawBufferPointer(rebasing: file.bytes[weightsOffset..<(weightsOffset + end)]))
        return try Model(bytes: serializeEQM(observed, weights: weights))
    }

    public func constantPointer(_ tensor: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(file.base + weightsOffset + graph.tensors[tensor].data!.offset)
    }
}

public func parseEQM(_ file: UnsafeRawBufferPointer) throws(EdgeQError) -> (ModelGraph, weightsOffset: Int) {
    var header = ByteReader(file, context: "model file")
    guard file.count >= EQM.headerSize else {
        throw EdgeQError(
            .invalidModel, "model file truncated: " + String(file.count) + " bytes, smaller than the 64-byte header")
    }
    for (i, m) in EQM.magic.enumerated() where file[i] != m {
        throw EdgeQError(.invalidModel, "not an EdgeQ model file (magic EDGEQMDL missing)")
    }
    _ = try header.take(8, "magic")
    let version = try header.u32("version")
    guard version == EQM.version else {
        throw EdgeQError(
            .unsupported,
            "model file format version " + String(version) + "; this EdgeQ reads version " + String(EQM.version))
    }
    let sectionCount = Int(try header.u32("section count"))
    let declaredSize = try header.u64("file size")
    guard declaredSize == UInt64(file.count) else {
        throw EdgeQError(
            .invalidModel,
            "model file truncated or padded: header says " + String(declaredSize) + " bytes, file has "
                + String(file.count))
    }
    let storedChecksum = try header.u32("checksum")
    guard storedChecksum == EQM.checksum(file) else {
        throw EdgeQError(.invalidModel, "model file checksum mismatch: the file is corrupted")
    }
    guard sectionCount <= EQM.maxSections else {
        throw EdgeQError(.invalidModel, "model file declares " + String(sectionCount) + " sections")
    }

    var table = ByteReader(file, from: EQM.headerSize, context: "section table")
    let tableEnd = EQM.headerSize + sectionCount * EQM.sectionEntrySize
    var ranges: [UInt32: Range<Int>] = [:]
    for _ in 0..<sectionCount {
        let kind = try table.u32("section kind")
        _ = try table.u32("reserved")
        let offset = try table.u64("section offset")
        let length = try table.u64("section length")
        guard offset >= UInt64(tableEnd), offset <= UInt64(file.count), length <= UInt64(file.count) - offset
        else {
            throw table.fail("section " + String(kind) + " lies outside the file")
        }
        guard ranges[kind] == nil || EQM.SectionKind(rawValue: kind) == nil else {
            throw table.fail("section " + String(kind) + " appears twice")
        }
        ranges[kind] = Int(offset)..<Int(offset + length)
    }
    func section(_ kind: EQM.SectionKind) throws(EdgeQError) -> ByteReader {
        guard let r = ranges[kind.rawValue] else {
            throw EdgeQError(.invalidModel, "model file has no " + kind.name + " section")
        }
        return ByteReader(file, from: r.lowerBound, to: r.upperBound, context: "section " + kind.name)
    }

    var graph = ModelGraph()
    if ranges[EQM.SectionKind.meta.rawValue] != nil {
        var meta = try section(.meta)
        graph.producer = try meta.string("producer")
    }
    let weights = ranges[EQM.SectionKind.weights.rawValue]
    guard let weights, weights.lowerBound % AlignedBuffer.alignment == 0 else {
        throw EdgeQError(.invalidModel, "model file has no 64-byte aligned WEIGHTS section")
    }

    var tr = try section(.tensors)
    let tensorCount = try tr.count("tensor count", elementSize: 16)
    graph.tensors.reserveCapacity(tensorCount)
    for index in 0..<tensorCount {
        let tensor = try readTensor(&tr, index: index, weightsLength: weights.count)
        // int8 weights are symmetric in [-127, 127] (QUANTIZATION.md); the NEON depthwise kernel sums two
        // products in int16 and relies on it.
        if tensor.dtype == .int8, let d = tensor.data,
            file[(weights.lowerBound + d.offset)..<(weights.lowerBound + d.offset + d.length)].contains(0x80)
        {
            throw EdgeQError(.invalidModel, "int8 weight '" + tensor.name + "' holds -128 (weights lie in [-127, 127])")
        }
        graph.tensors.append(tensor)
    }

    var nr = try section(.nodes)
    let nodeCount = try nr.count("node count", elementSize: 24)
    graph.nodes.reserveCapacity(nodeCount)
    for _ in 0..<nodeCount {
        graph.nodes.append(try readNode(&nr, tensorCount: tensorCount))
    }

    for node in graph.nodes { try checkBinaryThresholds(node, graph, file, weightsOffset: weights.lowerBound) }

    var gr = try section(.graph)
    graph.inputs = try readTensorList(&gr, "graph inputs", tensorCount: tensorCount)
    graph.outputs = try readTensorList(&gr, "graph outputs", tensorCount: tensorCount)
    return (graph, weights.lowerBound)
}

/// The thresholds of a BinaryConv2D with a bit-packed output (its third input, int32 [3, Cout]: direction,
/// lower, upper; BINARY.md): direction ±1 and lower ≤ upper + 1 in each channel. Their shape and kind are
/// shape inference's to check; values of another shape are left to it.
private func checkBinaryThresholds(_ node: Node, _ graph: ModelGraph, _ file: UnsafeRawBufferPointer,
                                   weightsOffset: Int) throws(EdgeQError) {
    guard case .binaryConv2d = node.op, node.inputs.count == 3 else { return }
    let t = graph.tensors[node.inputs[2]]
    guard let data = t.data, t.dtype == .int32, t.layout == .plain, t.shape.count == 2, t.shape[0] == 3 else { return }
    let channels = t.shape[1]
    func value(_ row: Int, _ o: Int) -> Int64 {
        Int64(file.loadUnaligned(fromByteOffset: weightsOffset + data.offset + (row * channels + o) * 4, as: Int32.self))
    }
    for o in 0..<channels where abs(value(0, o)) != 1 || value(1, o) > value(2, o) + 1 {
        throw EdgeQError(
            .invalidModel, "node '" + node.name + "': thresholds '" + t.name + "' of channel " + String(o)
                + " need direction ±1 and lower ≤ upper + 1, found " + String(value(0, o)) + ", "
                + String(value(1, o)) + ", " + String(value(2, o)))
    }
}

private func readTensorList(_ r: inout ByteReader, _ what: String, tensorCount: Int) throws(EdgeQError) -> [Int] {
    let n = try r.count(what, elementSize: 4)
    var list: [Int] = []
    for _ in 0..<n {
        let t = Int(try r.i32(what))
        guard t >= 0, t < tensorCount else { throw r.fail(what + ": tensor index " + String(t) + " out of range") }
        list.append(t)
    }
    return list
}

private func readTensor(_ r: inout ByteReader, index: Int, weightsLength: Int) throws(EdgeQError) -> TensorInfo {
    let name = try r.string("tensor name")
    let what = "tensor " + String(index) + " '" + name + "'"
    guard let dtype = DType(rawValue: try r.u8("dtype")) else { throw r.fail(what + ": unknown dtype") }
    guard let layout = WeightLayout(rawValue: try r.u8("layout")) else { throw r.fail(what + ": unknown layout") }
    let rank = Int(try r.u8("rank"))
    _ = try r.u8("reserved")
    guard rank <= EQM.maxRank else { throw r.fail(what + ": rank " + String(rank) + " above 8") }
    var shape: [Int] = []
    var elements = 1
    for _ in 0..<rank {
        let d = Int(try r.u32("dimension"))
        guard d >= 1, elements <= EQM.maxElements / d else {
            throw r.fail(what + ": dimension " + String(d) + " is zero or too large")
        }
        elements *= d
        shape.append(d)
    }
    let nq = try r.count("scale count", elementSize: 8)
    var quant = QuantParams()
    for _ in 0..<nq { quant.scales.append(try r.f32("scale")) }
    for _ in 0..<nq { quant.zeroPoints.append(try r.i32("zero point")) }
    quant.axis = try r.i32("quantization axis")
    var tensor = TensorInfo(name: name, dtype: dtype, shape: shape, layout: layout, quant: quant)
    let hasData = try r.u8("has-data flag")
    guard hasData <= 1 else { throw r.fail(what + ": bad has-data flag") }
    // Activations are plain, or bit-packed binary (the one layout of binary activations).
    guard hasData == 1 || (layout == .plain && dtype != .binary) || (layout == .binaryBits64 && dtype == .binary)
    else {
        throw r.fail(what + ": an activation is plain (not binary) or binary " + WeightLayout.binaryBits64.name
                     + ", not " + dtype.name + " " + layout.name)
    }
    if hasData == 1 {
        let offset = try r.u64("data offset")
        let length = try r.u64("data length")
        guard offset % UInt64(AlignedBuffer.alignment) == 0, offset <= UInt64(weightsLength),
            length <= UInt64(weightsLength) - offset
        else {
            throw r.fail(what + ": data range outside the WEIGHTS section or not 64-byte aligned")
        }
        guard let expected = storedByteCount(dtype: dtype, layout: layout, shape: shape), expected == Int(length)
        else {
            throw r.fail(what + ": " + String(length) + " data bytes do not match shape and layout " + layout.name)
        }
        tensor.data = DataRange(offset: Int(offset), length: Int(length))
    }
    return tensor
}

private func readNode(_ r: inout ByteReader, tensorCount: Int) throws(EdgeQError) -> Node {
    let name = try r.string("node name")
    let rawOpcode = try r.u16("opcode")
    _ = try r.u16("reserved")
    let inputs = try readTensorList(&r, "node '" + name + "' inputs", tensorCount: tensorCount)
    let outputs = try readTensorList(&r, "node '" + name + "' outputs", tensorCount: tensorCount)
    let nInts = try r.count("int parameter count", elementSize: 4)
    var ints: [Int] = []
    for _ in 0..<nInts { ints.append(Int(try r.i32("int parameter"))) }
    let nFloats = try r.count("float parameter count", elementSize: 4)
    var floats: [Float] = []
    for _ in 0..<nFloats { floats.append(try r.f32("float parameter")) }
    guard let opcode = EQM.Opcode(rawValue: rawOpcode) else {
        throw r.fail("node '" + name + "': unknown opcode " + String(rawOpcode))
    }
    let op = try decode(opcode, ints: ints, floats: floats, node: name)
    return Node(name: name, op: op, inputs: inputs, outputs: outputs)
}

private func decode(_ opcode: EQM.Opcode, ints: [Int], floats: [Float], node: String) throws(EdgeQError) -> Operator {
    func bad() -> EdgeQError {
        EdgeQError(.invalidModel, "node '" + node + "': wrong parameters for opcode " + String(opcode.rawValue))
    }
    func activation(_ kindIndex: Int) throws(EdgeQError) -> Activation {
        guard ints.count == kindIndex + 1, floats.count == 2, kindIndex >= 0, ints[kindIndex] >= 0,
            ints[kindIndex] <= 255, let kind = Activation.Kind(rawValue: UInt8(ints[kindIndex]))
        else { throw bad() }
        return Activation(kind, floats[0], floats[1])
    }
    switch opcode {
    case .conv2d, .binaryConv2d:
        let act = try activation(11)
        let p = Conv2DParams(
            kernelHeight: ints[0], kernelWidth: ints[1], strideHeight: ints[2], strideWidth: ints[3],
            dilationHeight: ints[4], dilationWidth: ints[5], padTop: ints[6], padLeft: ints[7],
            padBottom: ints[8], padRight: ints[9], groups: ints[10], activation: act)
        guard p.kernelHeight >= 1, p.kernelWidth >= 1, p.strideHeight >= 1, p.strideWidth >= 1,
            p.dilationHeight >= 1, p.dilationWidth >= 1, p.padTop >= 0, p.padLeft >= 0, p.padBottom >= 0,
            p.padRight >= 0, p.groups >= 1, ints[0...10].allSatisfy({ $0 <= 1 << 16 })
        else { throw bad() }
        guard opcode == .binaryConv2d else { return .conv2d(p) }
        guard p.groups == 1 else {
            throw EdgeQError(.invalidModel, "node '" + node + "': a BinaryConv2D has groups 1, not " + String(p.groups))
        }
        return .binaryConv2d(p)
    case .fullyConnected: return .fullyConnected(try activation(0))
    case .add: return .add(try activation(0))
    case .activation: return .activation(try activation(0))
    case .mul, .concat, .globalAveragePool, .quantize, .dequantize:
        guard ints.isEmpty, floats.isEmpty else { throw bad() }
        switch opcode {
        case .mul: return .mul
        case .concat: return .concat
        case .quantize: return .quantize
        case .dequantize: return .dequantize
        default: return .globalAveragePool
        }
    case .slice:
        guard ints.count == 2, floats.isEmpty, ints[0] >= 0, ints[1] > ints[0] else { throw bad() }
        return .slice(start: ints[0], end: ints[1])
    case .reshape:
        guard !ints.isEmpty, ints.count <= EQM.maxRank, floats.isEmpty, ints.allSatisfy({ $0 >= 1 && $0 <= 1 << 30 })
        else { throw bad() }
        return .reshape(shape: ints)
    }
}
