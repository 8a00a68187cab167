import EdgeQ

/// Reads one protobuf message in the wire format (https://protobuf.dev/programming-guides/encoding/).
///
/// The reader walks a range of the whole file: nested messages are sub-ranges and byte fields are slices of
/// the same array, so decoding never copies payloads. Every read is checked against the end of the current
/// message, and every error names the message, the field number and the byte offset in the file.
struct ProtobufReader {
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case startGroup = 3
        case endGroup = 4
        case fixed32 = 5
    }

    /// The whole file; `offset` and `end` are positions in it.
    let bytes: [UInt8]
    /// The message type being read, for error messages.
    let message: String
    private(set) var offset: Int
    let end: Int
    private(set) var fieldNumber = 0
    private(set) var wireType = WireType.varint
    /// Where the current field's tag starts.
    private var fieldOffset = 0

    init(_ bytes: [UInt8], message: String) {
        self.init(bytes, message: message, range: bytes.startIndex..<bytes.endIndex)
    }

    private init(_ bytes: [UInt8], message: String, range: Range<Int>) {
        self.bytes = bytes
        self.message = message
        self.offset = range.lowerBound
        self.end = range.upperBound
    }

    /// Reads the next field's tag and returns its number, or nil at the end of the message.
    mutating func nextField() throws(EdgeQError) -> Int? {
        guard offset < end else { return nil }
        fieldOffset = offset
        fieldNumber = 0
        let tag = try readVarint()
        let number = tag >> 3
        guard let wire = WireType(rawValue: UInt8(tag & 7)) else {
            throw failure("invalid wire type \(tag & 7)", at: fieldOffset)
        }
        guard number >= 1 && number <= 0x1FFF_FFFF else {
            throw failure("invalid field number \(number)", at: fieldOffset)
        }
        fieldNumber = Int(number)
        wireType = wire
        return fieldNumber
    }

    /// Skips the current field (one whose number the decoder does not use).
    mutating func skipField() throws(EdgeQError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try take(8)
        case .fixed32: _ = try take(4)
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup:
            // Groups are deprecated and never used by ONNX; skipping one would need a nested scan.
            throw failure("protobuf groups are not supported", at: fieldOffset)
        }
    }

    // MARK: Scalar fields

    mutating func readUInt64() throws(EdgeQError) -> UInt64 {
        try expect(.varint)
        return try readVarint()
    }

    mutating func readInt64() throws(EdgeQError) -> Int64 {
        Int64(bitPattern: try readUInt64())
    }

    /// protobuf `int32` and enums: negative values are sign-extended to ten bytes on the wire.
    mutating func readInt32() throws(EdgeQError) -> Int32 {
        Int32(truncatingIfNeeded: try readUInt64())
    }

    mutating func readFloat() throws(EdgeQError) -> Float {
        try expect(.fixed32)
        return Float(bitPattern: loadFixed32(at: try take(4).lowerBound))
    }

    mutating func readBytes() throws(EdgeQError) -> ArraySlice<UInt8> {
        try expect(.lengthDelimited)
        return bytes[try readLengthDelimited()]
    }

    mutating func readString() throws(EdgeQError) -> String {
        String(decoding: try readBytes(), as: UTF8.self)
    }

    /// A reader for the embedded message in the current field.
    mutating func readMessage(_ type: String) throws(EdgeQError) -> ProtobufReader {
        try expect(.lengthDelimited)
        return ProtobufReader(bytes, message: type, range: try readLengthDelimited())
    }

    // MARK: Repeated scalar fields, packed or not (parsers must accept both encodings)

    /// Appends a repeated int32/int64/uint64 field's values as 64-bit patterns.
    mutating func readVarints(into values: inout [Int64]) throws(EdgeQError) {
        if wireType == .lengthDelimited {
            var packed = ProtobufReader(bytes, message: message, range: try readLengthDelimited())
            packed.fieldNumber = fieldNumber
            while packed.offset < packed.end { values.append(Int64(bitPattern: try packed.readVarint())) }
        } else {
            values.append(try readInt64())
        }
    }

    mutating func readFloats(into values: inout [Float]) throws(EdgeQError) {
        if wireType == .lengthDelimited {
            let range = try packedRange(elementSize: 4)
            values.reserveCapacity(values.count + range.count / 4)
            for position in stride(from: range.lowerBound, to: range.upperBound, by: 4) {
                values.append(Float(bitPattern: loadFixed32(at: position)))
            }
        } else {
            values.append(try readFloat())
        }
    }

    mutating func readDoubles(into values: inout [Double]) throws(EdgeQError) {
        if wireType == .lengthDelimited {
            let range = try packedRange(elementSize: 8)
            values.reserveCapacity(values.count + range.count / 8)
            for position in stride(from: range.lowerBound, to: range.upperBound, by: 8) {
                values.append(Double(bitPattern: loadFixed64(at: position)))
            }
        } else {
            try expect(.fixed64)
            values.append(Double(bitPattern: loadFixed64(at: try take(8).lowerBound)))
        }
    }

    // MARK: Wire primitives

    /// A base-128 varint of at most ten bytes whose value fits in 64 bits.
    private mutating func readVarint() throws(EdgeQError) -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw failure("truncated varint", at: start) }
            let byte = bytes[offset]
            offset += 1
            // The tenth byte holds bit 63 only; anything more overflows 64 bits (or makes an eleventh byte).
            if shift == 63 && byte > 1 { throw failure("varint longer than 64 bits", at: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// The payload range of a length-delimited field; the length is checked before anything uses it.
    private mutating func readLengthDelimited() throws(EdgeQError) -> Range<Int> {
        let start = offset
        let length = try readVarint()
        guard length <= UInt64(end - offset) else {
            throw failure("length \(length) runs past the end of the message (\(end - offset) bytes left)", at: start)
        }
        return try take(Int(length))
    }

    private mutating func packedRange(elementSize: Int) throws(EdgeQError) -> Range<Int> {
        let start = offset
        let range = try readLengthDelimited()
        guard range.count % elementSize == 0 else {
            throw failure("packed field of \(range.count) bytes is not a multiple of \(elementSize)", at: start)
        }
        return range
    }

    /// Consumes `count` bytes and returns their range.
    private mutating func take(_ count: Int) throws(EdgeQError) -> Range<Int> {
        guard count <= end - offset else {
            throw failure("truncated: needs \(count) bytes, \(end - offset) left", at: offset)
        }
        offset += count
        return (offset - count)..<offset
    }

    private func loadFixed32(at position: Int) -> UInt32 {
        bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: UInt32.self)) }
    }

    private func loadFixed64(at position: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: UInt64.self)) }
    }

    private func expect(_ expected: WireType) throws(EdgeQError) {
        guard wireType == expected else {
            throw failure("wire type \(wireType.rawValue), expected \(expected.rawValue)", at: fieldOffset)
        }
    }

    private func failure(_ problem: String, at position: Int) -> EdgeQError {
        let field = fieldNumber == 0 ? "a field tag" : "field \(fieldNumber)"
        return EdgeQError(
            .invalidModel, "malformed ONNX protobuf: \(problem) (reading \(field) of \(message) at byte \(position))")
    }
}
