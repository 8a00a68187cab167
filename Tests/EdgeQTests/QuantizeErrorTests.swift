import Foundation
import XCTest

/// `edgeq quantize` on bad calibration input: clear one-line errors, nothing written.
final class QuantizeErrorTests: XCTestCase {
    static let directory = try! TestData.temporaryDirectory()
    let model = TestData.fixture("onnx/squeeze_excite.onnx").path

    func folder(_ name: String, files: [String: [UInt8]]) throws -> String {
        let url = Self.directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (file, bytes) in files { try Data(bytes).write(to: url.appendingPathComponent(file)) }
        return url.path
    }

    func image() throws -> [UInt8] { [UInt8](try Data(contentsOf: TestData.fixture("images/q420_80x60.jpg"))) }

    func quantize(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String, wrote: Bool) {
        let output = Self.directory.appendingPathComponent(UUID().uuidString + ".eqm").path
        let result = try TestData.run(["quantize", model, "-o", output] + arguments)
        return (result.status, result.stdout, result.stderr, FileManager.default.fileExists(atPath: output))
    }

    func testEmptyCalibrationFolder() throws {
        let empty = try folder("empty", files: ["notes.txt": Array("no images here".utf8)])
        let result = try quantize(["--calib", empty])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("has no JPEG or PPM images"), result.stderr)
        XCTAssertFalse(result.wrote)
    }

    func testUndecodableImageStopsUnlessSkipped() throws {
        let mixed = try folder("mixed", files: ["a.jpg": try image(), "b.jpg": Array("not a jpeg".utf8)])
        let stopped = try quantize(["--calib", mixed])
        XCTAssertEqual(stopped.status, 1)
        XCTAssertTrue(stopped.stderr.contains("b.jpg") && stopped.stderr.contains("--skip-bad"), stopped.stderr)
        XCTAssertFalse(stopped.wrote)

        let skipped = try quantize(["--calib", mixed, "--skip-bad"])
        XCTAssertTrue(skipped.stderr.contains("warning: skipping") && skipped.stderr.contains("b.jpg"), skipped.stderr)
        XCTAssertEqual(skipped.status, 0, skipped.stderr)
        XCTAssertTrue(skipped.wrote)
    }

    func testTableNamingAMissingTensor() throws {
        let table = Self.directory.appendingPathComponent("ranges.tsv")
        try "tensor\tlo\thi\tmethod\nno_such_tensor\t-1\t1\tminmax\n".write(to: table, atomically: true, encoding: .utf8)
        let result = try quantize(["--table-in", table.path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("'no_such_tensor', which the model does not have"), result.stderr)
        XCTAssertFalse(result.wrote)
    }

    func testMalformedTableNamesTheLine() throws {
        let table = Self.directory.appendingPathComponent("bad.tsv")
        try "tensor\tlo\thi\tmethod\nx\tone\t1\tminmax\n".write(to: table, atomically: true, encoding: .utf8)
        let result = try quantize(["--table-in", table.path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("line 2"), result.stderr)
    }

    func testUnknownMethod() throws {
        let result = try quantize(["--calib", try folder("one", files: ["a.jpg": try image()]), "--method", "magic"])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("--method is minmax, percentile, entropy or mse"), result.stderr)
    }
}
