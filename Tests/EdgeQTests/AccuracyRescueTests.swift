import EdgeQ
import EdgeQCalibration
import XCTest

@testable import EdgeQQuantizer

/// Cross-layer equalization, bias correction and range search on GhostNet (the model with pairs of layers
/// joined by ReLU or nothing) with a few calibration images.
final class AccuracyRescueTests: XCTestCase {
    func ghostNet() throws -> (ImportGraph, String) {
        let bytes = [UInt8](try Data(contentsOf: try TestData.shared("models/ghostnet-1.0-random-init.onnx")))
        return try importONNXGraph(bytes)
    }

    func calibration(_ count: Int) throws -> CalibrationInputs {
        let images = try calibrationImages(in: try TestData.shared("imagenet/calib").path, limit: count)
        return try CalibrationInputs(images, size: 224, skipBad: false, report: { _ in })
    }

    func logits(_ graph: ImportGraph, _ producer: String, _ input: [Float], plan: QuantizationPlan? = nil) throws -> [Float] {
        let interpreter = try Interpreter(model: try Model(importGraph: graph, producer: producer, quantization: plan))
        interpreter.run(input)
        return interpreter.output()
    }

    /// Equalization changes weights but not the float model's function (ReLU(x/s) = ReLU(x)/s); afterwards each
    /// pair's output-channel range of the first layer equals the input-channel range of the second.
    func testEqualizationKeepsTheFloatFunction() throws {
        var (graph, producer) = try ghostNet()
        let input = try calibration(1).input(0)
        let before = try logits(graph, producer, input)
        XCTAssertEqual(graph.equalizeCrossLayer(), 14)
        let after = try logits(graph, producer, input)
        // Float sums in another order and scales rounded to float: relative 1e-4 of the largest logit.
        let scale = before.map(abs).max()!
        for (a, b) in zip(after, before) { XCTAssertEqual(a, b, accuracy: 1e-4 * scale) }
        // Equalizing again finds every pair already balanced: scales of 1 within rounding.
        var again = graph
        _ = again.equalizeCrossLayer()
        for (node, equalized) in zip(again.nodes, graph.nodes) {
            guard case .conv(_, let w1, _) = node.op, case .conv(_, let w0, _) = equalized.op else { continue }
            for (x, y) in zip(w1, w0) { XCTAssertEqual(x, y, accuracy: 1e-5 * max(abs(y), 1e-3)) }
        }
    }

    /// After bias correction the int8 model's per-channel output means on the calibration images are closer to
    /// float's than before, over the layers without an activation (where the correction is exact).
    func testBiasCorrectionMatchesTheMeansOfLinearLayers() throws {
        var (graph, producer) = try ghostNet()
        let images = try calibration(4)
        let inputs = try images.inputs()
        let ranges = try ranges(graph, producer, images)
        let plan = QuantizationPlan(graph, ranges: ranges, options: QuantizationOptions())
        let layers = correctableLayers(graph, plan).filter { $0.activation.kind == .none }
        let names = layers.map { graph.tensors[graph.nodes[$0.node].output].name }
        let channels = layers.map { graph.tensors[graph.nodes[$0.node].output].dims[1] }
        // The float model before correction is the reference (correction edits the float biases it quantizes).
        let f = try layerSums(graph.emit(producer: producer), names, channels: channels, activations: nil, inputs: inputs)
        func meanErrors(_ graph: ImportGraph) throws -> [Double] {
            let q = try layerSums(graph.emit(producer: producer, quantization: plan), names, channels: channels,
                                  activations: nil, inputs: inputs)
            return zip(f, q).map { f, q in zip(f.sums, q.sums).map { abs($0 - $1) }.reduce(0, +) / f.count }
        }
        let before = try meanErrors(graph)
        try graph.correctBiases(plan: plan, producer: producer, calibration: images, progress: { _, _, _ in })
        let after = try meanErrors(graph)
        XCTAssertGreaterThan(layers.count, 20)
        // Per layer it can stay or grow where outputs are rounded near-constants (a shift smaller than the step
        // does not move them), so the test is on the sum over layers.
        print("mean |float - int8| output mean per channel, summed over layers: before", before.reduce(0, +),
              "after", after.reduce(0, +))
        XCTAssertLessThan(after.reduce(0, +), 0.5 * before.reduce(0, +))
    }

    /// The range search keeps only changes that lower the logits' squared error on its images, and finds some.
    func testRangeSearchNeverIncreasesTheLogitError() throws {
        let (graph, producer) = try ghostNet()
        let images = try calibration(4)
        let inputs = try images.inputs()
        let statistics = try collectStatistics(graph.emit(producer: producer), calibration: images, progress: { _, _ in })
        let entries = graph.tensors.compactMap { t -> RangeTable.Entry? in
            guard let s = statistics[t.name] else { return nil }
            return RangeTable.Entry(name: t.name, range: try! RangeMethod.percentile(99.99).range(for: s),
                                    method: RangeMethod.percentile(99.99).description)
        }
        // The first 12 tensors only (a tensor without statistics is not searched): the test's time.
        let searchable = statistics.filter { name, _ in entries.prefix(12).contains { $0.name == name } }
        let searched = try graph.searchRanges(entries, statistics: searchable,
                                              inputs: inputs, producer: producer, options: QuantizationOptions(),
                                              progress: { _, _, _ in })
        func error(_ entries: [RangeTable.Entry]) throws -> Double {
            var ranges: [String: ActivationRange] = [:]
            for e in entries { ranges[e.name] = e.range }
            let plan = QuantizationPlan(graph, ranges: ranges, options: QuantizationOptions())
            var total = 0.0
            for input in inputs {
                let f = try logits(graph, producer, input), q = try logits(graph, producer, input, plan: plan)
                total += zip(f, q).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +)
            }
            return total
        }
        XCTAssertLessThanOrEqual(try error(searched), try error(entries))
        XCTAssertTrue(searched.contains { $0.method.hasSuffix("(searched)") })
    }

    func ranges(_ graph: ImportGraph, _ producer: String, _ images: CalibrationInputs) throws -> [String: ActivationRange] {
        let statistics = try collectStatistics(graph.emit(producer: producer), calibration: images, progress: { _, _ in })
        return try statistics.mapValues { try RangeMethod.percentile(99.99).range(for: $0) }
    }
}
