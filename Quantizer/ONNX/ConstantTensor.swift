import EdgeQ

/// Most elements any tensor of an imported model may have (64 Mi: far above real edge models, far below what
/// a hostile shape could make the importer allocate).
let maxImportedElements = 1 << 26
/// Most elements of a constant the importer computes itself (folded arithmetic and gathers, operands
/// broadcast to an activation's shape), which takes a few times its size in memory while being built.
let maxComputedElements = 1 << 22

/// A tensor whose value is known at import time: an initializer, a Constant node, or a folded computation
/// (torch exports compute Reshape shapes with Shape → Gather → Unsqueeze → Concat chains).
struct ConstantTensor {
    /// Floating-point types are held as Float (what EdgeQ computes in), integer and bool types as Int64.
    enum Elements {
        case float([Float])
        case int([Int64])
    }

    var dims: [Int]
    var elements: Elements

    init(dims: [Int], floats: [Float]) {
        self.dims = dims
        self.elements = .float(floats)
    }

    init(dims: [Int], ints: [Int64]) {
        self.dims = dims
        self.elements = .int(ints)
    }

    var count: Int {
        switch elements {
        case .float(let values): return values.count
        case .int(let values): return values.count
        }
    }

    var isFloat: Bool {
        if case .float = elements { return true }
        return false
    }

    var floats: [Float] {
        switch elements {
        case .float(let values): return values
        case .int(let values): return values.map { Float($0) }
        }
    }

    /// The values of an integer tensor (shapes, axes, indices); nil for a floating-point one.
    var ints: [Int64]? {
        if case .int(let values) = elements { return values }
        return nil
    }

    /// The single value of a one-element tensor of any shape.
    var scalar: Float? { count == 1 ? floats[0] : nil }

    func reshaped(_ newDims: [Int]) -> ConstantTensor {
        var result = self
        result.dims = newDims
        return result
    }

    /// The elements of a strided view (see `stridedGather`).
    func strided(dims newDims: [Int], strides: [Int], offset: Int = 0) -> ConstantTensor {
        switch elements {
        case .float(let values):
            return ConstantTensor(
                dims: newDims, floats: stridedGather(values, dims: newDims, strides: strides, offset: offset))
        case .int(let values):
            return ConstantTensor(
                dims: newDims, ints: stridedGather(values, dims: newDims, strides: strides, offset: offset))
        }
    }
}

// MARK: Shapes and strided views

/// Row-major strides of a dense tensor of `dims`.
func contiguousStrides(_ dims: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: dims.count)
    for axis in dims.indices.reversed().dropFirst() { strides[axis] = strides[axis + 1] * dims[axis + 1] }
    return strides
}

/// The element count of `dims`, checked: every dimension at least `minimumDimension` and the product at most
/// `limit`. nil if not.
func checkedElementCount(_ dims: [Int], minimumDimension: Int = 0, limit: Int = maxImportedElements) -> Int? {
    var count = 1
    for dim in dims {
        guard dim >= minimumDimension && dim <= limit else { return nil }
        count *= dim  // both factors are at most `limit` (≤ 2^26), so this cannot overflow
        guard count <= limit else { return nil }
    }
    return count
}

/// `source` read in row-major order of `dims`, where one step along axis i moves `strides[i]` elements in
/// `source` (0 broadcasts, negative walks backwards). One routine serves broadcasting, slicing and
/// transposition (NCHW → NHWC, OIHW → OHWI). The caller guarantees every visited position is in range.
func stridedGather<T>(_ source: [T], dims: [Int], strides: [Int], offset: Int = 0) -> [T] {
    let count = dims.reduce(1, *)
    guard count > 0 else { return [] }
    var result: [T] = []
    result.reserveCapacity(count)
    var index = [Int](repeating: 0, count: dims.count)
    var position = offset
    for _ in 0..<count {
        result.append(source[position])
        var axis = dims.count - 1
        while axis >= 0 {
            index[axis] += 1
            position += strides[axis]
            if index[axis] < dims[axis] { break }
            position -= strides[axis] * dims[axis]
            index[axis] = 0
            axis -= 1
        }
    }
    return result
}

/// numpy-style multidirectional broadcast of two shapes; nil if they are incompatible.
func broadcastDims(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    let paddedA = [Int](repeating: 1, count: rank - a.count) + a
    let paddedB = [Int](repeating: 1, count: rank - b.count) + b
    var result: [Int] = []
    for (x, y) in zip(paddedA, paddedB) {
        guard x == y || x == 1 || y == 1 else { return nil }
        result.append(x == 1 ? y : x)
    }
    return result
}

/// Strides that read a tensor of `dims` broadcast to `outputDims` (which `broadcastDims` accepted).
func broadcastStrides(_ dims: [Int], to outputDims: [Int]) -> [Int] {
    let padded = [Int](repeating: 1, count: outputDims.count - dims.count) + dims
    return zip(padded, contiguousStrides(padded)).map { dim, stride in dim == 1 ? 0 : stride }
}

// MARK: Folding

extension ConstantTensor {
    enum Arithmetic: String {
        case add = "Add"
        case sub = "Sub"
        case mul = "Mul"
        case div = "Div"
    }

    /// `a op b` with broadcasting; integers if both are integers (division truncates, as onnxruntime's).
    static func arithmetic(_ op: Arithmetic, _ a: ConstantTensor, _ b: ConstantTensor) throws(EdgeQError)
        -> ConstantTensor
    {
        guard let dims = broadcastDims(a.dims, b.dims) else {
            throw EdgeQError(.invalidModel, "shapes \(a.dims) and \(b.dims) do not broadcast")
        }
        guard checkedElementCount(dims, limit: maxComputedElements) != nil else {
            throw EdgeQError(.unsupported, "folded constant of shape \(dims) is too large")
        }
        let left = a.strided(dims: dims, strides: broadcastStrides(a.dims, to: dims))
        let right = b.strided(dims: dims, strides: broadcastStrides(b.dims, to: dims))
        if let x = left.ints, let y = right.ints {
            var result: [Int64] = []
            result.reserveCapacity(x.count)
            for (p, q) in zip(x, y) {
                switch op {
                case .add: result.append(p &+ q)
                case .sub: result.append(p &- q)
                case .mul: result.append(p &* q)
                case .div:
                    guard q != 0 else { throw EdgeQError(.invalidModel, "integer division by zero") }
                    result.append(p.dividedReportingOverflow(by: q).partialValue)
                }
            }
            return ConstantTensor(dims: dims, ints: result)
        }
        let x = left.floats
        let y = right.floats
        switch op {
        case .add: return ConstantTensor(dims: dims, floats: zip(x, y).map { $0 + $1 })
        case .sub: return ConstantTensor(dims: dims, floats: zip(x, y).map { $0 - $1 })
        case .mul: return ConstantTensor(dims: dims, floats: zip(x, y).map { $0 * $1 })
        case .div: return ConstantTensor(dims: dims, floats: zip(x, y).map { $0 / $1 })
        }
    }

    /// ONNX Gather along a normalized `axis`: out = dims[..<axis] + indices.dims + dims[(axis+1)...].
    func gathered(_ indices: ConstantTensor, axis: Int) throws(EdgeQError) -> ConstantTensor {
        guard let positions = indices.ints else {
            throw EdgeQError(.invalidModel, "Gather indices must be integers")
        }
        let axisLength = dims[axis]
        let outer = dims[..<axis].reduce(1, *)
        let inner = dims[(axis + 1)...].reduce(1, *)
        var flat: [Int] = []
        for position in positions {
            guard position >= -Int64(axisLength) && position < Int64(axisLength) else {
                throw EdgeQError(.invalidModel, "Gather index \(position) is out of range for dimension \(axisLength)")
            }
            flat.append(Int(position < 0 ? position + Int64(axisLength) : position))
        }
        let newDims = Array(dims[..<axis]) + indices.dims + Array(dims[(axis + 1)...])
        guard checkedElementCount(newDims, limit: maxComputedElements) != nil else {
            throw EdgeQError(.unsupported, "folded constant of shape \(newDims) is too large")
        }
        var order: [Int] = []
        order.reserveCapacity(outer * flat.count * inner)
        for o in 0..<outer {
            for index in flat {
                let base = (o * axisLength + index) * inner
                order.append(contentsOf: base..<(base + inner))
            }
        }
        return picking(order, dims: newDims)
    }

    /// Concatenation along a normalized `axis`; the parts agree on every other dimension (checked by the caller).
    static func concatenated(_ parts: [ConstantTensor], axis: Int) -> ConstantTensor {
        var dims = parts[0].dims
        dims[axis] = parts.reduce(0) { $0 + $1.dims[axis] }
        let outer = dims[..<axis].reduce(1, *)
        func blocks<T>(_ values: [[T]]) -> [T] {
            var result: [T] = []
            for o in 0..<outer {
                for (part, partValues) in zip(parts, values) {
                    let block = part.dims[axis...].reduce(1, *)
                    result.append(contentsOf: partValues[(o * block)..<((o + 1) * block)])
                }
            }
            return result
        }
        if parts.allSatisfy({ !$0.isFloat }) {
            return ConstantTensor(dims: dims, ints: blocks(parts.map { $0.ints ?? [] }))
        }
        return ConstantTensor(dims: dims, floats: blocks(parts.map(\.floats)))
    }

    /// The elements at flat positions `order` (all in range), shaped `newDims`.
    private func picking(_ order: [Int], dims newDims: [Int]) -> ConstantTensor {
        switch elements {
        case .float(let values): return ConstantTensor(dims: newDims, floats: order.map { values[$0] })
        case .int(let values): return ConstantTensor(dims: newDims, ints: order.map { values[$0] })
        }
    }
}

// MARK: Decoding TensorProto

/// TensorProto.DataType values the importer can read.
enum ONNXDataType: Int32 {
    case float = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case bool = 9
    case float16 = 10
    case double = 11
    case uint32 = 12
    case uint64 = 13
    case bfloat16 = 16

    var byteSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16, .float16, .bfloat16: return 2
        case .float, .int32, .uint32: return 4
        case .int64, .double, .uint64: return 8
        }
    }

    var isFloatingPoint: Bool {
        switch self {
        case .float, .float16, .double, .bfloat16: return true
        default: return false
        }
    }
}

extension ConstantTensor {
    init(decoding tensor: ONNXTensor) throws(EdgeQError) {
        let what = "tensor '\(tensor.name)'"
        guard let type = ONNXDataType(rawValue: tensor.dataType) else {
            throw EdgeQError(.unsupported, "\(what) has unsupported data type \(tensor.dataType)")
        }
        let dims = tensor.dims.map { Int(truncatingIfNeeded: $0) }
        guard let count = checkedElementCount(dims) else {
            throw EdgeQError(.invalidModel, "\(what) has invalid or too large dimensions \(tensor.dims)")
        }
        if let raw = tensor.rawData {
            guard raw.count == count * type.byteSize else {
                throw EdgeQError(
                    .invalidModel,
                    "\(what): raw_data has \(raw.count) bytes, shape \(dims) needs \(count * type.byteSize)")
            }
            self = Self.decodeRaw(raw, type: type, dims: dims, count: count)
            return
        }
        let typed: Self
        switch type {
        case .float: typed = ConstantTensor(dims: dims, floats: tensor.floatData)
        case .double: typed = ConstantTensor(dims: dims, floats: tensor.doubleData.map { Float($0) })
        case .float16, .bfloat16:
            typed = ConstantTensor(
                dims: dims, floats: tensor.int32Data.map { Self.halfToFloat(UInt16(truncatingIfNeeded: $0), type) })
        case .int64: typed = ConstantTensor(dims: dims, ints: tensor.int64Data)
        case .uint32, .uint64: typed = ConstantTensor(dims: dims, ints: tensor.uint64Data)
        case .uint8, .int8, .uint16, .int16, .int32, .bool: typed = ConstantTensor(dims: dims, ints: tensor.int32Data)
        }
        guard typed.count == count else {
            throw EdgeQError(.invalidModel, "\(what) has \(typed.count) elements, shape \(dims) needs \(count)")
        }
        self = typed
    }

    private static func decodeRaw(_ raw: ArraySlice<UInt8>, type: ONNXDataType, dims: [Int], count: Int)
        -> ConstantTensor
    {
        raw.withUnsafeBytes { buffer in
            func load<T: FixedWidthInteger>(_: T.Type, _ index: Int) -> T {
                T(littleEndian: buffer.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
            }
            func floats(_ element: (Int) -> Float) -> ConstantTensor {
                ConstantTensor(dims: dims, floats: (0..<count).map(element))
            }
            func ints(_ element: (Int) -> Int64) -> ConstantTensor {
                ConstantTensor(dims: dims, ints: (0..<count).map(element))
            }
            switch type {
            case .float: return floats { Float(bitPattern: load(UInt32.self, $0)) }
            case .double: return floats { Float(Double(bitPattern: load(UInt64.self, $0))) }
            case .float16, .bfloat16: return floats { halfToFloat(load(UInt16.self, $0), type) }
            case .uint8: return ints { Int64(load(UInt8.self, $0)) }
            case .int8: return ints { Int64(load(Int8.self, $0)) }
            case .bool: return ints { load(UInt8.self, $0) == 0 ? 0 : 1 }
            case .uint16: return ints { Int64(load(UInt16.self, $0)) }
            case .int16: return ints { Int64(load(Int16.self, $0)) }
            case .int32: return ints { Int64(load(Int32.self, $0)) }
            case .uint32: return ints { Int64(load(UInt32.self, $0)) }
            case .int64: return ints { load(Int64.self, $0) }
            case .uint64: return ints { Int64(bitPattern: load(UInt64.self, $0)) }
            }
        }
    }

    /// float16 or bfloat16 bits to Float.
    private static func halfToFloat(_ bits: UInt16, _ type: ONNXDataType) -> Float {
        type == .bfloat16 ? Float(bitPattern: UInt32(bits) << 16) : Float(Float16(bitPattern: bits))
    }
}
