import EdgeQ
import EdgeQCLI
import Foundation
import XCTest

@testable import EdgeQQuantizer

/// Binary convolutions end to end: the binary-trained ONNX model of Fixtures/make_binary_model.py (Sign → Conv
/// with ±α weights, batch norms, a ReLU before a Sign, borders, stride 2, 1x1) against onnxruntime's logits;
/// its binary layers passing each other bit-packed activations, with logits equal bit for bit to the model without;
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
            // block1 reads the float tensor Sign read (the batch norm folded into the stem); the others the
            // bit-packed output of the binary layer before (its batch norm and ReLU in the thresholds).
            let input = graph.tensors[node.inputs[0]]
            XCTAssertEqual(input.dtype, node.name == "block1" ? .float32 : .binary, node.name)
            XCTAssertEqual(input.layout, node.name == "block1" ? .plain : .binaryBits64, node.name)
            XCTAssertEqual(node.inputs.count, node.name == "block4" ? 4 : 3, node.name)
        }
    }

    /// Bit-packed activations between binary layers compute the same bits as float32 ones re-signed by the
    /// next layer: the thresholds are exact. The fixture's chain block1 → block4 has a ReLU before a Sign
    /// (exact zeros), a stride 2 and borders.
    func testBitPackedActivationsGiveTheSameLogits() throws {
        let packed = try binaryNet()
        let float = try importONNX(ONNXTestFiles.fixture("binary_net.onnx"), packBinaryActivations: false)
        XCTAssertFalse(float.graph.tensors.contains { $0.dtype == .binary && !$0.isConstant })
        let x = nhwc(try ONNXTestFiles.floats(file("binary_net.input.f32")), onnxShape: [1, 3, 16, 16])
        XCTAssertEqual(try runWithRuntime(packed, x).map(\.bitPattern), try runWithRuntime(float, x).map(\.bitPattern))
        var random = SplitMix64(seed: 71)
        for _ in 0..<20 {
            let x = (0..<x.count).map { _ in random.float(in: -3...3) }
            XCTAssertEqual(try runWithRuntime(packed, x).map(\.bitPattern), try runWithRuntime(float, x).map(\.bitPattern))
        }
        // The arena holds 16·ceil(C/64) bytes per pixel of a bit-packed tensor: block1's 24 channels at 16x16.
        let model = try Model(bytes: serializeEQM(packed.graph, weights: packed.weights))
        let interpreter = try Interpreter(model: model)
        let block1 = model.graph.nodes.first { $0.name == "block1" }!.outputs[0]
        XCTAssertEqual(activationByteCount(dtype: .binary, shape: interpreter.shapes[block1]), 16 * 16 * 16)
        XCTAssertEqual(interpreter.memory.views[block1]!.pixelStride, 2)
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
            // block1 binarizes float32; block2...4 read the bit-packed output of the layer before.
            // The tile depends on the window and the CPU (b1_conv_*_2x64_avx2 for K ≤ 255 on x86).
            XCTAssertTrue(line.contains(line.contains("block1") ? "b1_conv_f32_" : "b1_conv_b1_"), String(line))
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
        // 1x1: b1_conv_*_2x64_avx2 on x86, else 4x8; 3x3: 4x8.
        XCTAssertEqual(result.stdout.components(separatedBy: "b1_conv_f32_").count - 1, 2, result.stdout)
        XCTAssertEqual(result.stdout.components(separatedBy: "b1_conv_i8_").count - 1, 2, result.stdout)
        XCTAssertEqual(result.stdout.components(separatedBy: "b1_conv_b1_").count - 1, 2, result.stdout)
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

    /// x [1,5,6,70] → bconv 3x3 (bit-packed output y1, thresholds `thresholds` of shape `shape`) → bconv2 1x1
    /// (bit-packed input, float32 output [1,5,6,4], multiplier 1, bias 0); y1's layout `packedLayout`.
    private func handMadePackedChain(
        thresholds: [Int32], shape: [Int] = [3, 9], packedLayout: WeightLayout = .binaryBits64
    ) -> (ModelGraph, [UInt8]) {
        var b = GraphBuilder(producer: "tests")
        let x = b.addInput(name: "x", shape: [1, 5, 6, 70])
        let w1 = packBinaryWeights(signs: Self.chainSigns1, outputChannels: 9, taps: 9, inputChannels: 70).withUnsafeBytes {
            b.addConstant(name: "w1", dtype: .binary, shape: [9, 3, 3, 70], layout: .binaryPacked64, bytes: $0)
        }
        let t = thresholds.withUnsafeBytes { b.addConstant(name: "t", dtype: .int32, shape: shape, bytes: $0) }
        let y1 = b.addActivation(name: "y1", shape: [], dtype: .binary)
        b.addNode(name: "bconv", op: .binaryConv2d(Self.same3x3), inputs: [x, w1, t], outputs: [y1])
        let w2 = packBinaryWeights(signs: Self.chainSigns2, outputChannels: 4, taps: 1, inputChannels: 9).withUnsafeBytes {
            b.addConstant(name: "w2", dtype: .binary, shape: [4, 1, 1, 9], layout: .binaryPacked64, bytes: $0)
        }
        let m = b.addConstant(name: "m", shape: [4], values: [1, 1, 1, 1])
        let bias = b.addConstant(name: "b", shape: [4], values: [0, 0, 0, 0])
        let y = b.addActivation(name: "y", shape: [])
        b.addNode(name: "bconv2", op: .binaryConv2d(Conv2DParams(kernelHeight: 1, kernelWidth: 1)),
                  inputs: [y1, w2, m, bias], outputs: [y])
        b.addOutput(y)
        var graph = b.model.graph
        graph.tensors[y1].layout = packedLayout
        return (graph, b.model.weights)
    }

    private static let same3x3 = Conv2DParams(kernelHeight: 3, kernelWidth: 3, padTop: 1, padLeft: 1, padBottom: 1,
                                              padRight: 1)
    private static let chainSigns1: [Int8] = (0..<9 * 9 * 70).map { $0 % 7 < 3 ? -1 : 1 }
    private static let chainSigns2: [Int8] = (0..<4 * 9).map { $0 % 5 < 2 ? -1 : 1 }

    /// The hand-made chain with thresholds (1, −2, 3): −1 below −2, 0 from −2 to 3, +1 above, against the
    /// scalar reference of both layers.
    func testHandMadeBitPackedChainRuns() throws {
        let thresholds = [Int32](repeating: 1, count: 9) + [Int32](repeating: -2, count: 9)
            + [Int32](repeating: 3, count: 9)
        let (graph, weights) = handMadePackedChain(thresholds: thresholds)
        let interpreter = try Interpreter(model: try Model(bytes: serializeEQM(graph, weights: weights)))
        // The input dtypes; the tile depends on the window and the CPU (4x8, or 2x64_avx2 on x86 for K ≤ 255).
        XCTAssertEqual(interpreter.steps.map { $0.kernel.split(separator: "_").prefix(3).joined(separator: "_") },
                       ["b1_conv_f32", "b1_conv_b1"])
        var random = SplitMix64(seed: 72)
        let x = (0..<5 * 6 * 70).map { _ in random.float(in: -1...1) }
        for (i, v) in x.enumerated() { interpreter.input()[i] = v }
        interpreter.invoke()
        // Reference: y1 = the signs the thresholds give of the exact sums, then the 1x1 layer on them.
        let g1 = ConvGeometry(Self.same3x3, input: [1, 5, 6, 70], outputChannels: 9)
        var sums = [Float](repeating: 0, count: 30 * 9)
        let ones = [Float](repeating: 1, count: 16), zeros = [Float](repeating: 0, count: 16)
        sums.withUnsafeMutableBufferPointer { y in
            ref_b1_conv(input: .float32(x), inputPixelStride: 70, geometry: g1, signs: Self.chainSigns1,
                        multipliers: ones, biases: zeros, output: .float32(y.baseAddress!, activation: .none),
                        outputPixelStride: 9)
        }
        let y1 = sums.map { $0 < -2 ? Float(-1) : $0 > 3 ? 1 : 0 }
        var expected = [Float](repeating: 0, count: 30 * 4)
        expected.withUnsafeMutableBufferPointer { y in
            ref_b1_conv(input: .float32(y1), inputPixelStride: 9,
                        geometry: ConvGeometry(Conv2DParams(kernelHeight: 1, kernelWidth: 1), input: [1, 5, 6, 9],
                                               outputChannels: 4),
                        signs: Self.chainSigns2, multipliers: ones, biases: zeros,
                        output: .float32(y.baseAddress!, activation: .none), outputPixelStride: 4)
        }
        XCTAssertEqual(interpreter.output(), expected)
        XCTAssertTrue(y1.contains(0) && y1.contains(1) && y1.contains(-1))
    }

    /// "accepted", or the message of the invalid-model error that loading the model into an interpreter gave.
    func loadError(_ model: (ModelGraph, [UInt8])) -> String {
        do {
            _ = try Interpreter(model: try Model(bytes: serializeEQM(model.0, weights: model.1)))
            return "accepted"
        } catch {
            XCTAssertEqual(error.kind, .invalidModel, error.description)
            return error.message
        }
    }

    /// Hostile bit-packed models: thresholds of the wrong shape or with values that mean nothing, a binary
    /// activation in a plain layout: clear errors at load, no crash.
    func testBadThresholdsAndPackedTensorsAreClearErrors() {
        let valid = [Int32](repeating: 1, count: 9) + [Int32](repeating: 0, count: 18)
        XCTAssertEqual(loadError(handMadePackedChain(thresholds: valid)), "accepted")
        let shape = loadError(handMadePackedChain(thresholds: Array(valid.prefix(18)), shape: [2, 9]))
        XCTAssertTrue(shape.contains("thresholds 't' must be a i32 plain constant of shape [3,9]"), shape)
        let transposed = loadError(handMadePackedChain(thresholds: valid, shape: [9, 3]))
        XCTAssertTrue(transposed.contains("thresholds 't' must be"), transposed)
        var direction = valid
        direction[4] = 0
        let zero = loadError(handMadePackedChain(thresholds: direction))
        XCTAssertTrue(zero.contains("channel 4 need direction ±1 and lower ≤ upper + 1"), zero)
        var crossed = valid
        crossed[9 + 8] = Int32.max  // lower far above upper
        XCTAssertTrue(loadError(handMadePackedChain(thresholds: crossed)).contains("channel 8 need direction ±1"))
        let layout = loadError(handMadePackedChain(thresholds: valid, packedLayout: .plain))
        XCTAssertTrue(layout.contains("an activation is plain (not binary) or binary b64nhwc"), layout)
        // A bit-packed output with a multiplier and a bias instead of thresholds.
        var (graph, weights) = handMadeModel()
        graph.tensors[graph.nodes[0].outputs[0]].dtype = .binary
        graph.tensors[graph.nodes[0].outputs[0]].layout = .binaryBits64
        XCTAssertTrue(loadError((graph, weights)).contains("a bit-packed output takes inputs x, weights, thresholds"))
    }

    func testInconsistentBinaryConvolutionsAreClearErrors() throws {
        XCTAssertTrue(loadError(handMadeModel(weightChannels: 64)).contains("weights 'w' must be a binary b64c8"))
        XCTAssertTrue(loadError(handMadeModel(multipliers: 8)).contains("multiplier 'm' must be"))
        XCTAssertTrue(loadError(handMadeModel(output: .int8, activation: .hardSwish)).contains("ReLU or Clip"))

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
