import Foundation
import XCTest
@testable import EdgeQ
@testable import EdgeQQuantizer

/// Damaged and unsupported inputs through the `edgeq` executable: each gives exit status 1, one line on
/// stderr that names the problem, and no crash.
final class BadInputTests: XCTestCase {
    static let directory = try! TestData.temporaryDirectory()

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = Self.directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func assertFails(_ arguments: [String], mentioning fragments: [String], file: StaticString = #filePath,
                     line: UInt = #line) throws {
        let result = try TestData.run(arguments)
        XCTAssertEqual(result.status, 1, "exit status of \(arguments)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.hasPrefix("error: "), result.stderr, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(result.stderr.contains(fragment), "'\(result.stderr)' lacks '\(fragment)'", file: file,
                          line: line)
        }
        print("\(arguments.first!) \(URL(fileURLWithPath: arguments[1]).lastPathComponent): \(result.stderr)", terminator: "")
    }

    /// A small valid model (the planner tests' conv net) and a valid image for it.
    func validModel() throws -> (eqm: [UInt8], path: String) {
        let (graph, weights) = TinyModels.convNet()
        let bytes = serializeEQM(graph, weights: weights)
        return (bytes, try write("valid.eqm", bytes))
    }

    func testTruncatedONNX() throws {
        let onnx = try ONNXTestFiles.fixture("squeeze_excite.onnx")
        let path = try write("truncated.onnx", Array(onnx.prefix(onnx.count * 2 / 3)))
        try assertFails(["convert", path, "-o", Self.directory.appendingPathComponent("never.eqm").path],
                        mentioning: ["invalid model", "truncated.onnx"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent("never.eqm").path))
    }

    func testONNXWithUnknownOperator() throws {
        let path = ONNXTestFiles.fixtures.appendingPathComponent("error_unsupported_op.onnx").path
        try assertFails(["inspect", path], mentioning: ["unsupported ONNX operator", "opset"])
    }

    func testTruncatedEQM() throws {
        let (bytes, _) = try validModel()
        let path = try write("truncated.eqm", Array(bytes.prefix(bytes.count / 2)))
        try assertFails(["inspect", path], mentioning: ["truncated", "truncated.eqm"])
    }

    func testEQMWithOneFlippedByte() throws {
        var (bytes, _) = try validModel()
        bytes[bytes.count / 2] ^= 0x10
        let path = try write("flipped.eqm", bytes)
        try assertFails(["bench", path, "--runs", "1"], mentioning: ["checksum"])
    }

    func testTruncatedJPEG() throws {
        let (_, model) = try validModel()
        let jpeg = try ONNXTestFiles.bytes(TestData.fixture("images/q420_80x60.jpg"))
        let path = try write("truncated.jpg", Array(jpeg.prefix(jpeg.count / 2)))
        try assertFails(["run", model, path], mentioning: ["invalid image", "truncated"])
    }

    func testProgressiveJPEG() throws {
        let (_, model) = try validModel()
        let path = TestData.fixture("images/progressive_37x23.jpg").path
        try assertFails(["run", model, path], mentioning: ["unsupported", "progressive"])
    }

    func testFileThatIsNotAnImage() throws {
        let (_, model) = try validModel()
        let path = try write("notes.jpg", Array("%PDF-1.4 this is not an image\n".utf8))
        try assertFails(["run", model, path], mentioning: ["not a JPEG or PPM image"])
    }

    func testTensorOfTheWrongSize() throws {
        let (_, model) = try validModel()
        let path = try write("wrong.f32", [UInt8](repeating: 0, count: 100))
        try assertFails(["run", model, path], mentioning: ["invalid input", "float32 tensor [1,3,9,9]"])
    }

    func testMissingFile() throws {
        try assertFails(["inspect", Self.directory.appendingPathComponent("missing.eqm").path],
                        mentioning: ["cannot read", "No such file"])
    }

    func testUsageErrorsExitWithStatus2() throws {
        let result = try TestData.run(["run", "--frobnicate"])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("unknown option '--frobnicate'"), result.stderr)
    }

    func testHelpExplainsEveryCommand() throws {
        let result = try TestData.run(["--help"])
        XCTAssertEqual(result.status, 0)
        for command in ["convert", "run", "eval", "bench", "inspect", "demo"] {
            XCTAssertTrue(result.stdout.contains("  " + command), "--help lacks \(command)")
            let help = try TestData.run([command, "--help"])
            XCTAssertEqual(help.status, 0)
            XCTAssertTrue(help.stdout.hasPrefix("Usage: edgeq " + command), help.stdout)
        }
    }
}
