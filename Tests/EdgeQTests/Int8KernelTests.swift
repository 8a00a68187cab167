import XCTest

@testable import EdgeQ

/// Int8 kernels against their scalar `ref_i8_` definitions, bit for bit, on random shapes and data (seeded, so a
/// failure reproduces): channel counts around the vector widths, pixel counts around the tiles, strides 1/2,
/// padding, views inside wider buffers (nothing outside an output view may change), every clamp range,
/// extreme values and rounding ties.
final class Int8KernelTests: XCTestCase {
    private static let channelCounts = [1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 33]

    // MARK: Weight packing

    func testGEMMI8C4PackingRoundTripsAndZeroPads() {
        var random = SplitMix64(seed: 101)
        for outputChannels in Self.channelCounts + [48] {
            for reductionSize in [1, 2, 3, 4, 5, 8, 9, random.int(10...40)] {
                let ohwi = random.int8s(outputChannels * reductionSize)
                let packed = packGEMMI8C4(ohwi: ohwi, outputChannels: outputChannels, reductionSize: reductionSize)
                let blocks = (outputChannels + 15) / 16, groups = (reductionSize + 3) / 4
                XCTAssertEqual(packed.count, blocks * groups * 64)
                XCTAssertEqual(
                    packed.count, gemmI8C4ByteCount(outputChannels: outputChannels, reductionSize: reductionSize))
                XCTAssertEqual(
                    unpackGEMMI8C4(packed, outputChannels: outputChannels, reductionSize: reductionSize), ohwi)
                // W[o][k] lives at [o / 16][k / 4][o % 16][k % 4]; padding channels and k are zero.
                for block in 0..<blocks {
                    for group in 0..<groups {
                        for lane in 0..<16 {
                            for i in 0..<4 {
                                let o = block * 16 + lane, k = group * 4 + i
                                let expected = o < outputChannels && k < reductionSize ? ohwi[o * reductionSize + k] : 0
                                XCTAssertEqual(packed[((block * groups + group) * 16 + lane) * 4 + i], expected)
                            }
                        }
                    }
                }
            }
        }
    }

    func testDepthwiseI8PackingIsHWCAndBiasFolds() {
        let ohwi: [Int8] = (0..<12).map { Int8($0) }  // [c][ky][kx]: value = c * 4 + ky * 2 + kx
        XCTAssertEqual(
            packDepthwiseHWCI8(ohwi: ohwi, channels: 3, kernelHeight: 2, kernelWidth: 2),
            [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        // bias − z·Σw: channel sums 6, 22, 38.
        XCTAssertEqual(
            foldI8Bias(bias: [100, 0, -5], ohwi: ohwi, outputChannels: 3, reductionSize: 4, inputZeroPoint: -3),
            [118, 66, 109])
    }

    // MARK: The rounding rule

    func testReferenceRoundClampByHand() {
        let full = I8Requantization(zeroPoint: 0)
        let cases: [(Float, Int8)] = [
            (0.5, 0), (1.5, 2), (2.5, 2), (-0.5, 0), (-1.5, -2), (-2.5, -2), (0.49999997, 0), (126.5, 126),
            (127.5, 127), (-128.5, -128), (1e30, 127), (-1e30, -128), (.infinity, 127), (-.infinity, -128),
            (.nan, -128),
        ]
        for (x, expected) in cases { XCTAssertEqual(ref_i8_round_clamp(x, full), expected, "\(x)") }
        let relu6 = I8Requantization(zeroPoint: -20, lo: -20, hi: 40)
        XCTAssertEqual(ref_i8_round_clamp(-3.5, relu6), -20)
        XCTAssertEqual(ref_i8_round_clamp(10.5, relu6), -10)   // 10 + (−20)
        XCTAssertEqual(ref_i8_round_clamp(59.5, relu6), 40)
        XCTAssertEqual(ref_i8_round_clamp(.nan, relu6), -20)
    }

    func testRoundingMagicConstants() {
        XCTAssertEqual(UInt32(bitPattern: i8RoundingMagicBits), i8RoundingMagic.bitPattern)
        XCTAssertEqual(i8RoundingMagic, 1.5 * 8_388_608)
    }

    /// The vector rule every kernel epilogue uses, lane for lane against the scalar one.
    func testVectorRoundClampMatchesReference() {
        var random = SplitMix64(seed: 102)
        var values: [Float] = [
            .nan, .infinity, -.infinity, 0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 127.5, 128.5, -128.5, -129.5,
            255.5, -255.5, 4_194_303.5, 4_194_304.5, 8_388_607, 16_777_216, 1e9, -1e9, .greatestFiniteMagnitude,
            -.greatestFiniteMagnitude, .leastNonzeroMagnitude, 0.49999997, -0.49999997, 1.4999999,
        ]
        for _ in 0..<100 { values.append(Float(random.int(-600...600)) / 2) }
        for _ in 0..<100 { values.append(random.float(in: -300...300)) }
        for _ in 0..<200 {
            let r = randomRequantization(&random)
            for start in stride(from: 0, to: values.count, by: 16) {
                var x = SIMD16<Float>()
                for i in 0..<16 { x[i] = values[(start + i) % values.count] }
                let y = I8RoundClamp(r)(x)
                for i in 0..<16 {
                    XCTAssertEqual(y[i], ref_i8_round_clamp(x[i], r), "\(x[i]) \(r)")
                }
            }
        }
    }

    // MARK: GEMM convolutions

    func testPointwiseMatchesReference() {
        var random = SplitMix64(seed: 103)
        let pixelCounts = [1, 2, 3, 5, 6, 7, 11, 12, 13, 47, 48, 49, 97]
        for inputChannels in Self.channelCounts {
            for outputChannels in Self.channelCounts {
                let g = ConvGeometry(
                    inputHeight: 1, inputWidth: random.element(of: pixelCounts), inputChannels: inputChannels,
                    outputChannels: outputChannels, kernelHeight: 1, kernelWidth: 1)
                checkConvolution(g, .pointwise, &random)
            }
        }
    }

    /// pixelCount == 1 takes the one-row tiles; the MobileNetV2 classifier size included.
    func testFullyConnectedMatchesReference() {
        var random = SplitMix64(seed: 104)
        var shapes = [(1280, 1000)]
        for _ in 0..<20 { shapes.append((random.int(1...300), random.element(of: Self.channelCounts + [64, 100]))) }
        for (inputChannels, outputChannels) in shapes {
            let g = ConvGeometry(
                inputHeight: 1, inputWidth: 1, inputChannels: inputChannels, outputChannels: outputChannels,
                kernelHeight: 1, kernelWidth: 1)
            checkConvolution(g, .pointwise, &random)
        }
    }

    func testGeneralConvolutionMatchesReference() {
        var random = SplitMix64(seed: 105)
        // The MobileNet stem (3 channels, 3x3 stride 2), a strided 1x1, then random geometries.
        checkConvolution(
            ConvGeometry(
                inputHeight: 17, inputWidth: 15, inputChannels: 3, outputChannels: 32, kernelHeight: 3,
                kernelWidth: 3, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            .gemm, &random)
        checkConvolution(
            ConvGeometry(
                inputHeight: 9, inputWidth: 11, inputChannels: 17, outputChannels: 24, kernelHeight: 1,
                kernelWidth: 1, strideHeight: 2, strideWidth: 2),
            .gemm, &random)
        for _ in 0..<300 {
            checkConvolution(random.convGeometry(channelCounts: Self.channelCounts, groups: { _, _ in 1 }), .gemm, &random)
        }
    }

    func testDepthwiseConvolutionMatchesReference() {
        var random = SplitMix64(seed: 106)
        // Every channel count with the 3x3 and 5x5 paths at strides 1 and 2 and their usual padding...
        for channels in Self.channelCounts {
            for (kernel, stride) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
                let pad = kernel / 2
                let g = ConvGeometry(
                    inputHeight: random.int(1...12), inputWidth: random.int(1...14), inputChannels: channels,
                    outputChannels: channels, kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride,
                    strideWidth: stride, padTop: pad, padLeft: pad, padBottom: pad, padRight: pad, groups: channels)
                checkConvolution(g, .depthwise, &random)
            }
        }
        // ...then random geometries (other kernel sizes take the generic path), including 1 channel.
        for _ in 0..<300 {
            checkConvolution(
                random.convGeometry(
                    channelCounts: Self.channelCounts, groups: { input, _ in input }, equalChannels: true),
                .depthwise, &random)
        }
    }

    /// Channel slices of a wider buffer (GhostNet's concat halves): C = 8 with pixel strides 16, and other counts
    /// below and between multiples of 16, on inputs wide enough for the grouped interior pixels.
    func testDepthwiseConvolutionOnChannelSlices() {
        var random = SplitMix64(seed: 107)
        for (channels, stride) in [(8, 16), (1, 16), (3, 4), (5, 16), (12, 24), (24, 48), (40, 48), (8, 8)] {
            for (kernel, convStride) in [(3, 1), (3, 2), (5, 1)] {
                let pad = kernel / 2
                let g = ConvGeometry(
                    inputHeight: random.int(5...13), inputWidth: random.int(9...19), inputChannels: channels,
                    outputChannels: channels, kernelHeight: kernel, kernelWidth: kernel, strideHeight: convStride,
                    strideWidth: convStride, padTop: pad, padLeft: pad, padBottom: pad, padRight: pad,
                    groups: channels)
                checkConvolution(g, .depthwise, &random, pixelStride: stride)
            }
        }
    }

    /// The device builds' check (`edgeq selftest`, run under qemu by Targets/qemu-selftest): the table's kernels
    /// through their bindings, on the host's kernels here.
    func testKernelTableSelfCheckPasses() {
        let check = int8KernelSelfCheck(cases: 300, seed: 7)
        XCTAssertNil(check.failure)
        XCTAssertEqual(check.casesPerKernel.values.reduce(0, +), 300)
    }

    /// Accumulators past 2^24 (Float(acc) rounds) and past 2^31 (wraps), every input and weight extreme.
    func testConvolutionExtremes() {
        var random = SplitMix64(seed: 107)
        let shapes: [(ConvGeometry, ConvolutionKernel)] = [
            (ConvGeometry(inputHeight: 2, inputWidth: 5, inputChannels: 1100, outputChannels: 33, kernelHeight: 1,
                          kernelWidth: 1), .pointwise),
            (ConvGeometry(inputHeight: 4, inputWidth: 4, inputChannels: 130, outputChannels: 17, kernelHeight: 3,
                          kernelWidth: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), .gemm),
            (ConvGeometry(inputHeight: 6, inputWidth: 9, inputChannels: 19, outputChannels: 19, kernelHeight: 5,
                          kernelWidth: 5, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2, groups: 19), .depthwise),
        ]
        for (g, kernel) in shapes {
            for pattern in 0..<4 {
                checkConvolution(g, kernel, &random, extremes: pattern)
            }
        }
    }

    /// Multipliers 2^-n on small integer accumulators: many products are exactly k + 0.5 and must round to even.
    func testConvolutionRequantizationTies() {
        var random = SplitMix64(seed: 108)
        for kernel in [ConvolutionKernel.pointwise, .gemm, .depthwise] {
            for _ in 0..<20 {
                let channels = random.element(of: Self.channelCounts)
                let g = ConvGeometry(
                    inputHeight: random.int(1...5), inputWidth: random.int(1...9), inputChannels: channels,
                    outputChannels: channels, kernelHeight: kernel == .pointwise ? 1 : 3,
                    kernelWidth: kernel == .pointwise ? 1 : 3, padTop: kernel == .pointwise ? 0 : 1,
                    padLeft: kernel == .pointwise ? 0 : 1, padBottom: kernel == .pointwise ? 0 : 1,
                    padRight: kernel == .pointwise ? 0 : 1, groups: kernel == .depthwise ? channels : 1)
                checkConvolution(g, kernel, &random, ties: true)
            }
        }
    }

    // MARK: Elementwise

    func testAddMatchesReference() {
        var random = SplitMix64(seed: 109)
        for channels in Self.channelCounts + [48, 100] {
            for broadcast in [false, true] {
                for ties in [false, true] {
                    let pixels = random.int(1...9)
                    let a = I8TestView<Int8>(input: &random, pixels: pixels, channels: channels)
                    let b = broadcast
                        ? I8TestView<Int8>(input: &random, pixels: 1, channels: channels, pixelStride: 0)
                        : I8TestView<Int8>(input: &random, pixels: pixels, channels: channels)
                    let fast = I8TestView<Int8>(output: &random, pixels: pixels, channels: channels)
                    let expected = fast.copy()
                    let za = random.int8(), zb = random.int8()
                    let ma = ties ? 0.5 : random.float(in: 0.01...3), mb = ties ? 1 : random.float(in: 0.01...3)
                    let r = randomRequantization(&random)
                    i8_add(
                        a: a.start, aPixelStride: a.pixelStride, aZeroPoint: za, aMultiplier: ma, b: b.start,
                        bPixelStride: b.pixelStride, bZeroPoint: zb, bMultiplier: mb, output: fast.start,
                        outputPixelStride: fast.pixelStride, pixelCount: pixels, channels: channels,
                        requantization: r)
                    ref_i8_add(
                        a: a.start, aPixelStride: a.pixelStride, aZeroPoint: za, aMultiplier: ma, b: b.start,
                        bPixelStride: b.pixelStride, bZeroPoint: zb, bMultiplier: mb, output: expected.start,
                        outputPixelStride: expected.pixelStride, pixelCount: pixels, channels: channels,
                        requantization: r)
                    assertViewsMatch(fast, expected, "add \(pixels)x\(channels) broadcast \(broadcast) \(r)")
                }
            }
        }
        // In place, contiguous: output == a.
        let a = I8TestView<Int8>(input: &random, pixels: 5, channels: 7, pixelStride: 7)
        let b = I8TestView<Int8>(input: &random, pixels: 5, channels: 7, pixelStride: 7)
        let expected = I8TestView<Int8>(output: &random, pixels: 5, channels: 7, pixelStride: 7)
        let r = I8Requantization(zeroPoint: 3, lo: 3)
        ref_i8_add(
            a: a.start, aPixelStride: 7, aZeroPoint: -5, aMultiplier: 0.7, b: b.start, bPixelStride: 7,
            bZeroPoint: 9, bMultiplier: 1.3, output: expected.start, outputPixelStride: 7, pixelCount: 5,
            channels: 7, requantization: r)
        i8_add(
            a: a.start, aPixelStride: 7, aZeroPoint: -5, aMultiplier: 0.7, b: b.start, bPixelStride: 7,
            bZeroPoint: 9, bMultiplier: 1.3, output: a.start, outputPixelStride: 7, pixelCount: 5, channels: 7,
            requantization: r)
        for p in 0..<5 {
            for c in 0..<7 { XCTAssertEqual(a[p, c], expected[p, c], "add in place") }
        }
    }

    func testMulGateMatchesReference() {
        var random = SplitMix64(seed: 110)
        for channels in Self.channelCounts + [48, 100] {
            for ties in [false, true] {
                let pixels = random.int(1...9)
                let input = I8TestView<Int8>(input: &random, pixels: pixels, channels: channels)
                let fast = I8TestView<Int8>(output: &random, pixels: pixels, channels: channels)
                let expected = fast.copy()
                // Sigmoid outputs, their ends, and (ties) halves.
                let gate: [Float] = (0..<channels).map { _ in
                    ties ? 0.5 : random.element(of: [0, 1, random.float(in: 0...1), random.float(in: -2...2)])
                }
                let ratio = ties ? 1 : random.float(in: 0.2...5)
                let z = random.int8()
                let r = randomRequantization(&random)
                i8_mul_gate(
                    input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: z, gate: gate,
                    scaleRatio: ratio, output: fast.start, outputPixelStride: fast.pixelStride, pixelCount: pixels,
                    channels: channels, requantization: r)
                ref_i8_mul_gate(
                    input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: z, gate: gate,
                    scaleRatio: ratio, output: expected.start, outputPixelStride: expected.pixelStride,
                    pixelCount: pixels, channels: channels, requantization: r)
                assertViewsMatch(fast, expected, "gate \(pixels)x\(channels) \(r)")
            }
        }
    }

    func testGlobalAveragePoolMatchesReference() {
        var random = SplitMix64(seed: 111)
        for channels in Self.channelCounts + [1280] {
            for pixels in [1, 2, 7, 49, 50] {
                let input = I8TestView<Int8>(input: &random, pixels: pixels, channels: channels)
                let fast = I8TestView<Int8>(output: &random, pixels: 1, channels: channels, pixelStride: channels)
                let expected = fast.copy()
                let z = random.int8()
                // 1/N exactly-ish, and 0.5 for ties on single pixels.
                let multiplier = pixels == 1 ? 0.5 : random.float(in: 0.3...2) / Float(pixels)
                let r = randomRequantization(&random)
                i8_global_average_pool(
                    input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: z, pixelCount: pixels,
                    channels: channels, multiplier: multiplier, output: fast.start, requantization: r)
                ref_i8_global_average_pool(
                    input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: z, pixelCount: pixels,
                    channels: channels, multiplier: multiplier, output: expected.start, requantization: r)
                assertViewsMatch(fast, expected, "average pool \(pixels)x\(channels) \(r)")
            }
        }
    }

    func testQuantizeAndDequantizeMatchReference() {
        var random = SplitMix64(seed: 112)
        let specials: [Float] = [
            .nan, .infinity, -.infinity, 0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 1e30, -1e30, 127.5, -128.5,
        ]
        for channels in Self.channelCounts + [48, 100] {
            for contiguous in [false, true] {
                let pixels = random.int(1...9)
                let stride = contiguous ? channels : nil
                let input = I8TestView<Float>(input: &random, pixels: pixels, channels: channels, pixelStride: stride)
                for p in 0..<pixels {
                    for c in 0..<channels where random.int(0...3) == 0 { input[p, c] = random.element(of: specials) }
                }
                let scale = random.element(of: [1, 0.5, 0.25, random.float(in: 0.001...0.1)])
                let r = randomRequantization(&random)
                let fast = I8TestView<Int8>(output: &random, pixels: pixels, channels: channels, pixelStride: stride)
                let expected = fast.copy()
                i8_quantize(
                    input: input.start, inputPixelStride: input.pixelStride, scale: scale, output: fast.start,
                    outputPixelStride: fast.pixelStride, pixelCount: pixels, channels: channels, requantization: r)
                ref_i8_quantize(
                    input: input.start, inputPixelStride: input.pixelStride, scale: scale, output: expected.start,
                    outputPixelStride: expected.pixelStride, pixelCount: pixels, channels: channels,
                    requantization: r)
                assertViewsMatch(fast, expected, "quantize \(pixels)x\(channels) scale \(scale) \(r)")

                let q = I8TestView<Int8>(input: &random, pixels: pixels, channels: channels, pixelStride: stride)
                let floats = I8TestView<Float>(output: &random, pixels: pixels, channels: channels, pixelStride: stride)
                let expectedFloats = floats.copy()
                let z = random.int8()
                i8_dequantize(
                    input: q.start, inputPixelStride: q.pixelStride, zeroPoint: z, scale: scale, output: floats.start,
                    outputPixelStride: floats.pixelStride, pixelCount: pixels, channels: channels)
                ref_i8_dequantize(
                    input: q.start, inputPixelStride: q.pixelStride, zeroPoint: z, scale: scale,
                    output: expectedFloats.start, outputPixelStride: expectedFloats.pixelStride, pixelCount: pixels,
                    channels: channels)
                assertViewsMatch(floats, expectedFloats, "dequantize \(pixels)x\(channels)")
            }
        }
    }

    /// x / 0.0037 is exactly k + 0.5 for these x, but x·(1/0.0037) is a little less: a kernel multiplying by the
    /// reciprocal would round them the other way. Ties go to even.
    func testQuantizeDividesByTheScale() {
        let x: [Float] = [
            -0.43475, -0.39775, -0.36075, -0.32375, -0.28675, -0.24974999, -0.22015, -0.20535, -0.18315, -0.16835,
            -0.13135, -0.11655, 0.0185, -0.0185,
        ]
        let expected: [Int8] = [-118, -108, -98, -88, -78, -68, -60, -56, -50, -46, -36, -32, 5, -5]
        var fast = [Int8](repeating: 0, count: x.count), reference = fast
        let r = I8Requantization(zeroPoint: 0)
        i8_quantize(
            input: x, inputPixelStride: x.count, scale: 0.0037, output: &fast, outputPixelStride: x.count,
            pixelCount: 1, channels: x.count, requantization: r)
        ref_i8_quantize(
            input: x, inputPixelStride: x.count, scale: 0.0037, output: &reference, outputPixelStride: x.count,
            pixelCount: 1, channels: x.count, requantization: r)
        XCTAssertEqual(reference, expected)
        XCTAssertEqual(fast, expected)
    }

    func testRequantizeMatchesReference() {
        var random = SplitMix64(seed: 113)
        for channels in Self.channelCounts + [48, 100] {
            for contiguous in [false, true] {
                let pixels = random.int(1...9)
                let stride = contiguous ? channels : nil
                let input = I8TestView<Int8>(input: &random, pixels: pixels, channels: channels, pixelStride: stride)
                let fast = I8TestView<Int8>(output: &random, pixels: pixels, channels: channels, pixelStride: stride)
                let expected = fast.copy()
                let z = random.int8()
                let multiplier = random.element(of: [0.5, 1, 1.5, random.float(in: 0.05...4)])
                let r = randomRequantization(&random)
                i8_requantize(
                    input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: z, multiplier: multiplier,
                    output: fast.start, outputPixelStride: fast.pixelStride, pixelCount: pixels, channels: channels,
                    requantization: r)
                ref_i8_requantize(
                    input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: z, multiplier: multiplier,
                    output: expected.start, outputPixelStride: expected.pixelStride, pixelCount: pixels,
                    channels: channels, requantization: r)
                assertViewsMatch(fast, expected, "requantize \(pixels)x\(channels) m \(multiplier) \(r)")
            }
        }
    }

    // MARK: Convolution harness

    /// Each GEMM case runs every kernel for that case: the 6x8c4 one and the dot-product ones (on the host through
    /// CEdgeQDot's C definition of sdot; the device builds run them on whole models, Targets/qemu-selftest).
    private enum ConvolutionKernel {
        case pointwise   // i8_conv1x1_gemm_6x8c4, i8_conv1x1_gemm_dot (every tile)
        case gemm        // i8_conv_gemm_6x8c4, i8_conv_gemm_dot (every tile)
        case depthwise   // i8_dwconv
    }

    /// Output zero point and clamp range: the full int8 range, a fused ReLU [z, 127], a ReLU6-like [z, z + n],
    /// a random range, or a single value.
    private func randomRequantization(_ random: inout SplitMix64) -> I8Requantization {
        let z = Int32(random.int8())
        switch random.int(0...4) {
        case 0: return I8Requantization(zeroPoint: z)
        case 1: return I8Requantization(zeroPoint: z, lo: z)
        case 2: return I8Requantization(zeroPoint: z, lo: z, hi: min(127, z + Int32(random.int(0...100))))
        case 3:
            let lo = Int32(random.int(-128...127))
            return I8Requantization(zeroPoint: z, lo: lo, hi: Int32(random.int(Int(lo)...127)))
        default:
            let v = Int32(random.int(-128...127))
            return I8Requantization(zeroPoint: z, lo: v, hi: v)
        }
    }

    /// Random geometry: input 1...9 square-ish, kernel 1...5 (not always square), strides 1/2, pads 0...2,
    /// dilation 1/2; redrawn until the output is at least 1x1.
    /// Runs one kernel on random data in views with random pixel strides (the output rows in up to three calls,
    /// as a multithreaded caller would) and compares it with `ref_i8_conv` bit for bit.
    /// `extremes` (0...3): inputs all −128 / all 127 / alternating, weights ±127 and −127, biases near ±2^31.
    /// `ties`: weights and inputs in −2...2 and multipliers 1/2, 1/4, 1/8, so that many results are k + 0.5.
    private func checkConvolution(
        _ g: ConvGeometry, _ kernel: ConvolutionKernel, _ random: inout SplitMix64, extremes: Int? = nil,
        ties: Bool = false, pixelStride: Int? = nil
    ) {
        let inputPixels = g.inputHeight * g.inputWidth, outputPixels = g.outputHeight * g.outputWidth
        let input = I8TestView<Int8>(
            input: &random, pixels: inputPixels, channels: g.inputChannels, pixelStride: pixelStride)
        var weights = random.int8s(g.outputChannels * g.reductionSize, in: -127...127)
        var bias = (0..<g.outputChannels).map { _ in Int32(random.int(-100_000...100_000)) }
        var inputZeroPoint = random.int8()
        // Typical |acc| is about sqrt(K) * 127 * 128 / 3; aim the scaled values at a few hundred, so that some
        // outputs land inside the clamp range and some outside.
        let typical = Float(g.reductionSize).squareRoot() * 127 * 128 / 3
        var multipliers = (0..<g.outputChannels).map { _ in random.float(in: 0.3...3) * 100 / typical }
        if let extremes {
            for p in 0..<inputPixels {
                for c in 0..<g.inputChannels {
                    input[p, c] = [Int8(-128), 127, (p + c) % 2 == 0 ? -128 : 127, random.int8()][extremes]
                }
            }
            weights = weights.enumerated().map { i, w in
                extremes == 3 ? w : [Int8(127), -127, i % 2 == 0 ? 127 : -127][extremes]
            }
            bias = bias.map { _ in random.element(of: [Int32.max - 1000, Int32.min + 1000, 0]) }
            inputZeroPoint = random.element(of: [-128, 127, 0])
            multipliers = multipliers.map { _ in random.element(of: [1e-7, 3e-6, 1e-9, 1]) }
        }
        if ties {
            for p in 0..<inputPixels {
                for c in 0..<g.inputChannels { input[p, c] = Int8(random.int(-2...2)) }
            }
            weights = weights.map { _ in Int8(random.int(-2...2)) }
            bias = bias.map { _ in Int32(random.int(-9...9)) }
            inputZeroPoint = Int8(random.int(-1...1))
            multipliers = multipliers.map { _ in random.element(of: [0.5, 0.25, 0.125]) }
        }
        let r = ties ? I8Requantization(zeroPoint: Int32(random.int(-3...3))) : randomRequantization(&random)
        let output = I8TestView<Int8>(
            output: &random, pixels: outputPixels, channels: g.outputChannels, pixelStride: pixelStride)
        let expected = output.copy()
        ref_i8_conv(
            input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: inputZeroPoint, geometry: g,
            weights: weights, bias: bias, multipliers: multipliers, output: expected.start,
            outputPixelStride: expected.pixelStride, requantization: r)

        let split1 = random.int(0...g.outputHeight), split2 = random.int(split1...g.outputHeight)
        let rowRanges = [0..<split1, split1..<split2, split2..<g.outputHeight]
        let folded = foldI8Bias(
            bias: bias, ohwi: weights, outputChannels: g.outputChannels,
            reductionSize: kernel == .depthwise ? g.kernelHeight * g.kernelWidth : g.reductionSize,
            inputZeroPoint: Int32(inputZeroPoint))
        let padding = (16 - g.outputChannels % 16) % 16
        let paddedBias = folded + [Int32](repeating: 0, count: padding)
        let paddedMultipliers = multipliers + [Float](repeating: 0, count: padding)
        /// Runs one kernel on a fresh copy of the output view and checks it.
        func check(_ name: String, _ run: (I8TestView<Int8>) -> Void) {
            let fast = output.copy()
            run(fast)
            assertViewsMatch(fast, expected, "\(name) \(g) \(r) extremes \(extremes.map(String.init) ?? "-")")
        }
        switch kernel {
        case .pointwise:
            let packed = packGEMMI8C4(ohwi: weights, outputChannels: g.outputChannels, reductionSize: g.reductionSize)
            // Two calls on a split of the pixels: results must not depend on it.
            let split = random.int(0...inputPixels)
            let ranges = [0..<split, split..<inputPixels].filter { !$0.isEmpty }
            check("i8_conv1x1_gemm_6x8c4") { fast in
                var scratch = [Int16](
                    repeating: 0x5A5A, count: i8_conv1x1_gemm_scratchCount(inputChannels: g.inputChannels))
                for range in ranges {
                    i8_conv1x1_gemm_6x8c4(
                        input: input.start + range.lowerBound * input.pixelStride,
                        inputPixelStride: input.pixelStride, pixelCount: range.count, inputChannels: g.inputChannels,
                        weights: packed, bias: paddedBias, multipliers: paddedMultipliers,
                        outputChannels: g.outputChannels, output: fast.start + range.lowerBound * fast.pixelStride,
                        outputPixelStride: fast.pixelStride, requantization: r, scratch: &scratch)
                }
            }
            for tile in [I8DotTile.sdot5x16, .neon4x16] {
                check("i8_conv1x1_gemm_" + tile.name) { fast in
                    for range in ranges {
                        i8_conv1x1_gemm_dot(
                            tile: tile, input: input.start + range.lowerBound * input.pixelStride,
                            inputPixelStride: input.pixelStride, pixelCount: range.count, inputChannels: g.inputChannels,
                            weights: packed, bias: paddedBias, multipliers: paddedMultipliers,
                            outputChannels: g.outputChannels, output: fast.start + range.lowerBound * fast.pixelStride,
                            outputPixelStride: fast.pixelStride, requantization: r)
                    }
                }
            }
        case .gemm:
            let packed = packGEMMI8C4(ohwi: weights, outputChannels: g.outputChannels, reductionSize: g.reductionSize)
            check("i8_conv_gemm_6x8c4") { fast in
                var scratch = [Int16](repeating: 0x5A5A, count: i8_conv_gemm_scratchCount(geometry: g))
                for rows in rowRanges {
                    i8_conv_gemm_6x8c4(
                        input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: inputZeroPoint,
                        geometry: g, weights: packed, bias: paddedBias, multipliers: paddedMultipliers,
                        output: fast.start, outputPixelStride: fast.pixelStride, requantization: r, outputRows: rows,
                        scratch: &scratch)
                }
            }
            for tile in [I8DotTile.sdot5x16, .neon4x16] {
                check("i8_conv_gemm_" + tile.name) { fast in
                    var scratch = [Int8](repeating: 0x5A, count: i8_conv_gemm_scratchCount(geometry: g))
                    for rows in rowRanges {
                        i8_conv_gemm_dot(
                            tile: tile, input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: inputZeroPoint,
                            geometry: g, weights: packed, bias: paddedBias, multipliers: paddedMultipliers,
                            output: fast.start, outputPixelStride: fast.pixelStride, requantization: r, outputRows: rows,
                            scratch: &scratch)
                    }
                }
            }
        case .depthwise:
            let packed = packDepthwiseHWCI8(
                ohwi: weights, channels: g.outputChannels, kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth)
            check("i8_dwconv") { fast in
                for rows in rowRanges {
                    i8_dwconv(
                        input: input.start, inputPixelStride: input.pixelStride, inputZeroPoint: inputZeroPoint,
                        geometry: g, weights: packed, bias: folded, multipliers: multipliers, output: fast.start,
                        outputPixelStride: fast.pixelStride, requantization: r, outputRows: rows)
                }
            }
            // The rpi5 row's sdot groups of 4 taps (here through CEdgeQDot's C sdot and transposition).
            packed.withUnsafeBufferPointer { hwc in
                let groups = packDepthwiseI8C4(
                    hwc: hwc.baseAddress!, channels: g.outputChannels, taps: g.kernelHeight * g.kernelWidth)
                check("i8_dwconv_4x16c4_sdot") { fast in
                    groups.withUnsafeBufferPointer { sdotWeights in
                        for rows in rowRanges {
                            i8_dwconv(
                                input: input.start, inputPixelStride: input.pixelStride,
                                inputZeroPoint: inputZeroPoint, geometry: g, weights: packed, bias: folded,
                                multipliers: multipliers, output: fast.start, outputPixelStride: fast.pixelStride,
                                requantization: r, outputRows: rows, sdotWeights: sdotWeights.baseAddress)
                        }
                    }
                }
            }
        }
    }

    /// Bit equality everywhere: inside the view the kernel's result, outside the untouched sentinel.
    private func assertViewsMatch<T: I8TestScalar>(
        _ fast: I8TestView<T>, _ expected: I8TestView<T>, _ message: @autoclosure () -> String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        for i in 0..<fast.buffer.count where !fast.buffer[i].isIdentical(to: expected.buffer[i]) {
            let (p, c) = fast.pixelAndChannel(index: i)
            let place = fast.contains(index: i) ? "pixel \(p) channel \(c)" : "element \(i) outside the view"
            return XCTFail(
                "\(message()): \(place): \(fast.buffer[i]), expected \(expected.buffer[i])", file: file, line: line)
        }
    }
}

/// Element types of the test views: int8 activations and the float side of quantize/dequantize.
protocol I8TestScalar: Equatable {
    static var sentinel: Self { get }
    static func random(_ random: inout SplitMix64) -> Self
    /// Bit equality (NaN payloads included for floats).
    func isIdentical(to other: Self) -> Bool
}

extension Int8: I8TestScalar {
    static let sentinel: Int8 = 0x5A
    static func random(_ random: inout SplitMix64) -> Int8 { random.int8() }
    func isIdentical(to other: Int8) -> Bool { self == other }
}

extension Float: I8TestScalar {
    static let sentinel: Float = -12345.5
    static func random(_ random: inout SplitMix64) -> Float { random.float(in: -200...200) }
    func isIdentical(to other: Float) -> Bool { bitPattern == other.bitPattern }
}

/// A view of `pixels` x `channels` values, `pixelStride` apart, `offset` elements into an allocation with a
/// random margin after it. Input views hold random values outside the view too (a kernel reading outside its
/// view gets garbage); output views hold a sentinel there, checked untouched.
private final class I8TestView<T: I8TestScalar> {
    let buffer: UnsafeMutableBufferPointer<T>
    let offset: Int
    let pixels: Int
    let channels: Int
    let pixelStride: Int

    var start: UnsafeMutablePointer<T> { buffer.baseAddress! + offset }

    private init(pixels: Int, channels: Int, pixelStride: Int, offset: Int, margin: Int) {
        self.pixels = pixels
        self.channels = channels
        self.pixelStride = pixelStride
        self.offset = offset
        buffer = .allocate(capacity: offset + (pixels - 1) * pixelStride + channels + margin)
        buffer.initialize(repeating: T.sentinel)
    }

    /// Random values everywhere; the stride is random (channels + 0...5) unless given.
    convenience init(input random: inout SplitMix64, pixels: Int, channels: Int, pixelStride: Int? = nil) {
        self.init(
            pixels: pixels, channels: channels, pixelStride: pixelStride ?? channels + random.int(0...5),
            offset: random.int(0...3), margin: random.int(0...3))
        for i in 0..<buffer.count { buffer[i] = T.random(&random) }
    }

    convenience init(output random: inout SplitMix64, pixels: Int, channels: Int, pixelStride: Int? = nil) {
        self.init(
            pixels: pixels, channels: channels, pixelStride: pixelStride ?? channels + random.int(0...5),
            offset: random.int(0...3), margin: random.int(0...3))
    }

    deinit { buffer.deallocate() }

    subscript(pixel: Int, channel: Int) -> T {
        get { start[pixel * pixelStride + channel] }
        set { start[pixel * pixelStride + channel] = newValue }
    }

    /// Same layout and contents.
    func copy() -> I8TestView<T> {
        let result = I8TestView(
            pixels: pixels, channels: channels, pixelStride: pixelStride, offset: offset,
            margin: buffer.count - offset - (pixels - 1) * pixelStride - channels)
        for i in 0..<buffer.count { result.buffer[i] = buffer[i] }
        return result
    }

    func pixelAndChannel(index: Int) -> (Int, Int) {
        pixelStride == 0 ? (0, index - offset) : ((index - offset) / pixelStride, (index - offset) % pixelStride)
    }

    func contains(index: Int) -> Bool {
        let (pixel, channel) = pixelAndChannel(index: index)
        return index >= offset && pixel < pixels && channel < channels
    }
}

extension SplitMix64 {
    mutating func int8() -> Int8 { Int8(truncatingIfNeeded: next()) }

    mutating func int8s(_ count: Int, in range: ClosedRange<Int> = -128...127) -> [Int8] {
        (0..<count).map { _ in Int8(int(range)) }
    }
}
