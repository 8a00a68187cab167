import EdgeQ
import Foundation
import XCTest

@testable import EdgeQQuantizer

/// Files the ONNX import tests read: the generated fixtures next to this file and the real models in
/// `../shared` beside the package.
enum ONNXTestFiles {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/onnx")

    static func fixture(_ name: String) throws -> [UInt8] {
        try bytes(fixtures.appendingPathComponent(name))
    }

    /// Names (without extension) of the fixtures that come with an input and onnxruntime's output.
    static func validFixtures() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: fixtures.path)
            .filter { $0.hasSuffix(".output.f32") }
            .map { String($0.dropLast(".output.f32".count)) }
            .sorted()
    }

    static func bytes(_ url: URL) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url))
    }

    /// A raw little-endian float32 file.
    static func floats(_ url: URL) throws -> [Float] {
        let data = try bytes(url)
        return stride(from: 0, to: data.count, by: 4).map { offset in
            Float(
                bitPattern: UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16
                    | UInt32(data[offset + 3]) << 24)
        }
    }
}

/// Runs `model` through the runtime as a user does: serialized to .eqm bytes, loaded, planned, invoked.
func runWithRuntime(_ model: ImportedModel, _ inputNHWC: [Float]) throws -> [Float] {
    let interpreter = try Interpreter(model: try Model(bytes: serializeEQM(model.graph, weights: model.weights)))
    let input = interpreter.input()
    XCTAssertEqual(input.count, inputNHWC.count)
    for i in inputNHWC.indices { input[i] = inputNHWC[i] }
    interpreter.invoke()
    return interpreter.output()
}

/// NCHW [1, C, H, W] → NHWC; other ranks are laid out the same in both.
func nhwc(_ values: [Float], onnxShape dims: [Int]) -> [Float] {
    guard dims.count == 4 else { return values }
    let (c, hw) = (dims[1], dims[2] * dims[3])
    return (0..<values.count).map { index in values[(index % c) * hw + index / c] }
}

/// Asserts |actual - expected| <= absolute + relative·|expected| everywhere.
func assertClose(
    _ actual: [Float], _ expected: [Float], absolute: Float, relative: Float, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.count, expected.count, "\(what): element count", file: file, line: line)
    let worst = zip(actual, expected).enumerated().max { a, b in
        abs(a.element.0 - a.element.1) - relative * abs(a.element.1) < abs(b.element.0 - b.element.1) - relative
            * abs(b.element.1)
    }
    guard let (index, (a, e)) = worst else { return }
    XCTAssertLessThanOrEqual(
        abs(a - e), absolute + relative * abs(e), "\(what): element \(index) is \(a), expected \(e)", file: file,
        line: line)
}

extension ModelGraph {
    /// How many nodes satisfy `predicate`.
    func count(_ predicate: (Node) -> Bool) -> Int { nodes.filter(predicate).count }

    func convolutions() -> [(node: Node, params: Conv2DParams)] {
        nodes.compactMap { node in
            if case .conv2d(let params) = node.op { return (node, params) }
            return nil
        }
    }

    /// Elements of every constant, counted in their logical shapes (without layout padding).
    var parameterCount: Int { tensors.filter(\.isConstant).reduce(0) { $0 + $1.elementCount } }
}

/// Runs an EdgeQ float graph with plain loops written from the operator definitions in Graph.swift and
/// FORMAT.md, every tensor in its own array: a check of the importer against onnxruntime that does not depend
/// on the runtime's kernels, and of the runtime's plan (arena reuse, in-place concat, views) against plain
/// evaluation.
struct ReferenceGraphEvaluator {
    let model: ImportedModel

    private var tensors: [TensorInfo] { model.graph.tensors }

    func run(_ input: [Float]) -> [Float] {
        var values = [[Float]](repeating: [], count: tensors.count)
        values[model.graph.inputs[0]] = input
        func value(_ tensor: Int) -> [Float] { tensors[tensor].isConstant ? constant(tensor) : values[tensor] }
        for node in model.graph.nodes {
            let x = value(node.inputs[0])
            let output = tensors[node.outputs[0]].shape
            let channels = output.last!
            let y: [Float]
            switch node.op {
            case .conv2d(let params):
                y = convolution(x, tensors[node.inputs[0]].shape, output, params, node.inputs[1], node.inputs[2])
            case .binaryConv2d(let params):
                y = binaryConvolution(x, tensors[node.inputs[0]].shape, output, params, node.inputs)
            case .fullyConnected(let activation):
                let weights = constant(node.inputs[1])
                let bias = constant(node.inputs[2])
                let k = x.count
                let rows = unpackGEMM16(weights, outputChannels: channels, reductionSize: k)
                y = (0..<channels).map { m in
                    activation.apply((0..<k).reduce(bias[m]) { $0 + rows[m * k + $1] * x[$1] })
                }
            case .add(let activation):
                let b = value(node.inputs[1])
                y = x.indices.map { activation.apply(x[$0] + b[$0 % b.count]) }
            case .mul:
                let b = value(node.inputs[1])
                y = x.indices.map { x[$0] * b[$0 % b.count] }
            case .concat:
                let parts = node.inputs.map { (value($0), tensors[$0].shape.last!) }
                y = (0..<(x.count / tensors[node.inputs[0]].shape.last!)).flatMap { pixel in
                    parts.flatMap { part, width in part[(pixel * width)..<((pixel + 1) * width)] }
                }
            case .slice(let start, let end):
                let width = tensors[node.inputs[0]].shape.last!
                y = (0..<(x.count / width)).flatMap { pixel in x[(pixel * width + start)..<(pixel * width + end)] }
            case .globalAveragePool:
                let pixels = x.count / channels
                y = (0..<channels).map { c in (0..<pixels).reduce(0) { $0 + x[$1 * channels + c] } / Float(pixels) }
            case .activation(let activation):
                y = x.map { activation.apply($0) }
            case .reshape:
                y = x
            case .quantize, .dequantize:
                preconditionFailure("the plain evaluator runs float32 graphs")
            }
            values[node.outputs[0]] = y
        }
        return values[model.graph.outputs[0]]
    }

    private func constant(_ tensor: Int) -> [Float] {
        let range = tensors[tensor].data!
        return model.weights[range.offset..<(range.offset + range.length)].withUnsafeBytes { buffer in
            (0..<(range.length / 4)).map { buffer.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        }
    }

    /// `ref_b1_conv` (the definition in plain loops) on the unpacked signs. A bit-packed tensor is held as its
    /// values −1, 0, +1, whose signs are its bits.
    private func binaryConvolution(_ x: [Float], _ input: [Int], _ output: [Int], _ p: Conv2DParams, _ inputs: [Int])
        -> [Float]
    {
        let g = ConvGeometry(p, input: input, outputChannels: output[3])
        let range = tensors[inputs[1]].data!
        let words = model.weights[range.offset..<(range.offset + range.length)].withUnsafeBytes { buffer in
            (0..<(range.length / 8)).map { buffer.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) }
        }
        let signs = unpackBinaryWeights(
            words, outputChannels: g.outputChannels, taps: p.kernelHeight * p.kernelWidth,
            inputChannels: g.inputChannels)
        var y = [Float](repeating: 0, count: output.reduce(1, *))
        guard inputs.count == 3 else {
            y.withUnsafeMutableBufferPointer { out in
                ref_b1_conv(
                    input: .float32(x), inputPixelStride: g.inputChannels, geometry: g, signs: signs,
                    multipliers: constant(inputs[2]), biases: constant(inputs[3]),
                    output: .float32(out.baseAddress!, activation: p.activation), outputPixelStride: g.outputChannels)
            }
            return y
        }
        let t = constant(inputs[2]).map { Int32(bitPattern: $0.bitPattern) }  // direction, lower, upper rows
        let stride = 2 * binaryWordCount(g.outputChannels)
        var bits = [UInt64](repeating: 0, count: output[1] * output[2] * stride)
        t.withUnsafeBufferPointer { t in
            let t = t.baseAddress!, n = g.outputChannels
            bits.withUnsafeMutableBufferPointer { out in
                ref_b1_conv(
                    input: .float32(x), inputPixelStride: g.inputChannels, geometry: g, signs: signs,
                    multipliers: [0], biases: [0],
                    output: .packed(out.baseAddress!, thresholds: B1Thresholds(direction: t, lower: t + n, upper: t + 2 * n)),
                    outputPixelStride: stride)
            }
        }
        bits.withUnsafeBufferPointer { bits in
            for pixel in 0..<output[1] * output[2] {
                for o in 0..<g.outputChannels {
                    y[pixel * g.outputChannels + o] = Float(
                        ref_b1_packed_value(bits.baseAddress! + pixel * stride, channels: g.outputChannels, o))
                }
            }
        }
        return y
    }

    /// Direct convolution with the weights unpacked to OHWI [Cout][KH][KW][Cin/groups].
    private func convolution(
        _ x: [Float], _ input: [Int], _ output: [Int], _ p: Conv2DParams, _ weightTensor: Int, _ biasTensor: Int
    ) -> [Float] {
        let (height, width, inputChannels) = (input[1], input[2], input[3])
        let (outputHeight, outputWidth, outputChannels) = (output[1], output[2], output[3])
        let (kh, kw) = (p.kernelHeight, p.kernelWidth)
        let perGroup = inputChannels / p.groups
        let stored = constant(weightTensor)
        let weights: [Float]
        switch tensors[weightTensor].layout {
        case .gemmPacked16:
            weights = unpackGEMM16(stored, outputChannels: outputChannels, reductionSize: kh * kw * inputChannels)
        case .depthwiseHWC:
            weights = (0..<stored.count).map { index in stored[(index % (kh * kw)) * outputChannels + index / (kh * kw)]
            }
        case .plain, .biasPadded16:
            weights = stored
        case .gemmI8C4, .binaryPacked64, .binaryBits64:
            preconditionFailure("the plain evaluator runs float32 graphs; binary ones by binaryConvolution")
        }
        let bias = constant(biasTensor)
        var y = [Float](repeating: 0, count: outputHeight * outputWidth * outputChannels)
        x.withUnsafeBufferPointer { x in
            weights.withUnsafeBufferPointer { w in
                for oy in 0..<outputHeight {
                    for ox in 0..<outputWidth {
                        for oc in 0..<outputChannels {
                            let firstInput = oc / (outputChannels / p.groups) * perGroup
                            var sum = bias[oc]
                            for ky in 0..<kh {
                                let iy = oy * p.strideHeight - p.padTop + ky * p.dilationHeight
                                guard iy >= 0 && iy < height else { continue }
                                for kx in 0..<kw {
                                    let ix = ox * p.strideWidth - p.padLeft + kx * p.dilationWidth
                                    guard ix >= 0 && ix < width else { continue }
                                    let pixel = (iy * width + ix) * inputChannels + firstInput
                                    let tap = ((oc * kh + ky) * kw + kx) * perGroup
                                    for ci in 0..<perGroup { sum += x[pixel + ci] * w[tap + ci] }
                                }
                            }
                            y[(oy * outputWidth + ox) * outputChannels + oc] = p.activation.apply(sum)
                        }
                    }
                }
            }
        }
        return y
    }
}
