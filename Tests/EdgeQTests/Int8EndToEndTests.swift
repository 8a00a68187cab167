import Foundation
import XCTest

/// `edgeq quantize` on the real models, then `edgeq eval` against the float model: regression guards on the
/// measured fidelity, and determinism of the whole int8 path.
final class Int8EndToEndTests: XCTestCase {
    static let directory = try! TestData.temporaryDirectory()

    func quantize(_ model: String, _ extra: [String] = [], name: String) throws -> String {
        let onnx = try TestData.shared("models/\(model).onnx").path
        let output = Self.directory.appendingPathComponent(name).path
        let result = try TestData.run(["quantize", onnx, "-o", output] + extra)
        XCTAssertEqual(result.status, 0, result.stderr)
        return output
    }

    /// Calibration on the first `limit` images, without the range search (minutes on these models; its own
    /// tests are in AccuracyRescueTests).
    func calibration(_ limit: Int) throws -> [String] {
        ["--calib", try TestData.shared("imagenet/calib").path, "--calib-limit", String(limit), "--search", "0"]
    }

    /// The second model of `edgeq eval --json` against the first on the first `limit` images of eval/.
    func compare(_ float: String, _ int8: String, limit: Int) throws -> [String: Any] {
        let images = try TestData.shared("imagenet/eval").path
        let result = try TestData.run(["eval", float, int8, "--images", images, "--limit", String(limit), "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let entry = (json["models"] as! [[String: Any]])[1]
        print("\(URL(fileURLWithPath: int8).lastPathComponent): \(entry)")
        return entry
    }

    /// Guards, not the targets: with 64 calibration images MobileNetV2 measured 93-96 % top-1
    /// agreement and 19 dB logit SQNR; GhostNet 76-79 % and 17-19 dB.
    func testQuantizedModelsStayCloseToFloat() throws {
        for (model, agreement, sqnr) in [("mobilenetv2-1.0-dequantized", 90.0, 15.0), ("ghostnet-1.0-random-init", 70.0, 14.0)] {
            let float = try TestData.shared("models/\(model).onnx").path
            let int8 = try quantize(model, try calibration(64), name: "\(model)-int8.eqm")
            let entry = try compare(float, int8, limit: 200)
            XCTAssertGreaterThanOrEqual(entry["top1_agreement"] as! Double, agreement, model)
            XCTAssertGreaterThanOrEqual(entry["logit_sqnr_db"] as! Double, sqnr, model)
        }
    }

    /// Calibrating writes a table; quantizing from that table gives the same file, byte for byte.
    func testRangeTableReproducesTheModel() throws {
        let table = Self.directory.appendingPathComponent("ranges.tsv").path
        let calibrated = try quantize("ghostnet-1.0-random-init", try calibration(8) + ["--table", table],
                                      name: "calibrated.eqm")
        let fromTable = try quantize("ghostnet-1.0-random-init", ["--table-in", table], name: "from-table.eqm")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: calibrated)),
                       try Data(contentsOf: URL(fileURLWithPath: fromTable)))
    }

    /// A kept-float layer is float32 in the written model; a line removed from the table keeps its layer float.
    func testKeepFloatAndTableEditsKeepLayersFloat() throws {
        let kept = try quantize("mobilenetv2-1.0-dequantized", try calibration(8) + ["--keep-float", "/classifier/*"],
                                name: "kept.eqm")
        let inspect = try TestData.run(["inspect", kept])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let classifier = inspect.stdout.split(separator: "\n").first { $0.contains("/classifier/Gemm") }
        XCTAssertNotNil(classifier)
        XCTAssertTrue(classifier!.contains(" f32 "), String(classifier!))
        let stem = inspect.stdout.split(separator: "\n").first { $0.contains("features.0.0/Conv") }
        XCTAssertTrue(stem!.contains(" i8 "), String(stem!))
    }

    /// --float-first-stage on: the layers at MobileNetV2's largest resolution (112x112: the stem, features.1 and
    /// features.2's expansion) are float32, the first downsampling layer after them int8; and the logits are
    /// closer to float than the all-int8 model's from the same calibration (measured 18.6 -> 19.2 dB here, on 8
    /// images without the range search; 20.6 -> 22.6 dB with the search on 200 images).
    func testFloatFirstStageKeepsTheLargestResolutionFloat() throws {
        let int8 = try quantize("mobilenetv2-1.0-dequantized", try calibration(8), name: "all-int8.eqm")
        let mixed = try quantize("mobilenetv2-1.0-dequantized", try calibration(8) + ["--float-first-stage", "on"],
                                 name: "first-stage.eqm")
        let inspect = try TestData.run(["inspect", mixed])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        func dtype(_ layer: String) -> Substring? {
            let line = inspect.stdout.split(separator: "\n").first { $0.contains(layer) }
            return line?.split(separator: " ").first { $0 == "f32" || $0 == "i8" }
        }
        for layer in ["features.0.0/Conv", "features.1/conv/conv.0/conv.0.0/Conv", "features.1/conv/conv.1/conv.1.0/Conv",
                      "features.2/conv/conv.0/conv.0.0/Conv"] {
            XCTAssertEqual(dtype(layer), "f32", layer)
        }
        XCTAssertEqual(dtype("features.2/conv/conv.1/conv.1.0/Conv"), "i8")
        XCTAssertEqual(dtype("features.3/conv/conv.0/conv.0.0/Conv"), "i8")
        let float = try TestData.shared("models/mobilenetv2-1.0-dequantized.onnx").path
        let all = try compare(float, int8, limit: 100)["logit_sqnr_db"] as! Double
        let firstStageFloat = try compare(float, mixed, limit: 100)["logit_sqnr_db"] as! Double
        XCTAssertGreaterThan(firstStageFloat, all)
    }

    /// `eval --layers` lists every tensor the two models share with its SQNR; a tensor identical in both
    /// (the float input) is infinitely close, a quantized one finitely.
    func testEvalLayersReportsPerTensorSQNR() throws {
        let float = try TestData.shared("models/ghostnet-1.0-random-init.onnx").path
        let int8 = try quantize("ghostnet-1.0-random-init", try calibration(8), name: "layers.eqm")
        let images = try TestData.shared("imagenet/eval").path
        let result = try TestData.run(["eval", float, int8, "--images", images, "--limit", "3", "--layers"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = result.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") || $0.hasPrefix(" ") }
            .map { $0.split(separator: " ") }.filter { $0.count == 4 }
        let input = rows.first { $0[1] == "input" }
        XCTAssertEqual(input?[3], "inf", result.stdout)
        let quantized = rows.filter { $0[2] == "i8" }
        XCTAssertGreaterThan(quantized.count, 50, result.stdout)
        XCTAssertTrue(quantized.allSatisfy { Double($0[3]).map { $0.isFinite } ?? false }, result.stdout)
    }

    /// int8 inference is integer arithmetic plus one rounding rule: the same input gives the same bytes.
    func testInt8LogitsAreDeterministic() throws {
        let int8 = try quantize("ghostnet-1.0-random-init", try calibration(8), name: "deterministic.eqm")
        let input = try TestData.shared("models/reference/inputs/n01491361_tiger_shark.input.f32").path
        var outputs: [Data] = []
        for run in 0..<2 {
            let out = Self.directory.appendingPathComponent("logits-\(run).f32")
            let result = try TestData.run(["run", int8, input, "--logits", out.path])
            XCTAssertEqual(result.status, 0, result.stderr)
            outputs.append(try Data(contentsOf: out))
        }
        XCTAssertEqual(outputs[0], outputs[1])
    }
}
