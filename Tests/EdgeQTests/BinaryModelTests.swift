import EdgeQ
import EdgeQCLI
import Foundation
import XCTest

@testable import EdgeQQuantizer

/// Binary convolutions end to end: the binary-trained ONNX model of Fixtures/make_binary_model.py (Sign → Conv
/// with ±α weights, batch norms, a ReLU before a Sign, borders, stride 2, 1x1) against onnxruntime's logits;
/// `edgeq inspect`; and the errors of the importer and of the model file.
final class BinaryModelTests: XCTestCase {
    private func binaryNet() throws -> ImportedModel { try importONNX(ONNXTestFiles.fixture("binary_net.onnx")) }

    private func file(_ name: String) -> URL { ONNXTestFiles.fixtures.appendingPathComponent(name) }

    func testSignConvolutionsBecomeBinaryLayers() throws {
        let graph = try binaryNet().graph
        let binary = graph.nodes.filter { if case .binaryConv2d = $0.op { return true } else { return false } }
        XCTAssertEqual(binary.map(\.name), ["block1", "block2", "block3", "block4"])
        XCTAssertEqual(graph.convolutions().map(\.node.name), ["stem"])
        for node in binary {
            let weights = graph.tensors[node.inputs[1]]
            XCTAssertEqual(weights.dtype, .binary, node.name)
            XCTAssertEqual(weights.layout, .binaryPacked64, node.name)
            // x is the float tensor Sign read: the batch norm before it (folded into the stem) or the ReLU.
            XCTAssertEqual(graph.tensors[node.inputs[0]].dtype, .float32, node.name)
        }
    }

    /// The bar: logits within 1e-4 relative of onnxruntime's, element by element (on one thread and
    /// on two, which must give the same bits).
    func testLogitsMatchONNXRuntime() throws {
        let model = try binaryNet()
        let x = nhwc(try ONNXTestFiles.floats(file("binary_net.input.f32")), onnxShape: [1, 3, 16, 16])
        let expected = try ONNXTestFiles.floats(file("binary_net.output.f32"))
        let logits = try runWithRuntime(model, x)
        XCTAssertEqual(logits.count, 10)
        let worst = zip(logits, expected).map { abs($0 - $1) / abs($1) }.max()!
        XCTAssertLessThanOrEqual(worst, 1e-4, "logits \(logits), onnxruntime \(expected)")
        let pool = try ThreadPool(threads: 2)
        let interpreter = try Interpreter(
            model: try Model(bytes: serializeEQM(model.graph, weights: model.weights)), executor: pool)
        for (i, v) in x.enumerated() { interpreter.input()[i] = v }
        interpreter.invoke()
        XCTAssertEqual(interpreter.output().map(\.bitPattern), logits.map(\.bitPattern))
    }

    func testInspectListsBinaryLayers() throws {
        let result = try TestData.run(["inspect", file("binary_net.onnx").path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let binaryLines = result.stdout.split(separator: "\n").filter { $0.contains("BinaryConv2D") }
        XCTAssertEqual(binaryLines.count, 4, result.stdout)
        for line in binaryLines {
            XCTAssertTrue(line.contains(" binary "), String(line))
            XCTAssertTrue(line.contains("b1_conv_f32_4x8"), String(line))
        }
    }

    /// The microbenchmark runs every variant and writes models that `edgeq bench` takes (speed is not asserted).
    func testMicrobenchTimesEveryVariant() throws {
        let directory = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try TestData.run(["microbench", "--runs", "2", "--warmup", "0", "--dir", directory.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        for kernel in ["f32_conv1x1_gemm_6x16", "i8_conv1x1_gemm_6x8c4", "f32_conv_gemm_6x16", "i8_conv_gemm_6x8c4"] {
            XCTAssertTrue(result.stdout.contains(kernel), result.stdout)
        }
        XCTAssertEqual(result.stdout.components(separatedBy: "b1_conv_f32_4x8").count - 1, 2, result.stdout)
        XCTAssertEqual(result.stdout.components(separatedBy: "b1_conv_i8_4x8").count - 1, 2, result.stdout)
        let bench = try TestData.run(["bench", directory.appendingPathComponent("conv3x3-binary.eqm").path,
                                      "--runs", "1", "--layers"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        XCTAssertTrue(bench.stdout.contains("b1_conv_f32_4x8"), bench.stdout)
    }

    func testSignBeforeFloatWeightsIsUnsupported() throws {
        XCTAssertThrowsError(try importONNX(ONNXTestFiles.fixture("error_sign_float_weights.onnx"))) { error in
            let e = error as! EdgeQError
            XCTAssertEqual(e.kind, .unsupported)
            XCTAssertTrue(e.message.contains("Sign node 'sign'") && e.message.contains("±α"), e.message)
        }
    }

    // MARK: The model file

    /// A BinaryConv2D model built by hand: `inputChannels` as the input has them, `weightChannels` as the
    /// weights claim.
    private func handMadeModel(
        inputChannels: Int = 70, weightChannels: Int = 70, outputChannels: Int = 9, multipliers: Int = 9,
        output: DType = .float32, activation: Activation = .relu
    ) -> (ModelGraph, [UInt8]) {
        var b = GraphBuilder(producer: "tests")
        let x = b.addInput(name: "x", shape: [1, 5, 6, inputChannels])
        let signs = [Int8](repeating: -1, count: outputChannels * 9 * weightChannels)
        let packed = packBinaryWeights(signs: signs, outputChannels: outputChannels, taps: 9, inputChannels: weightChannels)
        let weights = packed.withUnsafeBytes {
            b.addConstant(name: "w", dtype: .binary, shape: [outputChannels, 3, 3, weightChannels],
                          layout: .binaryPacked64, bytes: $0)
        }
        let m = b.addConstant(name: "m", shape: [multipliers], values: [Float](repeating: 0.5, count: multipliers))
        let bias = b.addConstant(name: "b", shape: [outputChannels], values: [Float](repeating: 1, count: outputChannels))
        let y = b.addActivation(
            name: "y", shape: [], dtype: output,
            quant: output == .int8 ? QuantParams(scales: [0.1], zeroPoints: [0]) : .none)
        let params = Conv2DParams(kernelHeight: 3, kernelWidth: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1,
                                  activation: activation)
        b.addNode(name: "bconv", op: .binaryConv2d(params), inputs: [x, weights, m, bias], outputs: [y])
        b.addOutput(y)
        return (b.model.graph, b.model.weights)
    }

    func testRoundTripAndRun() throws {
        let (graph, weights) = handMadeModel()
        let model = try Model(bytes: serializeEQM(graph, weights: weights))
        XCTAssertEqual(model.graph, graph)
        let interpreter = try Interpreter(model: model)
        XCTAssertEqual(interpreter.steps.map(\.kernel), ["b1_conv_f32_4x8"])
        for i in interpreter.input().indices { interpreter.input()[i] = 1 }
        interpreter.invoke()
        // Every weight −1, every input +1: acc = −(in-image taps)·70; relu(0.5·acc + 1) = 0 everywhere.
        XCTAssertEqual(Set(interpreter.output()), [0])
        let (int8Graph, int8Weights) = handMadeModel(output: .int8)
        let int8 = try Interpreter(model: try Model(bytes: serializeEQM(int8Graph, weights: int8Weights)))
        for i in int8.input().indices { int8.input()[i] = -1 }
        int8.invoke()
        // acc = +(in-image taps)·70: corners 4 taps → 0.5·280 + 1 = 141 → clamped to 127 steps of 0.1.
        XCTAssertEqual(Set(int8.output()), [Float(0.1) * 127])
    }

    func testInconsistentBinaryConvolutionsAreClearErrors() throws {
        func planError(_ model: (ModelGraph, [UInt8])) -> String {
            do {
                _ = try Interpreter(model: try Model(bytes: serializeEQM(model.0, weights: model.1)))
                return "accepted"
            } catch {
                XCTAssertEqual(error.kind, .invalidModel, error.description)
                return error.message
            }
        }
        XCTAssertTrue(planError(handMadeModel(weightChannels: 64)).contains("weights 'w' must be a binary b64c8"))
        XCTAssertTrue(planError(handMadeModel(multipliers: 8)).contains("multiplier 'm' must be"))
        XCTAssertTrue(planError(handMadeModel(output: .int8, activation: .hardSwish)).contains("ReLU or Clip"))

        // In the file: packed signs in another layout, a binary conv with groups 2.
        var (graph, weights) = handMadeModel()
        graph.tensors[graph.nodes[0].inputs[1]].layout = .plain
        XCTAssertThrowsError(try Model(bytes: serializeEQM(graph, weights: weights))) { error in
            XCTAssertTrue((error as! EdgeQError).message.contains("do not match shape and layout plain"))
        }
        (graph, weights) = handMadeModel()
        guard case .binaryConv2d(var params) = graph.nodes[0].op else { return XCTFail() }
        params.groups = 2
        graph.nodes[0].op = .binaryConv2d(params)
        XCTAssertThrowsError(try Model(bytes: serializeEQM(graph, weights: weights))) { error in
            XCTAssertTrue((error as! EdgeQError).message.contains("BinaryConv2D has groups 1, not 2"))
        }
    }
}
