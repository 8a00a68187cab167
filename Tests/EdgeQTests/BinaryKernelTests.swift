import XCTest

@testable import EdgeQ

/// The binary convolution against its scalar definition `ref_b1_conv`, bit for bit, on random shapes and data
/// (seeded, so a failure reproduces): channel counts below, at and past multiples of 64 and of the 8-channel
/// block, every border case of 1x1 and 3x3 at strides 1 and 2, exact zeros, float32 and int8 inputs and
/// outputs, views inside wider buffers (nothing outside an output view may change), rows split between calls.
final class BinaryKernelTests: XCTestCase {
    private static let inputChannels = [1, 2, 7, 8, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 191, 192, 200]
    private static let outputChannels = [1, 3, 7, 8, 9, 15, 16, 17, 24, 33]

    // MARK: Weight packing

    func testBinaryPackingRoundTripsAndZeroPads() {
        var random = SplitMix64(seed: 501)
        for inputChannels in [1, 63, 64, 65, 130] {
            for outputChannels in [1, 7, 8, 9, 17] {
                for taps in [1, 2, 9] {
                    let signs = (0..<outputChannels * taps * inputChannels).map { _ in random.sign() }
                    let packed = packBinaryWeights(
                        signs: signs, outputChannels: outputChannels, taps: taps, inputChannels: inputChannels)
                    let words = (inputChannels + 63) / 64, blocks = (outputChannels + 7) / 8
                    XCTAssertEqual(packed.count, blocks * taps * words * 8)
                    XCTAssertEqual(
                        unpackBinaryWeights(
                            packed, outputChannels: outputChannels, taps: taps, inputChannels: inputChannels),
                        signs)
                    // s[o][t][c] is bit c % 64 of word [o / 8][t·words + c / 64][o % 8]; padding bits are 0.
                    for block in 0..<blocks {
                        for k in 0..<taps * words {
                            for lane in 0..<8 {
                                let o = block * 8 + lane, tap = k / words
                                var expected: UInt64 = 0
                                for bit in 0..<64 {
                                    let c = (k % words) * 64 + bit
                                    if o < outputChannels && c < inputChannels
                                        && signs[(o * taps + tap) * inputChannels + c] < 0
                                    {
                                        expected |= 1 << UInt64(bit)
                                    }
                                }
                                XCTAssertEqual(packed[(block * taps * words + k) * 8 + lane], expected)
                            }
                        }
                    }
                }
            }
        }
    }

    func testSignDefinition() {
        XCTAssertEqual([0, -0.0, 1e-45, -1e-45, 3, -.infinity, .nan, -.nan].map(ref_b1_sign), [0, 0, 1, -1, 1, -1, 1, 1])
        XCTAssertEqual(ref_b1_sign(5, zeroPoint: 5), 0)
        XCTAssertEqual(ref_b1_sign(-128, zeroPoint: 127), -1)
        XCTAssertEqual(ref_b1_sign(127, zeroPoint: -128), 1)
    }

    // MARK: Convolutions

    /// 1x1 and 3x3 at strides 1 and 2 with every padding from 0 to 2 on each side, on images from 1x1 up, so
    /// that every border class (corners, edges, rows shorter than the tile) occurs.
    func testEveryBorderCase() {
        var random = SplitMix64(seed: 502)
        for kernel in [1, 3] {
            for stride in [1, 2] {
                for (height, width) in [(1, 1), (1, 5), (2, 2), (3, 3), (4, 7), (5, 2), (6, 9)] {
                    for pads in [(0, 0, 0, 0), (1, 1, 1, 1), (2, 2, 2, 2), (1, 0, 0, 1), (0, 2, 1, 0), (2, 1, 0, 2)] {
                        let g = ConvGeometry(
                            inputHeight: height, inputWidth: width, inputChannels: random.element(of: [5, 64, 70]),
                            outputChannels: random.element(of: Self.outputChannels), kernelHeight: kernel,
                            kernelWidth: kernel, strideHeight: stride, strideWidth: stride, padTop: pads.0,
                            padLeft: pads.1, padBottom: pads.2, padRight: pads.3)
                        guard g.outputHeight >= 1 && g.outputWidth >= 1 else { continue }
                        checkConvolution(g, &random)
                    }
                }
            }
        }
    }

    func testChannelCountsAroundWordsAndBlocks() {
        var random = SplitMix64(seed: 503)
        for inputChannels in Self.inputChannels {
            for outputChannels in Self.outputChannels {
                let kernel = random.element(of: [1, 3])
                let g = ConvGeometry(
                    inputHeight: random.int(1...6), inputWidth: random.int(1...9), inputChannels: inputChannels,
                    outputChannels: outputChannels, kernelHeight: kernel, kernelWidth: kernel,
                    strideHeight: random.int(1...2), strideWidth: random.int(1...2), padTop: kernel / 2,
                    padLeft: kernel / 2, padBottom: kernel / 2, padRight: kernel / 2)
                checkConvolution(g, &random)
            }
        }
    }

    /// Any kernel size, stride, padding and dilation.
    func testRandomGeometriesMatchReference() {
        var random = SplitMix64(seed: 504)
        for _ in 0..<300 {
            let g = ConvGeometry(
                inputHeight: random.int(1...9), inputWidth: random.int(1...11),
                inputChannels: random.element(of: Self.inputChannels),
                outputChannels: random.element(of: Self.outputChannels),
                kernelHeight: random.element(of: [1, 2, 3, 5]), kernelWidth: random.element(of: [1, 3, 4]),
                strideHeight: random.int(1...3), strideWidth: random.int(1...3), dilationHeight: random.int(1...2),
                dilationWidth: random.int(1...2), padTop: random.int(0...2), padLeft: random.int(0...2),
                padBottom: random.int(0...2), padRight: random.int(0...2))
            guard g.outputHeight >= 1 && g.outputWidth >= 1 else { continue }
            checkConvolution(g, &random)
        }
    }

    /// Exact zeros (ONNX Sign(0) = 0) take the masked path: few, many, all, and −0.0.
    func testExactZerosCountAsZero() {
        var random = SplitMix64(seed: 505)
        for zeros in [0.01, 0.3, 1.0] {
            for _ in 0..<10 {
                let g = ConvGeometry(
                    inputHeight: random.int(1...7), inputWidth: random.int(1...9),
                    inputChannels: random.element(of: Self.inputChannels),
                    outputChannels: random.element(of: Self.outputChannels), kernelHeight: 3, kernelWidth: 3,
                    strideHeight: random.int(1...2), strideWidth: random.int(1...2), padTop: 1, padLeft: 1,
                    padBottom: 1, padRight: 1)
                checkConvolution(g, &random, zeros: zeros)
            }
        }
    }

    /// The two layers of the microbenchmark (`edgeq microbench`), MobileNetV2 sizes.
    func testMobileNetV2LayerShapes() {
        var random = SplitMix64(seed: 506)
        checkConvolution(
            ConvGeometry(inputHeight: 56, inputWidth: 56, inputChannels: 128, outputChannels: 128, kernelHeight: 1,
                         kernelWidth: 1), &random)
        checkConvolution(
            ConvGeometry(inputHeight: 28, inputWidth: 28, inputChannels: 128, outputChannels: 128, kernelHeight: 3,
                         kernelWidth: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), &random)
    }

    // MARK: Helpers

    /// Runs the kernel on random data for every input/output dtype pair, in views with random pixel strides,
    /// the output rows in up to three calls (as a multithreaded caller makes them), and compares each with
    /// `ref_b1_conv` bit for bit. `zeros`: the fraction of input values that are exactly 0 (half of them −0.0).
    private func checkConvolution(_ g: ConvGeometry, _ random: inout SplitMix64, zeros: Double = 0) {
        let inputPixels = g.inputHeight * g.inputWidth, outputPixels = g.outputHeight * g.outputWidth
        let inputStride = g.inputChannels + random.int(0...3), outputStride = g.outputChannels + random.int(0...3)
        let taps = g.kernelHeight * g.kernelWidth
        let signs = (0..<g.outputChannels * taps * g.inputChannels).map { _ in random.sign() }
        let weights = packBinaryWeights(
            signs: signs, outputChannels: g.outputChannels, taps: taps, inputChannels: g.inputChannels)
        let padded = (g.outputChannels + 7) / 8 * 8
        var multipliers = (0..<padded).map { $0 < g.outputChannels ? random.float(in: -0.5...0.5) : 0 }
        var biases = (0..<padded).map { $0 < g.outputChannels ? random.float(in: -20...20) : 0 }
        if random.int(0...3) == 0 { multipliers[0] = 0 }  // an all-zero channel: α = 0
        func isZero(_ random: inout SplitMix64) -> Bool { Double(random.next() >> 11) / 9007199254740992 < zeros }
        var floats = [Float](repeating: .nan, count: (inputPixels - 1) * inputStride + g.inputChannels)
        var int8s = [Int8](repeating: 0, count: floats.count)
        let zeroPoint = Int8(truncatingIfNeeded: random.next())
        for p in 0..<inputPixels {
            for c in 0..<g.inputChannels {
                let i = p * inputStride + c
                floats[i] = isZero(&random) ? (random.int(0...1) == 0 ? 0 : -0.0) : random.float(in: -2...2)
                int8s[i] = isZero(&random) ? zeroPoint : Int8(truncatingIfNeeded: random.next())
            }
        }
        let activation = random.element(of: [Activation.none, .relu, .relu6, .hardSwish])
        let z = Int32(random.int(-128...127)), lo = Int32(random.int(-128...0))
        let requantization = I8Requantization(zeroPoint: z, lo: lo, hi: Int32(random.int(Int(lo)...127)))
        let scratch = UnsafeMutableRawPointer.allocate(
            byteCount: b1_conv_scratchByteCount(geometry: g), alignment: 64)
        defer { scratch.deallocate() }
        // Row splits: all at once, or in up to three calls.
        var cuts = [0, g.outputHeight]
        if g.outputHeight > 1 && random.int(0...1) == 1 {
            cuts.insert(random.int(1...g.outputHeight - 1), at: 1)
            if cuts[1] < g.outputHeight - 1 { cuts.insert(random.int(cuts[1] + 1...g.outputHeight - 1), at: 2) }
        }
        let outputCount = (outputPixels - 1) * outputStride + g.outputChannels + random.int(0...3)
        floats.withUnsafeBufferPointer { x in
            int8s.withUnsafeBufferPointer { q in
                for floatInput in [true, false] {
                    let input: B1Input = floatInput ? .float32(x.baseAddress!) : .int8(q.baseAddress!, zeroPoint: zeroPoint)
                    for floatOutput in [true, false] {
                        var fast = [Float](repeating: 12345, count: outputCount), expected = fast
                        var fast8 = [Int8](repeating: 99, count: outputCount), expected8 = fast8
                        let what = "\(g) float input \(floatInput) float output \(floatOutput) cuts \(cuts)"
                        fast.withUnsafeMutableBufferPointer { y in
                            fast8.withUnsafeMutableBufferPointer { y8 in
                                let output: B1Output = floatOutput
                                    ? .float32(y.baseAddress!, activation: activation)
                                    : .int8(y8.baseAddress!, requantization: requantization)
                                for i in 0..<cuts.count - 1 {
                                    b1_conv_4x8(
                                        input: input, inputPixelStride: inputStride, geometry: g, weights: weights,
                                        multipliers: multipliers, biases: biases, output: output,
                                        outputPixelStride: outputStride, outputRows: cuts[i]..<cuts[i + 1],
                                        scratch: scratch)
                                }
                            }
                        }
                        expected.withUnsafeMutableBufferPointer { y in
                            expected8.withUnsafeMutableBufferPointer { y8 in
                                ref_b1_conv(
                                    input: input, inputPixelStride: inputStride, geometry: g, signs: signs,
                                    multipliers: multipliers, biases: biases,
                                    output: floatOutput
                                        ? .float32(y.baseAddress!, activation: activation)
                                        : .int8(y8.baseAddress!, requantization: requantization),
                                    outputPixelStride: outputStride)
                            }
                        }
                        if floatOutput {
                            guard let i = fast.indices.first(where: { fast[$0].bitPattern != expected[$0].bitPattern })
                            else { continue }
                            XCTFail("\(what): element \(i) is \(fast[i]), expected \(expected[i])")
                        } else {
                            guard let i = fast8.indices.first(where: { fast8[$0] != expected8[$0] }) else { continue }
                            XCTFail("\(what): element \(i) is \(fast8[i]), expected \(expected8[i])")
                        }
                    }
                }
            }
        }
    }
}

extension SplitMix64 {
    mutating func sign() -> Int8 { next() & 1 == 0 ? 1 : -1 }
}
