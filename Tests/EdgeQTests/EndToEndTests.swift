import Foundation
import XCTest
@testable import EdgeQ

/// The real models in ../shared against ONNX Runtime's outputs, through the `edgeq` executable as a user
/// runs it. Expected values come from ../shared (ONNX Runtime), never from EdgeQ itself.
final class EndToEndTests: XCTestCase {
    static let models = ["mobilenetv2-1.0-dequantized", "ghostnet-1.0-random-init"]

    /// Converts each model once per test run into a temporary folder.
    static var converted: [String: URL] = [:]
    static let workDirectory = try! TestData.temporaryDirectory()

    func convertedModel(_ name: String) throws -> URL {
        if let url = Self.converted[name] { return url }
        let onnx = try TestData.shared("models/\(name).onnx")
        let eqm = Self.workDirectory.appendingPathComponent("\(name).eqm")
        let result = try TestData.run(["convert", onnx.path, "-o", eqm.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        Self.converted[name] = eqm
        return eqm
    }

    func referenceStems() throws -> [String] {
        let inputs = try TestData.shared("models/reference/inputs")
        return try FileManager.default.contentsOfDirectory(atPath: inputs.path)
            .filter { $0.hasSuffix(".input.f32") }.map { String($0.dropLast(".input.f32".count)) }.sorted()
    }

    /// `edgeq run MODEL.eqm X.input.f32 --logits out.f32` against ONNX Runtime's logits:
    /// |out - ref| <= 1e-3 + 1e-4 |ref| element-wise (float sums in another order; the reference README
    /// measured 3.1e-5 between PyTorch and ONNX Runtime) and identical top-5.
    func testLogitsMatchONNXRuntimeOnReferenceInputs() throws {
        let stems = try referenceStems()
        XCTAssertEqual(stems.count, 8)
        for model in Self.models {
            let eqm = try convertedModel(model)
            var worst: Float = 0
            for stem in stems {
                let input = try TestData.shared("models/reference/inputs/\(stem).input.f32")
                let reference = try TestData.floats(try TestData.shared("models/reference/\(model)/\(stem).logits.f32"))
                let out = Self.workDirectory.appendingPathComponent("\(model)-\(stem).f32")
                let result = try TestData.run(["run", eqm.path, input.path, "--logits", out.path])
                XCTAssertEqual(result.status, 0, result.stderr)
                let logits = try TestData.floats(out)
                XCTAssertEqual(logits.count, 1000)
                for (o, r) in zip(logits, reference) {
                    worst = max(worst, abs(o - r))
                    XCTAssertLessThanOrEqual(abs(o - r), 1e-3 + 1e-4 * abs(r), "\(model) \(stem)")
                }
                XCTAssertEqual(topIndices(logits, 5), topIndices(reference, 5), "\(model) \(stem) top-5")
            }
            print("\(model): max |logit - ONNX Runtime| over 8 inputs = \(worst)")
        }
    }

    /// `edgeq eval` with EdgeQ's own JPEG decoding on both image folders: MobileNetV2 top-1 within ±0.5 points
    /// of ONNX Runtime's, and top-1 identical to ONNX Runtime's predictions on at least 99 % of images.
    func testEvalMatchesONNXRuntimeOnImageFolders() throws {
        let expectedTop1: [String: Double] = ["eval": 85.00, "val-eval": 80.46]
        for folder in ["eval", "val-eval"] {
            let images = try TestData.shared("imagenet/\(folder)")
            let predictions = Self.workDirectory.appendingPathComponent("\(folder)-predictions.tsv")
            let models = try Self.models.map { try convertedModel($0).path }
            let result = try TestData.run(["eval"] + models + ["--images", images.path, "--json",
                                           "--predictions", predictions.path])
            XCTAssertEqual(result.status, 0, result.stderr)
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
            let entries = json["models"] as! [[String: Any]]
            let top1 = entries[0]["top1"] as! Double
            XCTAssertEqual(top1, expectedTop1[folder]!, accuracy: 0.5, "MobileNetV2 top-1 on \(folder)")
            print("\(folder): \(result.stdout)")

            let rows = try String(contentsOf: predictions, encoding: .utf8).split(separator: "\n").dropFirst()
                .map { $0.split(separator: "\t").map(String.init) }
            for (m, model) in Self.models.enumerated() {
                let reference = try referenceTop1(model, folder)
                var agree = 0
                for row in rows where reference[row[0]] == Int(row[2 + 2 * m]) { agree += 1 }
                XCTAssertEqual(rows.count, reference.count)
                let percent = Double(agree) * 100 / Double(rows.count)
                print("\(model) on \(folder): top-1 identical to ONNX Runtime on \(agree)/\(rows.count) = \(percent)%")
                XCTAssertGreaterThanOrEqual(percent, 99.0, "\(model) on \(folder)")
            }
        }
    }

    func referenceTop1(_ model: String, _ folder: String) throws -> [String: Int] {
        let url = try TestData.shared("models/reference/\(model)/\(folder)-top5.tsv")
        var table: [String: Int] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst() {
            let fields = line.split(separator: "\t")
            table[String(fields[0])] = Int(fields[2])
        }
        return table
    }
}

/// Indices of the k largest values, largest first: an independent twin of the CLI's top-k.
func topIndices(_ values: [Float], _ k: Int) -> [Int] {
    Array(values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(k))
}
