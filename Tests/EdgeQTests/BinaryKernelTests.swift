import XCTest

@testable import EdgeQ

/// The binary convolution against its scalar definition `ref_b1_conv`, bit for bit, on random shapes and data
/// (seeded, so a failure reproduces): channel counts below, at and past multiples of 64 and of the 8-channel
/// block, every border case of 1x1 and 3x3 at strides 1 and 2, exact zeros, float32, int8 and bit-packed
/// inputs and outputs, views inside wider buffers (nothing outside an output view may change), rows split
/// between calls.
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

    /// Windows of 252...256 values: around the 2x64 tile's limits (K ≤ 253 for its byte rule, K ≤ 255 for it).
    func testWindowsAroundTheLookupTileLimits() {
        var random = SplitMix64(seed: 508)
        for inputChannels in [252, 253, 254, 255, 256] {
            for _ in 0..<6 {
                let g = ConvGeometry(
                    inputHeight: random.int(1...5), inputWidth: random.int(1...7), inputChannels: inputChannels,
                    outputChannels: random.element(of: Self.outputChannels + [64, 65, 100]), kernelHeight: 1,
                    kernelWidth: 1, strideHeight: random.int(1...2), strideWidth: random.int(1...2),
                    padTop: random.int(0...1), padLeft: random.int(0...1), padBottom: random.int(0...1),
                    padRight: random.int(0...1))
                checkConvolution(g, &random, zeros: random.element(of: [0, 0, 0.05]))
            }
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

    /// The AVX2 tile counts in bytes (at most 8 per word) and adds them up every 31 words: every sign differs, so
    /// each byte gains the most, over windows of 1, 31, 32, 63 and 100 words; an exact zero in the first pixel
    /// sends the first window to the masked loop.
    func testLongWindowsOfDifferingSigns() {
        for (kernel, channels) in [(1, 64), (1, 1984), (1, 2048), (3, 448), (5, 200)] {
            let g = ConvGeometry(
                inputHeight: kernel + 1, inputWidth: kernel + 4, inputChannels: channels, outputChannels: 9,
                kernelHeight: kernel, kernelWidth: kernel)
            let taps = kernel * kernel, k = taps * channels
            let kernelWeights = ConvolutionData.kernelWeights(
                packBinaryWeights(
                    signs: [Int8](repeating: 1, count: 9 * taps * channels), outputChannels: 9, taps: taps,
                    inputChannels: channels),
                g, .tile4x8)
            defer { withExtendedLifetime(kernelWeights) {} }
            let weights = UnsafePointer(kernelWeights.base.assumingMemoryBound(to: UInt64.self))
            var x = [Float](repeating: -1, count: g.inputHeight * g.inputWidth * channels)
            x[0] = 0
            let ones = [Float](repeating: 1, count: 16), zeros = [Float](repeating: 0, count: 16)
            var y = [Float](repeating: .nan, count: g.outputHeight * g.outputWidth * 9)
            let scratch = UnsafeMutableRawPointer.allocate(
                byteCount: b1_conv_scratchByteCount(geometry: g), alignment: 64)
            defer { scratch.deallocate() }
            y.withUnsafeMutableBufferPointer { out in
                b1_conv_4x8(
                    input: .float32(x), inputPixelStride: channels, geometry: g, weights: weights,
                    multipliers: ones, biases: zeros, output: .float32(out.baseAddress!, activation: .none),
                    outputPixelStride: 9, outputRows: 0..<g.outputHeight, scratch: scratch)
            }
            for (i, v) in y.enumerated() {
                XCTAssertEqual(v, Float(i < 9 ? 1 - k : -k), "\(kernel)x\(kernel)x\(channels), output \(i)")
            }
        }
    }

    // MARK: Bit-packed outputs

    /// Thresholds from `b1_output_thresholds` over the float32 (and int8) epilogue make the bit-packed output
    /// exactly sign(y − t) of the float32 output y (sign(q − z) of the int8 one): m < 0, m = 0, ReLU zeros,
    /// centers t equal to outputs that occur.
    func testPackedOutputEqualsSignOfFloatAndInt8Outputs() {
        var random = SplitMix64(seed: 507)
        for _ in 0..<40 {
            let kernel = random.element(of: [1, 3])
            let g = ConvGeometry(
                inputHeight: random.int(1...6), inputWidth: random.int(1...9),
                inputChannels: random.element(of: Self.inputChannels),
                outputChannels: random.element(of: Self.outputChannels), kernelHeight: kernel, kernelWidth: kernel,
                padTop: kernel / 2, padLeft: kernel / 2, padBottom: kernel / 2, padRight: kernel / 2)
            let data = ConvolutionData(g, &random, zeros: 0.2)
            let k = g.kernelHeight * g.kernelWidth * g.inputChannels
            let activation = random.element(of: [Activation.none, .relu, .relu6, Activation(.hardSigmoid, -0.2, 0.5)])
            // Centers: 0 (a plain Sign), a value some output takes exactly, or any value.
            let centers: [Float] = (0..<g.outputChannels).map { o in
                switch random.int(0...2) {
                case 0: return 0
                case 1: return activation.apply(Float(random.int(-k...k)) * data.multipliers[o] + data.biases[o])
                default: return random.float(in: -5...5)
                }
            }
            let requantization = I8Requantization(zeroPoint: Int32(random.int(-20...20)), lo: -128, hi: 127)
            var floatSigns: [[Int32]] = [], int8Signs: [[Int32]] = []
            for o in 0..<g.outputChannels {
                func floatSign(_ acc: Int32) -> Int32 {
                    ref_b1_sign(activation.apply(Float(acc) * data.multipliers[o] + data.biases[o]) + -centers[o])
                }
                func int8Sign(_ acc: Int32) -> Int32 {
                    ref_b1_sign(ref_i8_round_clamp(Float(acc) * data.multipliers[o] + data.biases[o], requantization),
                                zeroPoint: Int8(requantization.zeroPoint))
                }
                floatSigns.append((-k...k).map { floatSign(Int32($0)) })
                int8Signs.append((-k...k).map { int8Sign(Int32($0)) })
            }
            for useInt8 in [false, true] {
                let table = useInt8 ? int8Signs : floatSigns
                var direction = [Int32](repeating: 1, count: data.padded), lower = direction, upper = direction
                for o in 0..<g.outputChannels {
                    let t = b1_output_thresholds(reduction: k) { table[o][Int($0) + k] }!
                    (direction[o], lower[o], upper[o]) = (t.direction, t.lower, t.upper)
                }
                let kernel = ConvolutionData.kernels(g).last!
                let (packed, stride) = data.run(
                    .packed, g, kernel: kernel, thresholds: (direction, lower, upper), activation: activation,
                    requantization: requantization, outputStride: nil, rows: [0, g.outputHeight])
                let (values, valueStride) = data.run(
                    useInt8 ? .int8 : .float32, g, thresholds: (direction, lower, upper), activation: activation,
                    requantization: requantization, outputStride: nil, rows: [0, g.outputHeight])
                for p in 0..<g.outputHeight * g.outputWidth {
                    for o in 0..<g.outputChannels {
                        let expected = useInt8
                            ? ref_b1_sign(values.int8[p * valueStride + o], zeroPoint: Int8(requantization.zeroPoint))
                            : ref_b1_sign(values.float[p * valueStride + o] + -centers[o])
                        let bit = packed.packed.withUnsafeBufferPointer {
                            ref_b1_packed_value($0.baseAddress! + p * stride, channels: g.outputChannels, o)
                        }
                        XCTAssertEqual(bit, expected, "\(g) int8 \(useInt8) pixel \(p) channel \(o)")
                    }
                }
            }
        }
    }

    func testOutputThresholds() {
        // Increasing, with a zero run; decreasing (m < 0); constant (m = 0); not monotone.
        XCTAssertEqual(b1_output_thresholds(reduction: 5) { $0 < -1 ? -1 : $0 > 2 ? 1 : 0 }.map { [$0.0, $0.1, $0.2] },
                       [1, -1, 2])
        XCTAssertEqual(b1_output_thresholds(reduction: 5) { $0 > 0 ? -1 : 1 }.map { [$0.0, $0.1, $0.2] }, [-1, 0, -1])
        XCTAssertEqual(b1_output_thresholds(reduction: 5) { _ in 1 }.map { [$0.0, $0.1, $0.2] }, [1, -5, -6])
        XCTAssertEqual(b1_output_thresholds(reduction: 5) { _ in -1 }.map { [$0.0, $0.1, $0.2] }, [1, 6, 5])
        XCTAssertEqual(b1_output_thresholds(reduction: 5) { _ in 0 }.map { [$0.0, $0.1, $0.2] }, [1, -5, 5])
        XCTAssertNil(b1_output_thresholds(reduction: 5) { abs($0) > 2 ? 1 : -1 })
    }

    // MARK: Helpers

    /// Random weights, per-channel constants and an input in every form (float32 with exact zeros and −0.0,
    /// int8, and bit-packed with the float input's signs), each in a view with a random pixel stride.
    private struct ConvolutionData {
        let signs: [Int8]
        let weights: [UInt64]
        let padded: Int
        var multipliers: [Float], biases: [Float]
        let floats: [Float], int8s: [Int8], packed: [UInt64]
        let zeroPoint: Int8
        let inputStride: Int, packedStride: Int

        init(_ g: ConvGeometry, _ random: inout SplitMix64, zeros: Double) {
            let inputPixels = g.inputHeight * g.inputWidth
            inputStride = g.inputChannels + random.int(0...3)
            let taps = g.kernelHeight * g.kernelWidth
            signs = (0..<g.outputChannels * taps * g.inputChannels).map { _ in random.sign() }
            weights = packBinaryWeights(
                signs: signs, outputChannels: g.outputChannels, taps: taps, inputChannels: g.inputChannels)
            padded = (g.outputChannels + 7) / 8 * 8
            let count = g.outputChannels
            multipliers = (0..<padded).map { $0 < count ? random.float(in: -0.5...0.5) : 0 }
            biases = (0..<padded).map { $0 < count ? random.float(in: -20...20) : 0 }
            if random.int(0...3) == 0 { multipliers[0] = 0 }  // an all-zero channel: α = 0
            func isZero(_ random: inout SplitMix64) -> Bool { Double(random.next() >> 11) / 9007199254740992 < zeros }
            var floats = [Float](repeating: .nan, count: (inputPixels - 1) * inputStride + g.inputChannels)
            var int8s = [Int8](repeating: 0, count: floats.count)
            zeroPoint = Int8(truncatingIfNeeded: random.next())
            for p in 0..<inputPixels {
                for c in 0..<g.inputChannels {
                    let i = p * inputStride + c
                    floats[i] = isZero(&random) ? (random.int(0...1) == 0 ? 0 : -0.0) : random.float(in: -2...2)
                    int8s[i] = isZero(&random) ? zeroPoint : Int8(truncatingIfNeeded: random.next())
                }
            }
            let words = binaryWordCount(g.inputChannels)
            packedStride = 2 * words + random.int(0...2)
            var packed = [UInt64](repeating: 0, count: (inputPixels - 1) * packedStride + 2 * words)
            for p in 0..<inputPixels {
                for c in 0..<g.inputChannels {
                    let sign = ref_b1_sign(floats[p * inputStride + c]), bit = UInt64(1) << UInt64(c % 64)
                    if sign != 0 { packed[p * packedStride + words + c / 64] |= bit }
                    if sign < 0 { packed[p * packedStride + c / 64] |= bit }
                }
            }
            self.floats = floats
            self.int8s = int8s
            self.packed = packed
        }

        enum Kind: CaseIterable { case float32, int8, packed }

        /// The kernel variants that compute `g`: b1_conv_4x8 everywhere, and on x86 b1_conv_2x64 for K ≤ 255.
        enum Kernel { case tile4x8, lookup2x64 }

        static func kernels(_ g: ConvGeometry) -> [Kernel] {
            #if arch(x86_64)
            return b1_conv_2x64_fits(g) ? [.tile4x8, .lookup2x64] : [.tile4x8]
            #else
            return [.tile4x8]
            #endif
        }

        /// The binaryPacked64 `words` as `kernel` reads them (what the kernel table makes once at bind time).
        static func kernelWeights(_ words: [UInt64], _ g: ConvGeometry, _ kernel: Kernel) -> AlignedBuffer {
            words.withUnsafeBufferPointer { w in
                #if arch(x86_64)
                return kernel == .lookup2x64
                    ? b1_conv_2x64_weights(w.baseAddress!, geometry: g) : b1_conv_4x8_weights(w.baseAddress!, geometry: g)
                #else
                return AlignedBuffer(copying: UnsafeRawBufferPointer(w))
                #endif
            }
        }

        struct Outputs {
            var float: [Float], int8: [Int8], packed: [UInt64]
        }

        /// The kernel (or with `reference`, ref_b1_conv) reading `input` (the float32 one by default), writing
        /// `output` into buffers prefilled with junk, in calls over rows cuts[i]..<cuts[i+1]; returns the buffers
        /// and the output pixel stride (random unless given).
        func run(
            _ output: Kind, _ g: ConvGeometry, input: Kind = .float32, reference: Bool = false,
            kernel: Kernel = .tile4x8,
            thresholds: ([Int32], [Int32], [Int32]), activation: Activation, requantization: I8Requantization,
            outputStride: Int?, rows cuts: [Int], scratch: UnsafeMutableRawPointer? = nil
        ) -> (Outputs, Int) {
            let outputPixels = g.outputHeight * g.outputWidth
            let stride = outputStride ?? (output == .packed ? 2 * binaryWordCount(g.outputChannels) : g.outputChannels)
            let count = (outputPixels - 1) * stride + (output == .packed ? stride : g.outputChannels) + 3
            var result = Outputs(
                float: [Float](repeating: 12345, count: count), int8: [Int8](repeating: 99, count: count),
                packed: [UInt64](repeating: 0xA5A5_5A5A_0F0F_F0F0, count: count))
            let kernelWeights = ConvolutionData.kernelWeights(self.weights, g, kernel)
            defer { withExtendedLifetime(kernelWeights) {} }
            let weights = UnsafePointer(kernelWeights.base.assumingMemoryBound(to: UInt64.self))
            let ownScratch = scratch == nil
            let scratch = scratch ?? UnsafeMutableRawPointer.allocate(
                byteCount: b1_conv_scratchByteCount(geometry: g), alignment: 64)
            defer { if ownScratch { scratch.deallocate() } }
            floats.withUnsafeBufferPointer { x in
            int8s.withUnsafeBufferPointer { q in
            packed.withUnsafeBufferPointer { b in
            thresholds.0.withUnsafeBufferPointer { d in
            thresholds.1.withUnsafeBufferPointer { lo in
            thresholds.2.withUnsafeBufferPointer { hi in
            result.float.withUnsafeMutableBufferPointer { y in
            result.int8.withUnsafeMutableBufferPointer { y8 in
            result.packed.withUnsafeMutableBufferPointer { yb in
                let (source, sourceStride): (B1Input, Int)
                switch input {
                case .float32: (source, sourceStride) = (.float32(x.baseAddress!), inputStride)
                case .int8: (source, sourceStride) = (.int8(q.baseAddress!, zeroPoint: zeroPoint), inputStride)
                case .packed: (source, sourceStride) = (.packed(b.baseAddress!), packedStride)
                }
                let destination: B1Output
                switch output {
                case .float32: destination = .float32(y.baseAddress!, activation: activation)
                case .int8: destination = .int8(y8.baseAddress!, requantization: requantization)
                case .packed:
                    destination = .packed(yb.baseAddress!, thresholds: B1Thresholds(
                        direction: d.baseAddress!, lower: lo.baseAddress!, upper: hi.baseAddress!))
                }
                if reference {
                    ref_b1_conv(
                        input: source, inputPixelStride: sourceStride, geometry: g, signs: signs,
                        multipliers: multipliers, biases: biases, output: destination, outputPixelStride: stride)
                    return
                }
                for i in 0..<cuts.count - 1 {
                    #if arch(x86_64)
                    if kernel == .lookup2x64 {
                        b1_conv_2x64(
                            input: source, inputPixelStride: sourceStride, geometry: g, weights: weights,
                            multipliers: multipliers, biases: biases, output: destination, outputPixelStride: stride,
                            outputRows: cuts[i]..<cuts[i + 1], scratch: scratch)
                        continue
                    }
                    #endif
                    b1_conv_4x8(
                        input: source, inputPixelStride: sourceStride, geometry: g, weights: weights,
                        multipliers: multipliers, biases: biases, output: destination, outputPixelStride: stride,
                        outputRows: cuts[i]..<cuts[i + 1], scratch: scratch)
                }
            }}}}}}}}}
            return (result, stride)
        }
    }

    /// Runs the kernel on random data for every input/output kind pair (float32, int8, bit-packed), in views
    /// with random pixel strides, the output rows in up to three calls (as a multithreaded caller makes them),
    /// and compares each with `ref_b1_conv` bit for bit: the junk between views too, so nothing outside an
    /// output view may change except a bit-packed pixel's own words. `zeros`: the fraction of input values that
    /// are exactly 0 (half of them −0.0). Bit-packed outputs get random thresholds, direction ±1.
    private func checkConvolution(_ g: ConvGeometry, _ random: inout SplitMix64, zeros: Double = 0) {
        let data = ConvolutionData(g, &random, zeros: zeros)
        let k = Int32(g.kernelHeight * g.kernelWidth * g.inputChannels)
        let activation = random.element(of: [Activation.none, .relu, .relu6, .hardSwish])
        let z = Int32(random.int(-128...127)), lo = Int32(random.int(-128...0))
        let requantization = I8Requantization(zeroPoint: z, lo: lo, hi: Int32(random.int(Int(lo)...127)))
        var direction = [Int32](repeating: 1, count: data.padded), lower = direction, upper = direction
        for o in 0..<g.outputChannels {
            direction[o] = random.int(0...1) == 0 ? 1 : -1
            // A quarter of them at the ends of their ranges, where the byte rule of the 2x64 tile clamps.
            func threshold(_ range: ClosedRange<Int>) -> Int32 {
                guard random.int(0...3) == 0 else { return Int32(random.int(range)) }
                return Int32(random.int(0...1) == 0 ? range.lowerBound : range.upperBound)
            }
            lower[o] = threshold(Int(-k - 1)...Int(k + 1))
            upper[o] = threshold(Int(lower[o] - 1)...Int(k + 1))
        }
        let scratch = UnsafeMutableRawPointer.allocate(
            byteCount: b1_conv_scratchByteCount(geometry: g), alignment: 64)
        defer { scratch.deallocate() }
        // Row splits: all at once, or in up to three calls.
        var cuts = [0, g.outputHeight]
        if g.outputHeight > 1 && random.int(0...1) == 1 {
            cuts.insert(random.int(1...g.outputHeight - 1), at: 1)
            if cuts[1] < g.outputHeight - 1 { cuts.insert(random.int(cuts[1] + 1...g.outputHeight - 1), at: 2) }
        }
        for kernel in ConvolutionData.kernels(g) {
        for input in ConvolutionData.Kind.allCases {
            for output in ConvolutionData.Kind.allCases {
                let words = binaryWordCount(g.outputChannels)
                let stride = output == .packed ? 2 * words + random.int(0...2) : g.outputChannels + random.int(0...3)
                func run(reference: Bool) -> ConvolutionData.Outputs {
                    data.run(output, g, input: input, reference: reference, kernel: kernel,
                             thresholds: (direction, lower, upper), activation: activation,
                             requantization: requantization, outputStride: stride, rows: cuts, scratch: scratch).0
                }
                let fast = run(reference: false), expected = run(reference: true)
                let what = "\(g) \(kernel) input \(input) output \(output) cuts \(cuts)"
                switch output {
                case .float32:
                    guard let i = fast.float.indices.first(where: { fast.float[$0].bitPattern != expected.float[$0].bitPattern })
                    else { continue }
                    XCTFail("\(what): element \(i) is \(fast.float[i]), expected \(expected.float[i])")
                case .int8:
                    guard let i = fast.int8.indices.first(where: { fast.int8[$0] != expected.int8[$0] }) else { continue }
                    XCTFail("\(what): element \(i) is \(fast.int8[i]), expected \(expected.int8[i])")
                case .packed:
                    guard let i = fast.packed.indices.first(where: { fast.packed[$0] != expected.packed[$0] })
                    else { continue }
                    XCTFail("\(what): word \(i) is \(String(fast.packed[i], radix: 16)), expected "
                            + String(expected.packed[i], radix: 16))
                }
            }
        }
        }
    }
}

extension SplitMix64 {
    mutating func sign() -> Int8 { next() & 1 == 0 ? 1 : -1 }
}
