import EdgeQ
import XCTest

@testable import EdgeQQuantizer

/// The importer on the generated fixtures (Fixtures/make_onnx_fixtures.py): structure, numerics against
/// onnxruntime (through `ReferenceGraphEvaluator`), and errors.
final class ONNXImportTests: XCTestCase {
    private func load(_ name: String) throws -> ImportedModel {
        try importONNX(ONNXTestFiles.fixture(name + ".onnx"))
    }

    private func importError(_ bytes: [UInt8]) -> EdgeQError? {
        do {
            _ = try importONNX(bytes)
            return nil
        } catch {
            return error
        }
    }

    private func assertImportFails(
        _ fixture: String, _ kind: EdgeQError.Kind, mentioning fragments: [String], line: UInt = #line
    ) throws {
        guard let error = importError(try ONNXTestFiles.fixture(fixture)) else {
            return XCTFail("\(fixture) imported", line: line)
        }
        XCTAssertEqual(error.kind, kind, error.description, line: line)
        for fragment in fragments {
            XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", line: line)
        }
    }

    // MARK: Every fixture

    func testEveryFixtureMatchesOnnxRuntime() throws {
        let names = try ONNXTestFiles.validFixtures()
        XCTAssertGreaterThanOrEqual(names.count, 15)
        for name in names {
            let model = try load(name)
            let graph = model.graph
            let input = graph.tensors[graph.inputs[0]].shape
            let output = graph.tensors[graph.outputs[0]].shape
            let x = try ONNXTestFiles.floats(ONNXTestFiles.fixtures.appendingPathComponent(name + ".input.f32"))
            let expected = try ONNXTestFiles.floats(ONNXTestFiles.fixtures.appendingPathComponent(name + ".output.f32"))
            let onnxInput = input.count == 4 ? [1, input[3], input[1], input[2]] : input
            let onnxOutput = output.count == 4 ? [1, output[3], output[1], output[2]] : output
            let y = ReferenceGraphEvaluator(model: model).run(nhwc(x, onnxShape: onnxInput))
            assertClose(y, nhwc(expected, onnxShape: onnxOutput), absolute: 1e-4, relative: 1e-4, name)
            let runtime = try runWithRuntime(model, nhwc(x, onnxShape: onnxInput))
            assertClose(runtime, nhwc(expected, onnxShape: onnxOutput), absolute: 1e-4, relative: 1e-4, name + " (runtime)")
        }
    }

    func testEveryFixtureIsAWellFormedGraph() throws {
        for name in try ONNXTestFiles.validFixtures() {
            let model = try load(name)
            let graph = model.graph
            XCTAssertEqual(graph.inputs.count, 1, name)
            XCTAssertEqual(graph.outputs.count, 1, name)
            XCTAssertEqual(Set(graph.nodes.map(\.name)).count, graph.nodes.count, "\(name): node names are unique")
            var available = Set(graph.inputs)
            var used = Set<Int>()
            for node in graph.nodes {
                XCTAssertFalse(node.name.isEmpty, name)
                for input in node.inputs {
                    XCTAssertTrue(
                        available.contains(input) || graph.tensors[input].isConstant,
                        "\(name): \(node.name) runs too early")
                    used.insert(input)
                }
                available.formUnion(node.outputs)
            }
            XCTAssertTrue(available.isSuperset(of: graph.outputs), name)
            for (index, tensor) in graph.tensors.enumerated() {
                if let range = tensor.data {
                    XCTAssertTrue(used.contains(index), "\(name): constant \(tensor.name) is unused")
                    XCTAssertEqual(range.offset % 64, 0, "\(name): \(tensor.name) is not 64-byte aligned")
                    XCTAssertLessThanOrEqual(range.offset + range.length, model.weights.count, name)
                } else {
                    XCTAssertFalse(tensor.shape.isEmpty, "\(name): activation \(tensor.name) has no shape")
                }
            }
        }
    }

    // MARK: Structure of each fixture

    func testSamePaddingSplitsTheOddPixel() throws {
        let graph = try load("conv_same_upper").graph
        let pads = graph.convolutions().map {
            [$0.params.padTop, $0.params.padLeft, $0.params.padBottom, $0.params.padRight]
        }
        // SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start; VALID pads nothing.
        XCTAssertEqual(pads, [[0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
        let firstBias = graph.convolutions()[0].node.inputs[2]
        XCTAssertEqual(graph.tensors[firstBias].data?.length, 16 * 4, "absent bias: 8 zeros padded to 16")
        XCTAssertEqual(graph.tensors[graph.outputs[0]].shape, [1, 1, 1, 5])
    }

    func testConvolutionKindsGetTheirLayouts() throws {
        let graph = try load("conv_kinds").graph
        let convs = graph.convolutions()
        XCTAssertEqual(convs.count, 5)
        let weights = convs.map { graph.tensors[$0.node.inputs[1]] }
        let biases = convs.map { graph.tensors[$0.node.inputs[2]] }
        XCTAssertEqual(weights.map(\.layout), [.gemmPacked16, .depthwiseHWC, .plain, .gemmPacked16, .plain])
        XCTAssertEqual(biases.map(\.layout), [.biasPadded16, .plain, .plain, .biasPadded16, .plain])
        XCTAssertEqual(weights.map(\.shape), [[8, 36], [8, 3, 3], [6, 3, 3, 4], [20, 6], [40, 3, 3, 1]])
        XCTAssertEqual(weights.map { $0.data!.length / 4 }, [16 * 36, 72, 216, 32 * 6, 360])
        XCTAssertEqual(biases.map { $0.data!.length / 4 }, [16, 8, 6, 32, 40])
        XCTAssertEqual(convs.map(\.params.activation), [.relu, .relu6, .sigmoid, .hardSwish, .none])
        XCTAssertEqual(convs.map(\.params.groups), [1, 8, 2, 1, 20])
        XCTAssertEqual(convs[1].params.padTop, 0)
        XCTAssertEqual(convs[1].params.padLeft, 1)
        XCTAssertEqual(convs[2].params.dilationHeight, 2)
        XCTAssertEqual(graph.nodes.count, 5, "every activation fused")
    }

    func testClipBoundsFromInputsOrAttributes() throws {
        let variants = try load("clip_variants").graph
        XCTAssertEqual(variants.nodes.map(\.op.name), ["Activation", "Conv2D", "Conv2D", "Add"])
        XCTAssertEqual(variants.nodes[0].op, .activation(Activation(.clip, -.infinity, 6)), "max only, on the input")
        XCTAssertEqual(variants.convolutions()[0].params.activation, Activation(.clip, -0.5, .infinity), "min only")
        XCTAssertEqual(variants.nodes[3].op, .add(.relu), "Clip(min 0) is a ReLU, fused into the add")

        let attributes = try load("clip_attributes").graph
        XCTAssertEqual(attributes.convolutions().map(\.params.activation), [.relu6, .none])
        XCTAssertEqual(attributes.nodes.count, 2)
    }

    func testBatchNormalizationFoldsOnlyIntoASoleConsumerConv() throws {
        let graph = try load("batchnorm").graph
        XCTAssertEqual(graph.nodes.map(\.op.name), ["Mul", "Add", "Conv2D", "Conv2D", "Mul", "Add", "Add"])
        XCTAssertEqual(graph.convolutions().map(\.params.activation), [.relu, .none])
        for node in graph.nodes where node.op == .mul {
            XCTAssertEqual(graph.tensors[node.inputs[1]].shape.count, 4)
            XCTAssertEqual(graph.tensors[node.inputs[1]].shape.prefix(3), [1, 1, 1])
        }
    }

    func testSplitsAndSlicesBecomeChannelSlices() throws {
        let graph = try load("split_concat_slice").graph
        let slices: [[Int]] = graph.nodes.compactMap {
            if case .slice(let start, let end) = $0.op { return [start, end] }
            return nil
        }
        // Split [2, 4]; Split of the 4 in equal halves; Slice 1..<-1 of 11; no-op Slice dropped; Slice -7..<1000 of 9.
        XCTAssertEqual(slices, [[0, 2], [2, 6], [0, 2], [2, 4], [1, 10], [2, 9]])
        XCTAssertEqual(graph.count { $0.op == .concat }, 1)

        let opset11 = try load("split_attribute_opset11").graph
        XCTAssertEqual(
            opset11.nodes.map(\.op.name),
            [
                "Slice", "Slice", "Conv2D", "Concat", "Activation", "GlobalAveragePool", "Reshape", "FullyConnected",
            ])
    }

    func testChannelGateMultipliesWithTheGateAsOperandB() throws {
        let graph = try load("squeeze_excite").graph
        guard let mul = graph.nodes.first(where: { $0.op == .mul }) else { return XCTFail("no mul") }
        XCTAssertEqual(graph.tensors[mul.inputs[0]].shape, [1, 6, 6, 8])
        XCTAssertEqual(graph.tensors[mul.inputs[1]].shape, [1, 1, 1, 8])
        XCTAssertEqual(graph.convolutions().map(\.params.activation), [.relu, .relu, .sigmoid])
    }

    func testMatMulAndGemmBecomeFullyConnected() throws {
        let matmul = try load("reducemean_matmul").graph
        XCTAssertEqual(
            matmul.nodes.map(\.op.name), ["Conv2D", "GlobalAveragePool", "Reshape", "FullyConnected", "Add"])
        let fc = matmul.nodes[3]
        XCTAssertEqual(matmul.tensors[fc.inputs[1]].shape, [10, 6])
        XCTAssertEqual(matmul.tensors[fc.inputs[1]].layout, .gemmPacked16)
        XCTAssertEqual(matmul.tensors[matmul.nodes[4].inputs[1]].shape, [1, 10])

        let gemm = try load("gemm_transb0").graph
        XCTAssertEqual(
            gemm.nodes.map(\.op),
            [
                gemm.nodes[0].op, .globalAveragePool, .reshape(shape: [1, 12]), .fullyConnected(.relu),
                .fullyConnected(.none),
            ])
        XCTAssertEqual(gemm.tensors[gemm.nodes[3].inputs[1]].shape, [20, 12])
    }

    func testHardSigmoidAndHardSwishPatternsFuse() throws {
        let graph = try load("hard_sigmoid_patterns").graph
        XCTAssertEqual(graph.nodes.map(\.op.name), ["Conv2D", "Conv2D", "Mul", "Conv2D", "Conv2D"])
        XCTAssertEqual(
            graph.convolutions().map(\.params.activation),
            [.none, .hardSigmoid, .hardSwish, Activation(.hardSigmoid, 0.25, 0.4)])
    }

    func testShapeComputationsFoldAway() throws {
        let graph = try load("shape_chain_reshape").graph
        XCTAssertEqual(
            graph.nodes.map(\.op.name),
            [
                "Conv2D", "GlobalAveragePool", "Reshape", "FullyConnected", "GlobalAveragePool", "Reshape",
                "FullyConnected", "Add",
            ])
        XCTAssertEqual(graph.nodes[2].op, .reshape(shape: [1, 16]))
        XCTAssertEqual(graph.nodes[5].op, .reshape(shape: [1, 8]))
    }

    func testOpset21Forms() throws {
        let graph = try load("opset21").graph
        XCTAssertEqual(
            graph.nodes.map(\.op.name),
            [
                "Conv2D", "Slice", "Slice", "Concat", "GlobalAveragePool", "Reshape", "FullyConnected",
            ])
    }

    func testConstantOperandsTakeEdgeQForms() throws {
        let model = try load("elementwise")
        let graph = model.graph
        XCTAssertEqual(graph.nodes.map(\.op.name), ["Add", "Mul", "Mul", "Add", "Conv2D", "Add", "Mul", "Add"])
        let operandShapes = graph.nodes.map { node in node.inputs.count > 1 ? graph.tensors[node.inputs[1]].shape : [] }
        XCTAssertEqual(operandShapes[0], [1, 1, 1, 4], "scalar: one value per channel")
        XCTAssertEqual(operandShapes[1], [1, 1, 1, 4], "[C, 1, 1]")
        XCTAssertEqual(operandShapes[2], [1, 8, 8, 4], "full shape, transposed to NHWC")
        XCTAssertEqual(operandShapes[3], [1, 8, 8, 4], "varies along H: materialized")
        let subtracted = graph.tensors[graph.nodes[0].inputs[1]]
        let values = model.weights[subtracted.data!.offset..<(subtracted.data!.offset + 16)].withUnsafeBytes { buffer in
            (0..<4).map { buffer.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        }
        XCTAssertEqual(values, [-0.5, -0.5, -0.5, -0.5], "Sub by 0.5 is an add of -0.5")
    }

    func testAliasesVanishAndOutputsKeepTheirNames() throws {
        let graph = try load("aliases").graph
        XCTAssertEqual(graph.nodes.map(\.op.name), ["Conv2D", "Mul", "GlobalAveragePool", "Reshape"])
        XCTAssertEqual(graph.tensors[graph.outputs[0]].name, "reshape9_out0")
        XCTAssertEqual(graph.tensors[graph.inputs[0]].name, "x")
        XCTAssertEqual(graph.tensors[graph.inputs[0]].shape, [1, 8, 8, 3], "NCHW input becomes NHWC")
    }

    func testGraphBuilderAlignsEveryConstant() {
        var builder = GraphBuilder(producer: "test")
        let x = builder.addInput(name: "x", shape: [1, 2, 2, 3])
        let scale = builder.addConstant(name: "scale", shape: [1, 1, 1, 3], values: [1, 2, 3])
        let codes: [UInt8] = [1, 2, 3, 4, 5]
        let quantized = codes.withUnsafeBytes {
            builder.addConstant(
                name: "q", dtype: .int8, shape: [5], quant: QuantParams(scales: [0.5], zeroPoints: [0]), bytes: $0)
        }
        let y = builder.addActivation(name: "y", shape: [1, 2, 2, 3])
        builder.addNode(name: "mul", op: .mul, inputs: [x, scale], outputs: [y])
        builder.addOutput(y)
        let model = builder.model
        XCTAssertEqual(model.graph.tensors[scale].data, DataRange(offset: 0, length: 12))
        XCTAssertEqual(model.graph.tensors[quantized].data, DataRange(offset: 64, length: 5))
        XCTAssertEqual(model.graph.tensors[quantized].quant.scales, [0.5])
        XCTAssertEqual(Array(model.weights[12..<64]), [UInt8](repeating: 0, count: 52), "zero padding")
        XCTAssertEqual(Array(model.weights[64...]), codes)
        XCTAssertEqual(model.graph.inputs, [x])
        XCTAssertEqual(model.graph.outputs, [y])
        XCTAssertEqual(model.graph.producer, "test")
    }

    // MARK: Errors

    func testUnsupportedOperatorNamesOpNodeAndOpset() throws {
        let error = importError(try ONNXTestFiles.fixture("error_unsupported_op.onnx"))
        XCTAssertEqual(error?.kind, .unsupported)
        XCTAssertEqual(error?.message, "unsupported ONNX operator 'MaxPool' (node 'pool', opset 13)")
    }

    func testUnsupportedModels() throws {
        try assertImportFails("error_opset22.onnx", .unsupported, mentioning: ["opset 22"])
        try assertImportFails(
            "error_external_data.onnx", .unsupported,
            mentioning: ["external data tensors are not supported: tensor 'c1'"])
        try assertImportFails("error_concat_axis2.onnx", .unsupported, mentioning: ["concat_h", "axis 2"])
        try assertImportFails(
            "error_reshape_reorders.onnx", .unsupported, mentioning: ["flatten_hw", "[1, 4, 6, 6]", "[1, 144]"])
        try assertImportFails("error_dynamic_height.onnx", .unsupported, mentioning: ["'x'", "'height'"])
    }

    func testInvalidModels() throws {
        try assertImportFails("error_truncated.onnx", .invalidModel, mentioning: ["byte"])
        try assertImportFails("error_unknown_tensor.onnx", .invalidModel, mentioning: ["'relu'", "'missing'"])
        try assertImportFails("error_attribute_type.onnx", .invalidModel, mentioning: ["'conv'", "'group'", "FLOAT"])
        try assertImportFails("error_conv_channels.onnx", .invalidModel, mentioning: ["'conv'", "5 channels"])
    }

    /// Every proper prefix of a model is invalid: cuts inside a message are truncations, cuts between
    /// top-level fields lose the graph or the opset import.
    func testEveryTruncationIsAnInvalidModelError() throws {
        for name in ["conv_kinds", "shape_chain_reshape", "batchnorm"] {
            let bytes = try ONNXTestFiles.fixture(name + ".onnx")
            for cut in 0..<bytes.count {
                let error = importError(Array(bytes[..<cut]))
                XCTAssertEqual(error?.kind, .invalidModel, "\(name) cut at \(cut): \(error?.description ?? "imported")")
            }
        }
    }

    /// Inputs that once crashed the fuzzer (Tests/fuzz/ONNXFuzz.swift).
    func testFuzzerFindsFailCleanly() throws {
        let finds = try FileManager.default.contentsOfDirectory(atPath: ONNXTestFiles.fixtures.path)
            .filter { $0.hasPrefix("fuzz_") }
        XCTAssertFalse(finds.isEmpty)
        for name in finds {
            XCTAssertEqual(importError(try ONNXTestFiles.fixture(name))?.kind, .invalidModel, name)
        }
    }

    /// Corrupted bytes may import or fail, but never crash or hang.
    func testCorruptedBytesNeverCrash() throws {
        var generator = SplitMix64(seed: 7)
        for name in try ONNXTestFiles.validFixtures() {
            let original = try ONNXTestFiles.fixture(name + ".onnx")
            for _ in 0..<300 {
                var bytes = original
                for _ in 0...(generator.next() % 4) {
                    bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                }
                _ = importError(bytes)
            }
        }
    }
}
