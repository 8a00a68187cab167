import EdgeQ
import EdgeQCLI
import XCTest

@testable import EdgeQQuantizer

/// Splitting a layer's work over threads must not change a bit of the result. The ONNX fixtures (which
/// together use every row of the float kernel table) and the real models run with executors that split the
/// work differently, against the run on the calling thread alone.
final class ParallelTests: XCTestCase {
    /// Every work item a range of its own, last item first, on worker indices cycling through 0..<workerCount:
    /// a worst case for a kernel whose items are not independent, or whose workers share scratch memory.
    final class ItemByItemExecutor: ParallelExecutor {
        let workerCount = 3

        func parallelFor(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
            for item in (0..<count).reversed() { body(item..<item + 1, item % workerCount) }
        }
    }

    static func executors() throws -> [(name: String, executor: any ParallelExecutor)] {
        [("item by item", ItemByItemExecutor()), ("2 threads", try ThreadPool(threads: 2)),
         ("3 threads", try ThreadPool(threads: 3)), ("4 threads", try ThreadPool(threads: 4))]
    }

    /// Output of `model` on `input` (NHWC) and the kernels its steps ran.
    private func run(_ model: ImportedModel, _ input: [Float], _ executor: (any ParallelExecutor)?) throws
        -> (output: [UInt32], kernels: Set<String>)
    {
        let bytes = serializeEQM(model.graph, weights: model.weights)
        let interpreter = try Interpreter(model: try Model(bytes: bytes), executor: executor)
        let destination = interpreter.input()
        XCTAssertEqual(destination.count, input.count)
        for i in input.indices { destination[i] = input[i] }
        interpreter.invoke()
        return (interpreter.output().map(\.bitPattern), Set(interpreter.steps.map(\.kernel)))
    }

    private func assertBitIdenticalForEveryExecutor(
        _ model: ImportedModel, _ input: [Float], _ name: String, file: StaticString = #filePath, line: UInt = #line
    ) throws -> Set<String> {
        let reference = try run(model, input, nil)
        for (executorName, executor) in try Self.executors() {
            let output = try run(model, input, executor).output
            XCTAssertEqual(output, reference.output, "\(name): \(executorName)", file: file, line: line)
        }
        return reference.kernels
    }

    func testEveryKernelGivesTheSameBitsForAnySplit() throws {
        var kernelsUsed = Set<String>()
        for name in try ONNXTestFiles.validFixtures() {
            let model = try importONNX(ONNXTestFiles.fixture(name + ".onnx"))
            let shape = model.graph.tensors[model.graph.inputs[0]].shape
            var random = SplitMix64(seed: 5)
            kernelsUsed.formUnion(
                try assertBitIdenticalForEveryExecutor(model, random.floats(shape.reduce(1, *)), name))
        }
        let expected = Set(floatKernelTable.map(\.name) + ["f32_copy_channels"])
        XCTAssertEqual(expected.subtracting(kernelsUsed), [], "kernels no fixture runs: add a fixture that does")
    }

    func testRealModelsGiveTheSameBitsForAnySplit() throws {
        for name in EndToEndTests.models {
            let onnx = try TestData.shared("models/\(name).onnx")
            let input = try TestData.shared("models/reference/inputs/n01491361_tiger_shark.input.f32")
            let model = try importONNX(ONNXTestFiles.bytes(onnx))
            _ = try assertBitIdenticalForEveryExecutor(
                model, nhwc(try TestData.floats(input), onnxShape: [1, 3, 224, 224]), name)
        }
    }
}
