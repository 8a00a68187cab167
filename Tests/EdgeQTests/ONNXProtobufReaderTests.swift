import EdgeQ
import XCTest

@testable import EdgeQQuantizer

/// Protobuf bytes written by hand, for the reader tests.
private enum Wire {
    static func varint(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        return bytes + [UInt8(rest)]
    }

    static func tag(_ field: Int, _ wireType: UInt8) -> [UInt8] { varint(UInt64(field) << 3 | UInt64(wireType)) }
    static func varint(_ field: Int, _ value: UInt64) -> [UInt8] { tag(field, 0) + varint(value) }
    static func bytes(_ field: Int, _ payload: [UInt8]) -> [UInt8] {
        tag(field, 2) + varint(UInt64(payload.count)) + payload
    }
    static func string(_ field: Int, _ text: String) -> [UInt8] { bytes(field, Array(text.utf8)) }
    static func fixed32(_ field: Int, _ value: UInt32) -> [UInt8] { tag(field, 5) + littleEndian(value) }
    static func fixed64(_ field: Int, _ value: UInt64) -> [UInt8] { tag(field, 1) + littleEndian(value) }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }
}

final class ONNXProtobufReaderTests: XCTestCase {
    private func readOneVarint(_ bytes: [UInt8]) throws(EdgeQError) -> UInt64 {
        var reader = ProtobufReader(bytes, message: "Test")
        _ = try reader.nextField()
        return try reader.readUInt64()
    }

    private func error<T>(_ body: () throws(EdgeQError) -> T) -> EdgeQError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    func testVarintsUpToTenBytes() throws {
        for value: UInt64 in [0, 1, 127, 128, 300, 1 << 35, UInt64(UInt32.max), UInt64.max - 1, UInt64.max] {
            XCTAssertEqual(try readOneVarint(Wire.varint(1, value)), value)
        }
        XCTAssertEqual(Wire.varint(UInt64.max).count, 10)
    }

    func testVarintOverflowAndTruncation() {
        let overflowing = Wire.tag(1, 0) + [UInt8](repeating: 0xFF, count: 9) + [0x02]
        let elevenBytes = Wire.tag(1, 0) + [UInt8](repeating: 0xFF, count: 10) + [0x01]
        let truncated = Wire.tag(1, 0) + [0x80, 0x80]
        for (bytes, problem) in [
            (overflowing, "longer than 64 bits"), (elevenBytes, "longer than 64 bits"), (truncated, "truncated varint"),
        ] {
            let failure = error { () throws(EdgeQError) in try readOneVarint(bytes) }
            XCTAssertEqual(failure?.kind, .invalidModel)
            XCTAssertTrue(failure?.message.contains(problem) ?? false, failure?.message ?? "no error")
            XCTAssertTrue(
                failure?.message.contains("field 1 of Test at byte 1") ?? false, failure?.message ?? "no error")
        }
    }

    func testNegativeInt32IsSignExtended() throws {
        var reader = ProtobufReader(Wire.varint(2, UInt64(bitPattern: -5)), message: "Test")
        _ = try reader.nextField()
        XCTAssertEqual(try reader.readInt32(), -5)
    }

    func testUnknownFieldsOfEveryWireTypeAreSkipped() throws {
        let bytes =
            Wire.varint(15, 1 << 40) + Wire.fixed64(16, 7) + Wire.bytes(17, [1, 2, 3]) + Wire.fixed32(18, 9)
            + Wire.string(3, "conv") + Wire.bytes(1000, []) + Wire.string(4, "Conv")
        let node = try ONNXNode(from: ProtobufReader(bytes, message: "NodeProto"))
        XCTAssertEqual(node.name, "conv")
        XCTAssertEqual(node.opType, "Conv")
    }

    func testMalformedTagsAreErrors() {
        let cases: [([UInt8], String)] = [
            (Wire.tag(20, 3) + Wire.tag(20, 4), "groups"),
            (Wire.tag(20, 6), "invalid wire type 6"),
            (Wire.tag(20, 7), "invalid wire type 7"),
            ([0x00], "invalid field number 0"),
            (Wire.varint(3, 5), "wire type 0, expected 2"),
        ]
        for (bytes, problem) in cases {
            let failure = error { () throws(EdgeQError) in
                try ONNXNode(from: ProtobufReader(bytes, message: "NodeProto"))
            }
            XCTAssertEqual(failure?.kind, .invalidModel)
            XCTAssertTrue(
                failure?.message.contains(problem) ?? false, "\(failure?.message ?? "no error") lacks \(problem)")
        }
    }

    func testLengthsPastTheEndAreErrors() {
        let truncated = Wire.string(3, "ab") + Wire.tag(4, 2) + Wire.varint(10) + [1, 2, 3]
        let hostile = Wire.tag(4, 2) + Wire.varint(UInt64.max / 2)
        let cases: [([UInt8], String)] = [
            (
                truncated,
                "length 10 runs past the end of the message (3 bytes left) (reading field 4 of NodeProto at byte 5)"
            ),
            (hostile, "runs past the end"),
        ]
        for (bytes, problem) in cases {
            let failure = error { () throws(EdgeQError) in
                try ONNXNode(from: ProtobufReader(bytes, message: "NodeProto"))
            }
            XCTAssertTrue(
                failure?.message.contains(problem) ?? false, "\(failure?.message ?? "no error") lacks \(problem)")
        }
        // An attribute's tensor whose packed float_data has 3 bytes.
        let packedFailure = error { () throws(EdgeQError) in
            try ONNXAttribute(
                from: ProtobufReader(Wire.bytes(5, Wire.bytes(4, [0, 0, 128])), message: "AttributeProto"))
        }
        XCTAssertTrue(
            packedFailure?.message.contains("not a multiple of 4") ?? false, packedFailure?.message ?? "no error")
    }

    func testPackedAndUnpackedRepeatedFieldsAgree() throws {
        let floats: [Float] = [1.5, -2, 0.25, 8, 3, 0]
        let packed =
            Wire.bytes(1, Wire.varint(2) + Wire.varint(3)) + Wire.varint(2, 1)
            + Wire.bytes(4, floats.flatMap { Wire.littleEndian($0.bitPattern) })
        let unpacked =
            Wire.varint(1, 2) + Wire.varint(1, 3) + Wire.varint(2, 1)
            + floats.flatMap { Wire.fixed32(4, $0.bitPattern) }
        for bytes in [packed, unpacked] {
            let tensor = try ConstantTensor(decoding: ONNXTensor(from: ProtobufReader(bytes, message: "TensorProto")))
            XCTAssertEqual(tensor.dims, [2, 3])
            XCTAssertEqual(tensor.floats, floats)
        }
    }

    func testTensorDataTypes() throws {
        func tensor(_ dataType: UInt64, raw: [UInt8], dims: [UInt64] = [2]) throws(EdgeQError) -> ConstantTensor {
            let bytes = dims.flatMap { Wire.varint(1, $0) } + Wire.varint(2, dataType) + Wire.bytes(9, raw)
            return try ConstantTensor(decoding: ONNXTensor(from: ProtobufReader(bytes, message: "TensorProto")))
        }
        XCTAssertEqual(
            try tensor(7, raw: Wire.littleEndian(Int64(-3)) + Wire.littleEndian(Int64(1) << 40)).ints, [-3, 1 << 40])
        XCTAssertEqual(try tensor(6, raw: Wire.littleEndian(Int32(-7)) + Wire.littleEndian(Int32(9))).ints, [-7, 9])
        XCTAssertEqual(try tensor(10, raw: [0x00, 0x3C, 0x00, 0xC0]).floats, [1, -2], "float16")
        XCTAssertEqual(try tensor(16, raw: [0x80, 0x3F, 0x40, 0x40]).floats, [1, 3], "bfloat16")
        XCTAssertEqual(
            try tensor(11, raw: Wire.littleEndian((0.5).bitPattern) + Wire.littleEndian((-4.0).bitPattern)).floats,
            [0.5, -4])
        XCTAssertEqual(try tensor(9, raw: [0, 2], dims: [2]).ints, [0, 1], "bool")

        let wrongSize = error { () throws(EdgeQError) in try tensor(1, raw: [0, 0, 0]) }
        XCTAssertEqual(wrongSize?.kind, .invalidModel)
        let hugeDims = error { () throws(EdgeQError) in try tensor(1, raw: [], dims: [1 << 40, 1 << 40]) }
        XCTAssertEqual(hugeDims?.kind, .invalidModel)
        let strings = error { () throws(EdgeQError) in try tensor(8, raw: []) }
        XCTAssertEqual(strings?.kind, .unsupported)
    }

    func testExternalDataIsUnsupported() {
        for location in [Wire.varint(14, 1), Wire.bytes(13, Wire.string(1, "location") + Wire.string(2, "w.bin"))] {
            let bytes = Wire.string(8, "w") + Wire.varint(2, 1) + location
            let failure = error { () throws(EdgeQError) in
                try ONNXTensor(from: ProtobufReader(bytes, message: "TensorProto"))
            }
            XCTAssertEqual(failure?.kind, .unsupported)
            XCTAssertEqual(failure?.message, "external data tensors are not supported: tensor 'w'")
        }
    }

    func testValueInfoShapes() throws {
        let dims = Wire.bytes(1, Wire.string(2, "batch")) + Wire.bytes(1, Wire.varint(1, 3)) + Wire.bytes(1, [])
        let tensorType = Wire.varint(1, 1) + Wire.bytes(2, dims)
        let bytes = Wire.string(1, "input") + Wire.bytes(2, Wire.bytes(1, tensorType) + Wire.string(6, "image"))
        let info = try ONNXValueInfo(from: ProtobufReader(bytes, message: "ValueInfoProto"))
        XCTAssertEqual(info.name, "input")
        XCTAssertEqual(info.elementType, 1)
        XCTAssertEqual(info.shape, [.parameter("batch"), .value(3), .unknown])
    }
}
