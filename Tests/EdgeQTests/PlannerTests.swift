import XCTest
@testable import EdgeQ
@testable import EdgeQQuantizer

/// The runtime's plan (arena reuse, concat inputs computed in place, slice and reshape views, copies where a
/// view cannot be used) against plain evaluation with every tensor in its own array.
final class PlannerTests: XCTestCase {
    func assertRuntimeMatchesPlainEvaluation(_ model: ImportedModel, seed: UInt64, file: StaticString = #filePath,
                                            line: UInt = #line) throws {
        let inputShape = model.graph.tensors[model.graph.inputs[0]].shape
        var rng = SplitMix64(seed: seed)
        let x = rng.floats(inputShape.reduce(1, *))
        // The plain evaluator reads activation shapes from the graph; hand-built graphs leave them to inference.
        var withShapes = model
        for (t, shape) in try inferShapes(model.graph).enumerated() { withShapes.graph.tensors[t].shape = shape }
        let expected = ReferenceGraphEvaluator(model: withShapes).run(x)
        let actual = try runWithRuntime(model, x)
        assertClose(actual, expected, absolute: 1e-5, relative: 1e-5, "runtime vs plain", file: file, line: line)
    }

    func testConvNetWithConcatSliceReshapeMatchesPlainEvaluation() throws {
        let (graph, weights) = TinyModels.convNet()
        try assertRuntimeMatchesPlainEvaluation(ImportedModel(graph: graph, weights: weights), seed: 7)
    }

    func testConcatInputsAreComputedInPlace() throws {
        let (graph, weights) = TinyModels.convNet()
        let interpreter = try Interpreter(model: try Model(bytes: serializeEQM(graph, weights: weights)))
        XCTAssertFalse(interpreter.steps.contains { $0.kernel == "f32_copy_channels" })
        let cat = graph.nodes.first { $0.name == "cat" }!
        let views = cat.inputs.map { interpreter.memory.views[$0]! }
        let output = interpreter.memory.views[cat.outputs[0]]!
        XCTAssertEqual(views.map(\.root), [output.root, output.root])
        XCTAssertEqual(views.map(\.elementOffset), [0, 8])
        XCTAssertEqual(views.map(\.pixelStride), [13, 13])
    }

    /// A graph input cannot be computed into a concat, and a reshape of a strided slice needs contiguous data:
    /// both take the copy path.
    func testCopiesWhereViewsCannotServe() throws {
        var rng = SplitMix64(seed: 3)
        var b = GraphBuilder(producer: "tests")
        func node(_ name: String, _ op: Operator, _ inputs: [Int]) -> Int {
            let output = b.addActivation(name: name, shape: [])
            b.addNode(name: name, op: op, inputs: inputs, outputs: [output])
            return output
        }
        let input = b.addInput(name: "input", shape: [1, 4, 4, 6])
        let w = b.addConstant(name: "pw.w", shape: [3, 6], layout: .gemmPacked16,
                              values: packGEMM16(ohwi: rng.floats(18), outputChannels: 3, reductionSize: 6))
        let bias = b.addConstant(name: "pw.b", shape: [3], layout: .biasPadded16, values: packBias16(rng.floats(3)))
        let pw = node("pw", .conv2d(Conv2DParams(kernelHeight: 1, kernelWidth: 1)), [input, w, bias])
        let cat = node("cat", .concat, [input, pw])
        let slice = node("slice", .slice(start: 2, end: 8), [cat])
        let flat = node("flatten", .reshape(shape: [1, 96]), [slice])
        let fw = b.addConstant(name: "fc.w", shape: [5, 96], layout: .gemmPacked16,
                               values: packGEMM16(ohwi: rng.floats(480), outputChannels: 5, reductionSize: 96))
        let fb = b.addConstant(name: "fc.b", shape: [5], layout: .biasPadded16, values: packBias16(rng.floats(5)))
        b.addOutput(node("fc", .fullyConnected(.relu), [flat, fw, fb]))
        let interpreter = try Interpreter(model: try Model(bytes: serializeEQM(b.model.graph, weights: b.model.weights)))
        XCTAssertEqual(interpreter.steps.filter { $0.kernel == "f32_copy_channels" }.count, 2)
        try assertRuntimeMatchesPlainEvaluation(b.model, seed: 11)
    }

    /// Buffers whose lifetimes do not overlap share memory: the arena of the real MobileNetV2 is far below the
    /// sum of its activations.
    func testArenaReusesMemory() throws {
        let shared = try TestData.shared("models/mobilenetv2-1.0-dequantized.onnx")
        let imported = try importONNX(ONNXTestFiles.bytes(shared))
        let interpreter = try Interpreter(model: try Model(bytes: serializeEQM(imported.graph, weights: imported.weights)))
        let total = interpreter.memory.views.indices.filter { interpreter.memory.views[$0]?.root == $0 }
            .reduce(0) { $0 + interpreter.shapes[$1].reduce(1, *) * 4 }
        // The largest pair that must coexist: 112x112x16 in, 112x112x96 out (floats).
        let lowerBound = (112 * 112 * 16 + 112 * 112 * 96) * 4
        XCTAssertGreaterThanOrEqual(interpreter.memory.activationBytes, lowerBound)
        XCTAssertLessThan(interpreter.memory.activationBytes, total / 4)
        print("MobileNetV2 arena: \(interpreter.arenaBytes) bytes; activations without reuse: \(total)")
    }
}
