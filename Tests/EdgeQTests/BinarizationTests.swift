import EdgeQ
import Foundation
import XCTest

@testable import EdgeQQuantizer

/// Post-training binarization in the quantizer (Quantizer/Binary): layer selection, the XNOR rewrite against
/// its definition computed here independently, and `edgeq quantize --binary` on a real model.
final class BinarizationTests: XCTestCase {
    /// input [1,8,6,6] → stem 3x3 → dw 3x3 depthwise → pw1 1x1 → pw2 3x3 → pool → fc (the output).
    func smallNetwork() -> ImportGraph {
        var random = SplitMix64(seed: 5)
        var graph = ImportGraph()
        let input = graph.addTensor(name: "input", dims: [1, 8, 6, 6])
        graph.inputs = [input]
        let same3x3 = Conv2DParams(kernelHeight: 3, kernelWidth: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        var depthwise = same3x3
        depthwise.groups = 16
        var x = input
        for (name, params, inputs, outputs) in [("stem", same3x3, 8, 16), ("dw", depthwise, 1, 16),
                                                ("pw1", Conv2DParams(kernelHeight: 1, kernelWidth: 1), 16, 16),
                                                ("pw2", same3x3, 16, 8)] {
            let op = ImportGraph.Op.conv(
                params, weights: random.floats(outputs * inputs * params.kernelHeight * params.kernelWidth),
                bias: random.floats(outputs))
            x = graph.addNode(name: name, op: op, inputs: [x], outputName: name + ".out", dims: [1, outputs, 6, 6])
        }
        x = graph.addNode(name: "pool", op: .globalAveragePool, inputs: [x], outputName: "pool.out", dims: [1, 8, 1, 1])
        x = graph.addNode(name: "flatten", op: .reshape, inputs: [x], outputName: "flat", dims: [1, 8])
        graph.outputs = [graph.addNode(name: "fc", op: .fullyConnected(.none, weights: random.floats(24), bias: random.floats(3)),
                                       inputs: [x], outputName: "logits", dims: [1, 3])]
        return graph
    }

    func layerNames(_ graph: ImportGraph, _ items: [String]) throws -> [String] {
        try graph.resolveBinaryLayers(items).map { graph.nodes[$0].name }
    }

    func testCandidatesNumbersNamesAndGlobs() throws {
        let graph = smallNetwork()
        XCTAssertEqual(graph.binaryCandidates().map { graph.nodes[$0].name }, ["pw1", "pw2"])
        XCTAssertEqual(try layerNames(graph, ["0"]), ["pw1"])
        XCTAssertEqual(try layerNames(graph, ["0-1"]), ["pw1", "pw2"])
        XCTAssertEqual(try layerNames(graph, ["pw*"]), ["pw1", "pw2"])
        XCTAssertEqual(try layerNames(graph, ["pw2,0", "1"]), ["pw1", "pw2"])
        // Named explicitly, the first layer binarizes too.
        XCTAssertEqual(try layerNames(graph, ["stem"]), ["stem"])
    }

    func testBadSelectionsAreClearErrors() {
        let graph = smallNetwork()
        func message(_ items: [String]) -> String {
            do throws(EdgeQError) {
                return "accepted " + (try graph.resolveBinaryLayers(items)).map(String.init).joined(separator: ",")
            } catch {
                XCTAssertEqual(error.kind, .invalidArgument)
                return error.message
            }
        }
        XCTAssertEqual(message(["pw3"]), "--binary 'pw3' matches no layer of the model")
        XCTAssertTrue(message(["dw"]).hasPrefix("--binary 'dw' matches no convolution with groups 1"))
        XCTAssertTrue(message(["fc"]).hasPrefix("--binary 'fc' matches no convolution with groups 1"))
        XCTAssertEqual(message(["2"]), "--binary '2': candidate numbers go from 0 to 1, first ≤ last")
        XCTAssertEqual(message(["1-0"]), "--binary '1-0': candidate numbers go from 0 to 1, first ≤ last")
    }

    /// pw2 (3x3, padding 1) binarized with a threshold and β, run by the runtime's binary kernel (float in and
    /// out), against the definition evaluated here in NCHW:
    ///     y[o,p] = mean|W[o]|·β·Σ_{in-image taps} Σ_i sign(W[o,i,tap])·sign(x[i] − t[i]) + b[o] + Σ_{i,taps} W[o,i,tap]·t[i]
    func testXNORRewriteFollowsItsDefinition() throws {
        var random = SplitMix64(seed: 11)
        var graph = smallNetwork()
        let index = graph.nodes.firstIndex { $0.name == "pw2" }!
        guard case .conv(_, let weights, let bias) = graph.nodes[index].op else { return XCTFail() }
        for earlier in 0..<index { graph.nodes[earlier].isRemoved = true }
        graph.inputs = [graph.nodes[index].inputs[0]]
        graph.outputs = [graph.nodes[index].output]
        let (channels, outputs, size) = (16, 8, 6)
        let scale = BinaryInputScale(threshold: random.floats(channels).map { $0 * 0.1 }, beta: 0.7)
        graph.binarizeConvolution(index, input: scale)
        XCTAssertEqual(graph.nodes[index].name, "pw2:center")
        guard case .binaryConv = graph.nodes[index + 1].op else { return XCTFail("pw2 is not binary") }

        let x = random.floats(channels * size * size)  // NCHW
        let interpreter = try Interpreter(model: try Model(importGraph: graph, producer: "test", quantization: nil))
        let input = interpreter.input()
        for c in 0..<channels { for p in 0..<(size * size) { input[p * channels + c] = x[c * size * size + p] } }
        interpreter.invoke()
        let y = interpreter.output()  // NHWC

        func sign(_ v: Float) -> Float { v > 0 ? 1 : v < 0 ? -1 : 0 }
        for o in 0..<outputs {
            let w = weights[(o * channels * 9)..<((o + 1) * channels * 9)]
            let alpha = w.map { Double(abs($0)) }.reduce(0, +) / Double(w.count)
            var constant = Double(bias[o])
            for i in 0..<channels { for k in 0..<9 { constant += Double(w[w.startIndex + i * 9 + k] * scale.threshold[i]) } }
            for row in 0..<size {
                for column in 0..<size {
                    var sum = 0.0
                    for i in 0..<channels {
                        for dy in -1...1 {
                            for dx in -1...1 where (0..<size).contains(row + dy) && (0..<size).contains(column + dx) {
                                let v = x[(i * size + row + dy) * size + column + dx] - scale.threshold[i]
                                sum += Double(sign(w[w.startIndex + i * 9 + (dy + 1) * 3 + dx + 1]) * sign(v))
                            }
                        }
                    }
                    let expected = alpha * Double(scale.beta) * sum + constant
                    XCTAssertEqual(Double(y[(row * size + column) * outputs + o]), expected, accuracy: 1e-4 * max(1, abs(expected)))
                }
            }
        }
    }

    /// Binary weights only: the int8 quantizer stores α[o]·sign(W) exactly, ±127 at scale α[o]/127.
    func testWeightsOnlyAreExactOnTheInt8Grid() {
        var graph = smallNetwork()
        let index = graph.nodes.firstIndex { $0.name == "pw1" }!
        guard case .conv(_, let original, _) = graph.nodes[index].op else { return XCTFail() }
        graph.binarizeWeights(index)
        guard case .conv(_, let binary, _) = graph.nodes[index].op else { return XCTFail() }
        let (values, scales) = quantizeWeights(binary, rows: 16, perTensor: false)
        XCTAssertEqual(Set(values), [-127, 127])
        for o in 0..<16 {
            let alpha = original[(o * 16)..<((o + 1) * 16)].map { abs($0) }.reduce(0, +) / 16
            XCTAssertEqual(scales[o] * 127, alpha, accuracy: 1e-6)
            for k in (o * 16)..<((o + 1) * 16) { XCTAssertEqual(Float(values[k]) * scales[o], binary[k], accuracy: 1e-6) }
        }
    }

    /// Two binarized layers in a row (pw1 with a ReLU, then pw2 through its `pw2:center` add): pw1 writes a
    /// bit-packed output with thresholds from pw2's centers, the center node disappears, and the model's
    /// outputs equal bit for bit those of the model written without (centers of 0 meet ReLU's exact zeros,
    /// others fall anywhere).
    func testConsecutiveBinaryLayersPassBitPackedActivations() throws {
        var random = SplitMix64(seed: 12)
        var graph = smallNetwork()
        let pw1 = graph.nodes.firstIndex { $0.name == "pw1" }!, pw2 = pw1 + 1
        guard case .conv(var params, let weights, let bias) = graph.nodes[pw1].op else { return XCTFail() }
        params.activation = .relu
        graph.nodes[pw1].op = .conv(params, weights: weights, bias: bias)
        func scale() -> BinaryInputScale {
            BinaryInputScale(threshold: (0..<16).map { _ in random.int(0...2) == 0 ? 0 : random.float(in: -0.5...0.5) },
                             beta: 0.7)
        }
        var options = BinarizationOptions()
        options.input = .centered
        graph.binarizeLayers([pw1, pw2], scales: ["dw.out": scale(), "pw1.out": scale()], options: options)
        let packed = graph.emit(producer: "test", packBinaryActivations: true)
        let plain = graph.emit(producer: "test")
        XCTAssertFalse(packed.graph.nodes.contains { $0.name == "pw2:center" })
        XCTAssertTrue(plain.graph.nodes.contains { $0.name == "pw2:center" })
        let node = packed.graph.nodes.first { $0.name == "pw1" }!
        XCTAssertEqual(packed.graph.tensors[node.outputs[0]].dtype, .binary)
        XCTAssertEqual(packed.graph.tensors[node.inputs[2]].shape, [3, 16])
        let a = try Interpreter(model: try Model(bytes: serializeEQM(packed.graph, weights: packed.weights)))
        let b = try Interpreter(model: try Model(bytes: serializeEQM(plain.graph, weights: plain.weights)))
        XCTAssertTrue(a.steps.contains { $0.kernel.hasPrefix("b1_conv_b1_") })  // 4x8, or 2x64_avx2 on x86
        for _ in 0..<20 {
            let x = (0..<a.input().count).map { _ in random.float(in: -2...2) }
            for (i, v) in x.enumerated() { a.input()[i] = v; b.input()[i] = v }
            a.invoke()
            b.invoke()
            XCTAssertEqual(a.output().map(\.bitPattern), b.output().map(\.bitPattern))
        }
    }

    /// GhostNet's squeeze-excites binarized (`--binary '*se*'`, centered): each conv_reduce (ReLU) feeds its
    /// conv_expand through a center, so it writes a bit-packed output, and the logits equal bit for bit those
    /// of the same model written without bit-packed activations.
    func testGhostNetSqueezeExciteBitPackedLogitsUnchanged() throws {
        let onnx = [UInt8](try Data(contentsOf: try TestData.shared("models/ghostnet-1.0-random-init.onnx")))
        let calib = try TestData.shared("imagenet/calib")
        let images = try FileManager.default.contentsOfDirectory(atPath: calib.path).filter { $0.hasSuffix(".JPEG") }
            .sorted().prefix(6)
            .map { calib.appendingPathComponent($0).path }
        var options = QuantizationOptions()
        options.binarization.layers = ["*se/conv*"]
        options.binarization.images = 6
        func quantize(pack: Bool) throws -> Interpreter {
            options.packBinaryActivations = pack
            let result = try quantizeONNX(
                onnx, ranges: .images(images, method: .minmax, skipBad: false), options: options,
                report: { _ in }, progress: { _, _, _ in })
            return try Interpreter(model: try Model(bytes: serializeEQM(result.model.graph, weights: result.model.weights)))
        }
        let packed = try quantize(pack: true), plain = try quantize(pack: false)
        let graph = packed.model.graph
        let bitPacked = graph.nodes.filter { graph.tensors[$0.outputs[0]].dtype == .binary }.map(\.name)
        XCTAssertEqual(bitPacked.count, 7, "\(bitPacked)")
        XCTAssertTrue(bitPacked.allSatisfy { $0.hasSuffix("se/conv_reduce/Conv") }, "\(bitPacked)")
        XCTAssertFalse(graph.nodes.contains { $0.name.hasSuffix("conv_expand/Conv:center") })
        let inputs = try CalibrationInputs(Array(images.prefix(3)), size: 224, skipBad: false, report: { _ in }).inputs()
        for x in inputs {
            packed.run(x)
            plain.run(x)
            XCTAssertEqual(packed.output().map(\.bitPattern), plain.output().map(\.bitPattern))
        }
    }

    /// `edgeq quantize --binary NAME` on GhostNet: that layer is `binary` in `edgeq inspect` and the model runs;
    /// an unknown name is a one-line error.
    func testQuantizeBinarizesANamedLayer() throws {
        let onnx = try TestData.shared("models/ghostnet-1.0-random-init.onnx").path
        let images = try TestData.shared("imagenet/calib").path
        let directory = try TestData.temporaryDirectory()
        let output = directory.appendingPathComponent("binary.eqm").path
        let layer = "/blocks/blocks.1/blocks.1.0/ghost2/primary_conv/primary_conv.0/Conv"
        let common = ["quantize", onnx, "--calib", images, "--calib-limit", "4", "--search", "0", "--binary-images", "4",
                      "-o", output]
        let quantized = try TestData.run(common + ["--binary", layer])
        XCTAssertEqual(quantized.status, 0, quantized.stderr)
        XCTAssertTrue(quantized.stdout.contains("binary: " + layer), quantized.stdout)
        let inspect = try TestData.run(["inspect", output])
        // Not the node `layer:center` that subtracts the input's channel means before it.
        let line = inspect.stdout.split(separator: "\n").first { $0.contains(layer) && !$0.contains(layer + ":") }
        XCTAssertTrue(line?.contains("binary") ?? false, inspect.stdout)
        let run = try TestData.run(["run", output, try TestData.shared("imagenet/eval").path + "/n01491361_tiger_shark.JPEG"])
        XCTAssertEqual(run.status, 0, run.stderr)

        let unknown = try TestData.run(common + ["--binary", "/no/such/Conv"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("--binary '/no/such/Conv' matches no layer of the model"), unknown.stderr)
    }
}
