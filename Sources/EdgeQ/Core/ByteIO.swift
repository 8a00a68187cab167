/// Little-endian reading with a bounds check on every access: a hostile or truncated file becomes an
/// `EdgeQError(.invalidModel)` naming what was being read and where, never an out-of-bounds read.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int
    public let end: Int
    /// Names the thing being read in error messages ("model file", "section NODES").
    public let context: String

    public init(_ bytes: UnsafeRawBufferPointer, from start: Int = 0, to end: Int? = nil, context: String) {
        self.bytes = bytes
        self.offset = start
        self.end = end ?? bytes.count
        self.context = context
    }

    public var remaining: Int { end - offset }

    public func fail(_ what: String) -> EdgeQError {
        EdgeQError(.invalidModel, context + ": " + what + " at byte " + String(offset))
    }

    mutating func take(_ count: Int, _ what: String) throws(EdgeQError) -> Int {
        guard count >= 0, count <= remaining else {
            throw fail("truncated while reading " + what + " (" + String(count) + " bytes needed, "
                + String(remaining) + " left)")
        }
        let start = offset
        offset += count
        return start
    }

    public mutating func u8(_ what: String) throws(EdgeQError) -> UInt8 {
        bytes[try take(1, what)]
    }

    public mutating func u16(_ what: String) throws(EdgeQError) -> UInt16 {
        UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(2, what), as: UInt16.self))
    }

    public mutating func u32(_ what: String) throws(EdgeQError) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(4, what), as: UInt32.self))
    }

    public mutating func i32(_ what: String) throws(EdgeQError) -> Int32 {
        Int32(bitPattern: try u32(what))
    }

    public mutating func u64(_ what: String) throws(EdgeQError) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(8, what), as: UInt64.self))
    }

    public mutating func f32(_ what: String) throws(EdgeQError) -> Float {
        Float(bitPattern: try u32(what))
    }

    /// A count that must fit in what is left, given the smallest encoding of one element.
    public mutating func count(_ what: String, elementSize: Int) throws(EdgeQError) -> Int {
        let n = Int(try u32(what))
        guard n <= remaining / max(elementSize, 1) else {
            throw fail(what + " " + String(n) + " exceeds the remaining data")
        }
        return n
    }

    public mutating func string(_ what: String) throws(EdgeQError) -> String {
        let length = try count(what + " length", elementSize: 1)
        let start = try take(length, what)
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]), as: UTF8.self)
    }
}

public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public var count: Int { bytes.count }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { append(v.littleEndian) }
    public mutating func u32(_ v: UInt32) { append(v.littleEndian) }
    public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    public mutating func u64(_ v: UInt64) { append(v.littleEndian) }
    public mutating func f32(_ v: Float) { u32(v.bitPattern) }

    public mutating func string(_ s: String) {
        var utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
        utf8.removeAll()
    }

    public mutating func bytes(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    public mutating func pad(toMultipleOf alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    public mutating func patchU64(at offset: Int, _ v: UInt64) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }

    public mutating func patchU32(at offset: Int, _ v: UInt32) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }

    private mutating func append<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) }
    }
}

/// CRC-32 (IEEE 802.3 polynomial, as zlib), slicing-by-4 so that checking a 14 MB model costs milliseconds.
public struct CRC32 {
    private static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 4)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<4 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()

    public private(set) var value: UInt32 = 0xFFFF_FFFF

    public init() {}

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        var c = value
        var i = 0
        let n = data.count
        CRC32.tables[0].withUnsafeBufferPointer { t0 in
            CRC32.tables[1].withUnsafeBufferPointer { t1 in
                CRC32.tables[2].withUnsafeBufferPointer { t2 in
                    CRC32.tables[3].withUnsafeBufferPointer { t3 in
                        while i + 4 <= n {
                            c ^= UInt32(littleEndian: data.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                            c = t3[Int(c & 0xFF)] ^ t2[Int((c >> 8) & 0xFF)] ^ t1[Int((c >> 16) & 0xFF)]
                                ^ t0[Int(c >> 24)]
                            i += 4
                        }
                        while i < n {
                            c = t0[Int((c ^ UInt32(data[i])) & 0xFF)] ^ (c >> 8)
                            i += 1
                        }
                    }
                }
            }
        }
        value = c
    }

    public var checksum: UInt32 { value ^ 0xFFFF_FFFF }
}
