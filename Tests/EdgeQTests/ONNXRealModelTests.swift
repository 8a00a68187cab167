import EdgeQ
import XCTest

@testable import EdgeQQuantizer

/// The two real models of ../shared/models. Expected counts derive from the facts in its README.md.
final class ONNXRealModelTests: XCTestCase {
    private func importModel(_ name: String) throws -> (ImportedModel, URL) {
        let shared = try TestData.shared()
        let model = try importONNX(ONNXTestFiles.bytes(shared.appendingPathComponent("models/\(name).onnx")))
        return (model, shared)
    }

    private func isStandaloneActivation(_ node: Node) -> Bool {
        if case .activation = node.op { return true }
        return false
    }

    private func assertClassifierInterface(_ graph: ModelGraph, line: UInt = #line) {
        XCTAssertEqual(graph.inputs.map { graph.tensors[$0].shape }, [[1, 224, 224, 3]], line: line)
        XCTAssertEqual(graph.inputs.map { graph.tensors[$0].name }, ["input"], line: line)
        XCTAssertEqual(graph.outputs.map { graph.tensors[$0].shape }, [[1, 1000]], line: line)
        XCTAssertEqual(graph.outputs.map { graph.tensors[$0].name }, ["logits"], line: line)
        let head = graph.nodes.suffix(2).map(\.op)
        XCTAssertEqual(
            head, [.reshape(shape: [1, 1280]), .fullyConnected(.none)], "Flatten, Gemm 1280 -> 1000", line: line)
        XCTAssertEqual(graph.tensors[graph.nodes.last!.inputs[1]].shape, [1000, 1280], line: line)
    }

    func testMobileNetV2() throws {
        let (model, _) = try importModel("mobilenetv2-1.0-dequantized")
        let graph = model.graph
        assertClassifierInterface(graph)
        // Conv 52: 17 depthwise (group = channels), 35 regular; Clip 35 (ReLU6), all right after a conv.
        let convs = graph.convolutions()
        XCTAssertEqual(convs.count, 52)
        XCTAssertEqual(convs.filter { graph.tensors[$0.node.inputs[1]].layout == .depthwiseHWC }.count, 17)
        XCTAssertEqual(convs.filter { graph.tensors[$0.node.inputs[1]].layout == .gemmPacked16 }.count, 35)
        XCTAssertEqual(convs.filter { $0.params.activation == .relu6 }.count, 35)
        XCTAssertEqual(graph.count(isStandaloneActivation), 0, "every ReLU6 fused")
        XCTAssertEqual(graph.count { $0.op == .add(.none) }, 10)
        XCTAssertEqual(graph.count { $0.op == .globalAveragePool }, 1)
        XCTAssertEqual(graph.nodes.count, 52 + 10 + 1 + 1 + 1, "the Constant nodes fold away")
        // torchvision's MobileNetV2 has 3,504,872 parameters with BatchNorm; folding each BN's γ and β into
        // one conv bias per channel removes one parameter per conv output channel.
        let outputChannels = convs.reduce(0) { $0 + graph.tensors[$1.node.outputs[0]].shape[3] }
        XCTAssertEqual(graph.parameterCount, 3_504_872 - outputChannels)
    }

    func testGhostNet() throws {
        let (model, _) = try importModel("ghostnet-1.0-random-init")
        let graph = model.graph
        assertClassifierInterface(graph)
        // Conv 95; Relu 42, each right after a conv; 7 hard-sigmoids Clip(x + 3, 0, 6) / 6 after the SE
        // expand convs: the Add 3, Clip and Div of each fuse into the conv, leaving the 16 residual Adds.
        let convs = graph.convolutions()
        XCTAssertEqual(convs.count, 95)
        XCTAssertEqual(convs.filter { $0.params.activation == .relu }.count, 42)
        XCTAssertEqual(convs.filter { $0.params.activation == .hardSigmoid }.count, 7)
        XCTAssertEqual(graph.count(isStandaloneActivation), 0)
        XCTAssertEqual(graph.count { $0.op == .add(.none) }, 16)
        XCTAssertEqual(graph.count { $0.op == .mul }, 7, "the SE gates")
        XCTAssertEqual(graph.count { $0.op == .concat }, 32)
        XCTAssertEqual(graph.count { $0.op == .globalAveragePool }, 8)
        // Every ghost module concatenates two halves of ceil(width / 2) channels and slices to its width;
        // all GhostNet 1.0x widths are even, so the 32 Slices keep every channel and vanish.
        XCTAssertEqual(
            graph.count {
                if case .slice = $0.op { return true }
                return false
            }, 0)
        XCTAssertEqual(graph.nodes.count, 95 + 16 + 7 + 32 + 8 + 1 + 1)
        // 5,182,508 parameters with BatchNorm. Every conv has a BN except the SE convs (reading a pool, or
        // a conv that does) and conv_head (reading the last pool); folding a BN leaves one bias per channel.
        let pooled = Set(graph.nodes.filter { $0.op == .globalAveragePool }.flatMap(\.outputs))
        let afterPool = Set(convs.filter { pooled.contains($0.node.inputs[0]) }.flatMap(\.node.outputs))
        let batchNormChannels = convs.filter {
            !pooled.contains($0.node.inputs[0]) && !afterPool.contains($0.node.inputs[0])
        }
        .reduce(0) { $0 + graph.tensors[$1.node.outputs[0]].shape[3] }
        XCTAssertEqual(graph.parameterCount, 5_182_508 - batchNormChannels)
    }

    /// One reference image through each imported model, against onnxruntime's logits (README tolerance).
    func testLogitsMatchOnnxRuntime() throws {
        for name in ["mobilenetv2-1.0-dequantized", "ghostnet-1.0-random-init"] {
            let (model, shared) = try importModel(name)
            let reference = shared.appendingPathComponent("models/reference")
            let image = "n01491361_tiger_shark"
            let input = try ONNXTestFiles.floats(reference.appendingPathComponent("inputs/\(image).input.f32"))
            let expected = try ONNXTestFiles.floats(reference.appendingPathComponent("\(name)/\(image).logits.f32"))
            let logits = ReferenceGraphEvaluator(model: model).run(nhwc(input, onnxShape: [1, 3, 224, 224]))
            assertClose(logits, expected, absolute: 1e-3, relative: 1e-4, name)
            XCTAssertEqual(
                logits.indices.max { logits[$0] < logits[$1] }, expected.indices.max { expected[$0] < expected[$1] })
        }
    }
}
