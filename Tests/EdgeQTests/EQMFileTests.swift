import XCTest
@testable import EdgeQ
@testable import EdgeQQuantizer

/// The model file format: round trip, and every kind of damage gives a clear error instead of a crash.
final class EQMFileTests: XCTestCase {
    func testRoundTripKeepsTheGraph() throws {
        let (graph, weights) = TinyModels.convNet()
        let bytes = serializeEQM(graph, weights: weights)
        let model = try Model(bytes: bytes)
        XCTAssertEqual(model.graph, graph)
        XCTAssertEqual(model.weightsOffset % 64, 0)
        for t in graph.tensors where t.isConstant {
            XCTAssertEqual(t.data!.offset % 64, 0, "blob of \(t.name) is not 64-byte aligned")
        }
    }

    func testEveryTruncationIsRejected() throws {
        let (graph, weights) = TinyModels.convNet()
        let bytes = serializeEQM(graph, weights: weights)
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
            XCTAssertThrowsError(try Model(bytes: Array(bytes[..<cut]))) { error in
                let e = error as! EdgeQError
                XCTAssertEqual(e.kind, .invalidModel)
                XCTAssertTrue(e.message.contains("truncated"), e.message)
            }
        }
    }

    func testAnyFlippedByteIsRejected() throws {
        let (graph, weights) = TinyModels.convNet()
        let bytes = serializeEQM(graph, weights: weights)
        for position in stride(from: 0, to: bytes.count, by: 7) {
            var damaged = bytes
            damaged[position] ^= 0x5A
            XCTAssertThrowsError(try Model(bytes: damaged), "flip at \(position) accepted") { error in
                XCTAssertEqual((error as! EdgeQError).kind == .invalidModel
                    || (error as! EdgeQError).kind == .unsupported, true)
            }
        }
    }

    func testUnknownVersionIsRejectedByName() throws {
        let (graph, weights) = TinyModels.convNet()
        var bytes = serializeEQM(graph, weights: weights)
        bytes[8] = 2
        XCTAssertThrowsError(try Model(bytes: bytes)) { error in
            let e = error as! EdgeQError
            XCTAssertEqual(e.kind, .unsupported)
            XCTAssertTrue(e.message.contains("version 2"), e.message)
        }
    }

    /// A valid file that asks for gigabytes of activations is refused before anything is allocated.
    func testHugeActivationsAreRefused() throws {
        var b = GraphBuilder(producer: "tests")
        let input = b.addInput(name: "input", shape: [1, 16384, 16384, 3])
        let output = b.addActivation(name: "pool", shape: [])
        b.addNode(name: "pool", op: .globalAveragePool, inputs: [input], outputs: [output])
        b.addOutput(output)
        XCTAssertThrowsError(try Interpreter(model: try Model(bytes: serializeEQM(b.model.graph, weights: b.model.weights)))) {
            XCTAssertTrue(($0 as! EdgeQError).message.contains("activation arena"), "\($0)")
        }
    }

    /// int8 weights lie in [-127, 127] (QUANTIZATION.md; the NEON depthwise kernel's int16 pair sums rely on it):
    /// a file with -128 in a weight is refused by name.
    func testInt8WeightOfMinus128IsRejected() throws {
        var b = GraphBuilder(producer: "tests")
        let input = b.addInput(name: "input", shape: [1, 1, 1, 4])
        let weights: [Int8] = [1, -127, 127, -128]
        let w = weights.withUnsafeBytes {
            b.addConstant(name: "fc.w", dtype: .int8, shape: [1, 4], quant: QuantParams(scales: [1], zeroPoints: [0]), bytes: $0)
        }
        let output = b.addActivation(name: "out", shape: [])
        b.addNode(name: "identity", op: .reshape(shape: [1, 4]), inputs: [input, w], outputs: [output])
        b.addOutput(output)
        XCTAssertThrowsError(try Model(bytes: serializeEQM(b.model.graph, weights: b.model.weights))) {
            XCTAssertTrue(($0 as! EdgeQError).message.contains("int8 weight 'fc.w' holds -128"), "\($0)")
        }
    }

    func testNotAModelFile() {
        XCTAssertThrowsError(try Model(bytes: Array(String(repeating: "this is a text file, not a model. ", count: 8).utf8))) {
            XCTAssertTrue(($0 as! EdgeQError).message.contains("not an EdgeQ model file"))
        }
    }

    /// Structurally wrong graphs with a valid checksum: the reader or the planner names the problem.
    func testInconsistentGraphsAreRejectedAtLoad() throws {
        let (graph, weights) = TinyModels.convNet()
        func expectFailure(_ mutate: (inout ModelGraph) -> Void, _ fragment: String,
                           file: StaticString = #filePath, line: UInt = #line) {
            var g = graph
            mutate(&g)
            XCTAssertThrowsError(try Interpreter(model: try Model(bytes: serializeEQM(g, weights: weights))),
                                 file: file, line: line) { error in
                let message = (error as! EdgeQError).message
                XCTAssertTrue(message.contains(fragment), "'\(message)' lacks '\(fragment)'", file: file, line: line)
            }
        }
        expectFailure({ $0.nodes[0].inputs[0] = 999 }, "out of range")
        expectFailure({ $0.nodes[0].inputs = [$0.nodes[0].inputs[0]] }, "has 1 inputs")
        expectFailure({ $0.tensors[$0.nodes[0].inputs[1]].shape[1] += 1 }, "data bytes do not match")
        expectFailure({ $0.nodes.swapAt(0, 1) }, "used before it is computed")
        expectFailure({ $0.nodes.removeLast() }, "never computed")
        expectFailure({ g in
            let n = g.nodes.firstIndex { $0.name == "slice" }!
            g.nodes[n].op = .slice(start: 0, end: 400)
        }, "exceeds")
    }
}

/// Small graphs built by hand for format and planner tests.
enum TinyModels {
    /// input [1,9,9,3] → conv 3x3/2 (8, relu6) → dw 3x3 (8) and conv 1x1 (5) → concat (13) → slice [2,10)
    /// → add (broadcast constant) → gap → reshape [1,8] → fc (3).
    static func convNet(seed: UInt64 = 1) -> (ModelGraph, [UInt8]) {
        var rng = SplitMix64(seed: seed)
        var b = GraphBuilder(producer: "EdgeQ tests")
        func node(_ b: inout GraphBuilder, _ name: String, _ op: Operator, inputs: [Int]) -> Int {
            let output = b.addActivation(name: name + ".out", shape: [])
            b.addNode(name: name, op: op, inputs: inputs, outputs: [output])
            return output
        }
        let input = b.addInput(name: "input", shape: [1, 9, 9, 3])
        let stemW = b.addConstant(name: "stem.w", shape: [8, 27], layout: .gemmPacked16, values: packGEMM16(ohwi: rng.floats(8 * 27), outputChannels: 8, reductionSize: 27))
        let stemB = b.addConstant(name: "stem.b", shape: [8], layout: .biasPadded16, values: packBias16(rng.floats(8)))
        let stem = node(&b, "stem", .conv2d(Conv2DParams(kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2,
            padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, activation: .relu6)), inputs: [input, stemW, stemB])
        let dwW = b.addConstant(name: "dw.w", shape: [8, 3, 3], layout: .depthwiseHWC, values: rng.floats(9 * 8))
        let dwB = b.addConstant(name: "dw.b", shape: [8], layout: .plain, values: rng.floats(8))
        let dw = node(&b, "dw", .conv2d(Conv2DParams(kernelHeight: 3, kernelWidth: 3, padTop: 1, padLeft: 1,
            padBottom: 1, padRight: 1, groups: 8)), inputs: [stem, dwW, dwB])
        let pwW = b.addConstant(name: "pw.w", shape: [5, 8], layout: .gemmPacked16, values: packGEMM16(ohwi: rng.floats(5 * 8), outputChannels: 5, reductionSize: 8))
        let pwB = b.addConstant(name: "pw.b", shape: [5], layout: .biasPadded16, values: packBias16(rng.floats(5)))
        let pw = node(&b, "pw", .conv2d(Conv2DParams(kernelHeight: 1, kernelWidth: 1, activation: .hardSwish)),
                           inputs: [stem, pwW, pwB])
        let cat = node(&b, "cat", .concat, inputs: [dw, pw])
        let slice = node(&b, "slice", .slice(start: 2, end: 10), inputs: [cat])
        let shift = b.addConstant(name: "shift", shape: [1, 1, 1, 8], layout: .plain, values: rng.floats(8))
        let added = node(&b, "add", .add(.relu), inputs: [slice, shift])
        let pooled = node(&b, "gap", .globalAveragePool, inputs: [added])
        let flat = node(&b, "flatten", .reshape(shape: [1, 8]), inputs: [pooled])
        let fcW = b.addConstant(name: "fc.w", shape: [3, 8], layout: .gemmPacked16, values: packGEMM16(ohwi: rng.floats(3 * 8), outputChannels: 3, reductionSize: 8))
        let fcB = b.addConstant(name: "fc.b", shape: [3], layout: .biasPadded16, values: packBias16(rng.floats(3)))
        let logits = node(&b, "fc", .fullyConnected(.none), inputs: [flat, fcW, fcB])
        b.addOutput(logits)
        return (b.model.graph, b.model.weights)
    }
}
