import XCTest

@testable import EdgeQ

/// Fast float kernels against their scalar `ref_` definitions on random shapes and data (seeded, so a failure
/// reproduces). Convolution results are compared with the tolerance of `assertViewsMatch`; elementwise
/// kernels compute the same float operations as their references and must match bit for bit.
final class FloatKernelTests: XCTestCase {
    private static let channelCounts = [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33]
    private static let activations: [Activation] = [
        .none, .relu, .relu6, Activation(.clip, -0.5, 0.7), .hardSigmoid, Activation(.hardSigmoid, 0.2, 0.5),
        .hardSwish, .sigmoid,
    ]

    // MARK: Weight packing

    func testGEMMPackingRoundTripsAndZeroPads() {
        var random = SplitMix64(seed: 1)
        for outputChannels in Self.channelCounts {
            let reductionSize = random.int(1...40)
            let ohwi = random.floats(outputChannels * reductionSize)
            let packed = packGEMM16(ohwi: ohwi, outputChannels: outputChannels, reductionSize: reductionSize)
            let blocks = (outputChannels + 15) / 16
            XCTAssertEqual(packed.count, blocks * reductionSize * 16)
            XCTAssertEqual(unpackGEMM16(packed, outputChannels: outputChannels, reductionSize: reductionSize), ohwi)
            // Channel o, reduction index k lives at [o / 16][k][o % 16]; padding lanes are zero.
            for block in 0..<blocks {
                for k in 0..<reductionSize {
                    for lane in 0..<16 {
                        let o = block * 16 + lane
                        let expected = o < outputChannels ? ohwi[o * reductionSize + k] : 0
                        XCTAssertEqual(packed[(block * reductionSize + k) * 16 + lane], expected)
                    }
                }
            }
            let bias = random.floats(outputChannels)
            XCTAssertEqual(packBias16(bias), bias + [Float](repeating: 0, count: blocks * 16 - outputChannels))
        }
    }

    func testDepthwisePackingIsHWC() {
        let channels = 3, kernelHeight = 2, kernelWidth = 2
        let ohwi = (0..<12).map(Float.init)  // [c][ky][kx]: value = c * 4 + ky * 2 + kx
        let hwc = packDepthwiseHWC(ohwi: ohwi, channels: channels, kernelHeight: kernelHeight, kernelWidth: kernelWidth)
        XCTAssertEqual(hwc, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
    }

    // MARK: Activation

    /// The lane-wise `apply` the kernels use must equal the scalar definition exactly, specials included.
    func testVectorActivationMatchesScalarBitForBit() {
        var random = SplitMix64(seed: 2)
        let specials: [Float] = [
            .nan, .infinity, -.infinity, 0, -0.0, 1, -1, 3, -3, 6, 6.0001, -0.5, 0.7, 2.5, -2.5, 90, -90, 1e-30,
        ]
        let values = specials + (0..<46).map { _ in random.float(in: -8...8) }  // 64 values
        for activation in Self.activations {
            for start in stride(from: 0, to: values.count, by: 16) {
                var vector = SIMD16<Float>()
                for i in 0..<16 { vector[i] = values[start + i] }
                let result = activation.apply(vector)
                let low = activation.apply(vector.lowHalf), high = activation.apply(vector.highHalf)
                for i in 0..<16 {
                    let expected = activation.apply(values[start + i])
                    let half = i < 8 ? low[i] : high[i - 8]
                    XCTAssertEqual(result[i].bitPattern, expected.bitPattern, "\(activation) of \(values[start + i])")
                    XCTAssertEqual(half.bitPattern, expected.bitPattern, "\(activation) of \(values[start + i])")
                }
            }
        }
    }

    // MARK: Convolutions

    /// The reference itself, on a case small enough to work out by hand.
    func testReferenceConvolutionByHand() {
        // 3x3 input, one channel, values 1...9; 2x2 kernel [[1, 2], [3, 4]], bias 10, stride 1, pad 1 on the
        // top/left only: output 3x3. Output (0, 0) sees only input (0, 0) through weight 4: 10 + 4 * 1.
        let g = ConvGeometry(
            inputHeight: 3, inputWidth: 3, inputChannels: 1, outputChannels: 1, kernelHeight: 2, kernelWidth: 2,
            padTop: 1, padLeft: 1)
        let input: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let weights: [Float] = [1, 2, 3, 4]
        var output = [Float](repeating: 0, count: 9)
        ref_conv(
            input: input, inputPixelStride: 1, geometry: g, weights: weights, bias: [10], output: &output,
            outputPixelStride: 1, activation: .none)
        XCTAssertEqual(output, [14, 21, 28, 28, 47, 57, 46, 77, 87])
    }

    func testPointwiseMatchesReference() {
        var random = SplitMix64(seed: 3)
        let pixelCounts = [1, 2, 3, 5, 6, 7, 11, 13, 47, 48, 49, 97]
        for inputChannels in Self.channelCounts {
            for outputChannels in Self.channelCounts {
                let pixels = random.element(of: pixelCounts)
                let g = ConvGeometry(
                    inputHeight: 1, inputWidth: pixels, inputChannels: inputChannels,
                    outputChannels: outputChannels, kernelHeight: 1, kernelWidth: 1)
                checkConvolution(g, .pointwise, &random)
            }
        }
    }

    /// pixelCount == 1 takes the GEMV path; the MobileNetV2 classifier size included.
    func testFullyConnectedMatchesReference() {
        var random = SplitMix64(seed: 4)
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
        var random = SplitMix64(seed: 5)
        // The MobileNet stem (3 channels, 3x3 stride 2) on a small image, then random geometries.
        checkConvolution(
            ConvGeometry(
                inputHeight: 17, inputWidth: 15, inputChannels: 3, outputChannels: 32, kernelHeight: 3,
                kernelWidth: 3, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            .gemm, &random)
        for _ in 0..<300 {
            let g = random.convGeometry(channelCounts: Self.channelCounts, groups: { _, _ in 1 })
            checkConvolution(g, .gemm, &random)
        }
    }

    func testDepthwiseConvolutionMatchesReference() {
        var random = SplitMix64(seed: 6)
        // Every channel count with the fast 3x3 and 5x5 paths at strides 1 and 2 and their usual padding...
        for channels in Self.channelCounts {
            for (kernel, stride) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
                let pad = kernel / 2
                let g = ConvGeometry(
                    inputHeight: random.int(1...12), inputWidth: random.int(1...12), inputChannels: channels,
                    outputChannels: channels, kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride,
                    strideWidth: stride, padTop: pad, padLeft: pad, padBottom: pad, padRight: pad, groups: channels)
                checkConvolution(g, .depthwise, &random)
            }
        }
        // ...then random geometries (other kernel sizes take the generic path), including 1 channel.
        for _ in 0..<300 {
            let g = random.convGeometry(
                channelCounts: Self.channelCounts, groups: { input, _ in input }, equalChannels: true)
            checkConvolution(g, .depthwise, &random)
        }
    }

    func testGroupedConvolutionMatchesReference() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<120 {
            let groups = random.int(2...4)
            let g = random.convGeometry(
                channelCounts: Self.channelCounts,
                groups: { _, _ in groups },
                channels: { random in (groups * random.int(1...9), groups * random.int(1...9)) })
            checkConvolution(g, .grouped, &random)
        }
    }

    // MARK: Elementwise

    func testAddAndMulMatchReferenceBitForBit() {
        var random = SplitMix64(seed: 8)
        for channels in Self.channelCounts + [48, 100] {
            for broadcast in [false, true] {
                for multiply in [false, true] {
                    let pixels = random.int(1...9)
                    let activation = multiply ? .none : random.element(of: Self.activations)
                    let a = TestView(inputWith: &random, pixels: pixels, channels: channels)
                    let b = broadcast
                        ? TestView(inputWith: &random, pixels: 1, channels: channels, pixelStride: 0)
                        : TestView(inputWith: &random, pixels: pixels, channels: channels)
                    let fast = TestView(outputPixels: pixels, channels: channels, random: &random)
                    let expected = fast.copy()
                    let kernel = multiply ? f32_mul : f32_add
                    let reference = multiply ? ref_mul : ref_add
                    kernel(
                        a.start, a.pixelStride, b.start, b.pixelStride, fast.start, fast.pixelStride, pixels, channels,
                        activation)
                    reference(
                        a.start, a.pixelStride, b.start, b.pixelStride, expected.start, expected.pixelStride, pixels,
                        channels, activation)
                    let name = multiply ? "mul" : "add"
                    assertViewsMatch(fast, expected, "\(name) \(pixels)x\(channels) broadcast \(broadcast)")
                }
            }
        }
        // In place: output == a.
        let a = TestView(inputWith: &random, pixels: 5, channels: 7, pixelStride: 7)
        let b = TestView(inputWith: &random, pixels: 5, channels: 7, pixelStride: 7)
        let expected = TestView(outputPixels: 5, channels: 7, random: &random, pixelStride: 7)
        ref_add(
            a: a.start, aPixelStride: 7, b: b.start, bPixelStride: 7, output: expected.start, outputPixelStride: 7,
            pixelCount: 5, channels: 7, activation: .relu)
        f32_add(
            a: a.start, aPixelStride: 7, b: b.start, bPixelStride: 7, output: a.start, outputPixelStride: 7,
            pixelCount: 5, channels: 7, activation: .relu)
        for p in 0..<5 {
            for c in 0..<7 { XCTAssertEqual(a[p, c].bitPattern, expected[p, c].bitPattern, "add in place") }
        }
    }

    func testActivationKernelMatchesReferenceBitForBit() {
        var random = SplitMix64(seed: 9)
        for channels in Self.channelCounts {
            for activation in Self.activations {
                let pixels = random.int(1...9)
                let input = TestView(inputWith: &random, pixels: pixels, channels: channels, scale: 8)
                let fast = TestView(outputPixels: pixels, channels: channels, random: &random)
                let expected = fast.copy()
                f32_activation(
                    input: input.start, inputPixelStride: input.pixelStride, output: fast.start,
                    outputPixelStride: fast.pixelStride, pixelCount: pixels, channels: channels, activation: activation)
                ref_activation(
                    input: input.start, inputPixelStride: input.pixelStride, output: expected.start,
                    outputPixelStride: expected.pixelStride, pixelCount: pixels, channels: channels,
                    activation: activation)
                assertViewsMatch(fast, expected, "\(activation) \(pixels)x\(channels)")
                // In place on the input view.
                f32_activation(
                    input: input.start, inputPixelStride: input.pixelStride, output: input.start,
                    outputPixelStride: input.pixelStride, pixelCount: pixels, channels: channels,
                    activation: activation)
                for p in 0..<pixels {
                    for c in 0..<channels {
                        XCTAssertEqual(input[p, c].bitPattern, fast[p, c].bitPattern, "\(activation) in place")
                    }
                }
            }
        }
    }

    func testCopyChannelsMatchesReference() {
        var random = SplitMix64(seed: 10)
        for channels in Self.channelCounts {
            for contiguous in [false, true] {
                let pixels = random.int(1...9)
                let stride = contiguous ? channels : nil
                let input = TestView(inputWith: &random, pixels: pixels, channels: channels, pixelStride: stride)
                let fast = TestView(outputPixels: pixels, channels: channels, random: &random, pixelStride: stride)
                let expected = fast.copy()
                f32_copy_channels(
                    input: input.start, inputPixelStride: input.pixelStride, output: fast.start,
                    outputPixelStride: fast.pixelStride, pixelCount: pixels, channels: channels)
                ref_copy_channels(
                    input: input.start, inputPixelStride: input.pixelStride, output: expected.start,
                    outputPixelStride: expected.pixelStride, pixelCount: pixels, channels: channels)
                assertViewsMatch(fast, expected, "copy \(pixels)x\(channels)")
            }
        }
    }

    func testGlobalAveragePoolMatchesReferenceBitForBit() {
        var random = SplitMix64(seed: 11)
        for channels in Self.channelCounts + [1280] {
            let pixels = random.element(of: [1, 2, 7, 49, 50])
            let input = TestView(inputWith: &random, pixels: pixels, channels: channels)
            let fast = TestView(outputPixels: 1, channels: channels, random: &random, pixelStride: channels)
            let expected = fast.copy()
            f32_global_average_pool(
                input: input.start, inputPixelStride: input.pixelStride, pixelCount: pixels, channels: channels,
                output: fast.start)
            ref_global_average_pool(
                input: input.start, inputPixelStride: input.pixelStride, pixelCount: pixels, channels: channels,
                output: expected.start)
            assertViewsMatch(fast, expected, "average pool \(pixels)x\(channels)")
        }
    }

    func testLayoutConversions() {
        var random = SplitMix64(seed: 12)
        let channels = 3, height = 5, width = 7
        let nchw = random.floats(channels * height * width)
        var nhwc = [Float](repeating: 0, count: nchw.count)
        var back = [Float](repeating: 0, count: nchw.count)
        nchwToNHWC(nchw, channels: channels, height: height, width: width, dst: &nhwc)
        nhwcToNCHW(nhwc, channels: channels, height: height, width: width, dst: &back)
        XCTAssertEqual(back, nchw)
        for c in 0..<channels {
            for y in 0..<height {
                for x in 0..<width {
                    XCTAssertEqual(nhwc[(y * width + x) * channels + c], nchw[(c * height + y) * width + x])
                }
            }
        }
    }

    // MARK: Convolution harness

    private enum ConvolutionKernel {
        case pointwise   // f32_conv1x1_gemm_6x16, gemmPacked16 weights
        case gemm        // f32_conv_gemm_6x16, gemmPacked16 weights
        case depthwise   // f32_dwconv, depthwiseHWC weights
        case grouped     // f32_conv_grouped_direct, OHWI weights
    }

    /// Random geometry: input 1...9 square-ish, kernel 1...5 (not always square), strides 1/2, pads 0...2,
    /// dilation 1/2; redrawn until the output is at least 1x1.
    /// Runs one kernel on random data and views with random pixel strides (computing the output rows in up to
    /// three separate calls, as a multithreaded caller would) and compares it with `ref_conv`.
    private func checkConvolution(_ g: ConvGeometry, _ kernel: ConvolutionKernel, _ random: inout SplitMix64) {
        let activation = random.element(of: Self.activations)
        let inputPixels = g.inputHeight * g.inputWidth, outputPixels = g.outputHeight * g.outputWidth
        let input = TestView(inputWith: &random, pixels: inputPixels, channels: g.inputChannels)
        let weights = random.floats(g.outputChannels * g.reductionSize)
        let bias = random.floats(g.outputChannels)
        let fast = TestView(outputPixels: outputPixels, channels: g.outputChannels, random: &random)
        let expected = fast.copy()
        let magnitude = fast.copy()
        let absoluteInput = input.map(abs)
        ref_conv(
            input: input.start, inputPixelStride: input.pixelStride, geometry: g, weights: weights, bias: bias,
            output: expected.start, outputPixelStride: expected.pixelStride, activation: activation)
        ref_conv(
            input: absoluteInput.start, inputPixelStride: input.pixelStride, geometry: g, weights: weights.map(abs),
            bias: bias.map(abs), output: magnitude.start, outputPixelStride: magnitude.pixelStride,
            activation: .none)

        let split1 = random.int(0...g.outputHeight), split2 = random.int(split1...g.outputHeight)
        let rowRanges = [0..<split1, split1..<split2, split2..<g.outputHeight]
        switch kernel {
        case .pointwise:
            f32_conv1x1_gemm_6x16(
                input: input.start, inputPixelStride: input.pixelStride, pixelCount: inputPixels,
                inputChannels: g.inputChannels,
                weights: packGEMM16(ohwi: weights, outputChannels: g.outputChannels, reductionSize: g.reductionSize),
                bias: packBias16(bias), outputChannels: g.outputChannels, output: fast.start,
                outputPixelStride: fast.pixelStride, activation: activation)
        case .gemm:
            let packed = packGEMM16(ohwi: weights, outputChannels: g.outputChannels, reductionSize: g.reductionSize)
            var scratch = [Float](repeating: .nan, count: f32_conv_gemm_scratchCount(geometry: g))
            for rows in rowRanges {
                f32_conv_gemm_6x16(
                    input: input.start, inputPixelStride: input.pixelStride, geometry: g, weights: packed,
                    bias: packBias16(bias), output: fast.start, outputPixelStride: fast.pixelStride,
                    activation: activation, outputRows: rows, scratch: &scratch)
            }
        case .depthwise:
            let packed = packDepthwiseHWC(
                ohwi: weights, channels: g.outputChannels, kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth)
            for rows in rowRanges {
                f32_dwconv(
                    input: input.start, inputPixelStride: input.pixelStride, geometry: g, weights: packed, bias: bias,
                    output: fast.start, outputPixelStride: fast.pixelStride, activation: activation, outputRows: rows)
            }
        case .grouped:
            for rows in rowRanges {
                f32_conv_grouped_direct(
                    input: input.start, inputPixelStride: input.pixelStride, geometry: g, weights: weights,
                    bias: bias, output: fast.start, outputPixelStride: fast.pixelStride, activation: activation,
                    outputRows: rows)
            }
        }
        assertViewsMatch(fast, expected, magnitude: magnitude, "\(kernel) \(g) \(activation)")
    }

    /// Outside the view both must hold the untouched sentinel. Inside, without `magnitude`, bit equality;
    /// with it (the reference run on |input|, |weights|, |bias|: the sum of |terms| of each output),
    ///     |fast - ref| <= 1.5 * (1e-5 * magnitude + 1e-6).
    /// Summing n terms in another order (or with FMA) changes the result by at most about n * 2^-24 *
    /// magnitude, typically sqrt(n) * 2^-24 * magnitude; 1e-5 is ~170 ulps of the magnitude, a wide margin for
    /// the test sizes (n <= 33 * 25) yet far below any indexing or packing error (one misplaced term). 1.5 is the
    /// largest slope of the activations (hardSwish at x = 3); 1e-6 covers results that cancel to ~0.
    private func assertViewsMatch(
        _ fast: TestView, _ expected: TestView, magnitude: TestView? = nil, _ message: @autoclosure () -> String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        for i in 0..<fast.buffer.count {
            let f = fast.buffer[i], e = expected.buffer[i]
            if f.bitPattern == e.bitPattern || (f.isNaN && e.isNaN) { continue }
            guard let magnitude, fast.contains(index: i) else {
                return XCTFail("\(message()): element \(i): \(f), expected \(e)", file: file, line: line)
            }
            let tolerance: Float = 1.5 * (1e-5 * magnitude.buffer[i] + 1e-6)
            if !(abs(f - e) <= tolerance) {
                let (p, c) = fast.pixelAndChannel(index: i)
                return XCTFail(
                    "\(message()): pixel \(p) channel \(c): \(f), expected \(e) (tolerance \(tolerance))",
                    file: file, line: line)
            }
        }
    }
}

/// A view of `pixels` x `channels` floats, `pixelStride` apart, `offset` floats into an allocation with a
/// random margin after it too. Input views hold NaN outside the view, so a kernel that reads outside its view
/// poisons its output; output views hold a sentinel there, checked untouched.
private final class TestView {
    static let sentinel: Float = -12345.5

    let buffer: UnsafeMutableBufferPointer<Float>
    let offset: Int
    let pixels: Int
    let channels: Int
    let pixelStride: Int

    var start: UnsafeMutablePointer<Float> { buffer.baseAddress! + offset }

    private init(pixels: Int, channels: Int, pixelStride: Int, offset: Int, margin: Int, outside: Float) {
        self.pixels = pixels
        self.channels = channels
        self.pixelStride = pixelStride
        self.offset = offset
        buffer = .allocate(capacity: offset + (pixels - 1) * pixelStride + channels + margin)
        buffer.initialize(repeating: outside)
    }

    /// Random values in -scale...scale; the stride is random (channels + 0...5) unless given.
    convenience init(
        inputWith random: inout SplitMix64, pixels: Int, channels: Int, pixelStride: Int? = nil, scale: Float = 1
    ) {
        self.init(
            pixels: pixels, channels: channels, pixelStride: pixelStride ?? channels + random.int(0...5),
            offset: random.int(0...3), margin: random.int(0...3), outside: .nan)
        for p in 0..<pixels {
            for c in 0..<channels { self[p, c] = random.float(in: -scale...scale) }
        }
    }

    convenience init(outputPixels pixels: Int, channels: Int, random: inout SplitMix64, pixelStride: Int? = nil) {
        self.init(
            pixels: pixels, channels: channels, pixelStride: pixelStride ?? channels + random.int(0...5),
            offset: random.int(0...3), margin: random.int(0...3), outside: TestView.sentinel)
    }

    deinit { buffer.deallocate() }

    subscript(pixel: Int, channel: Int) -> Float {
        get { start[pixel * pixelStride + channel] }
        set { start[pixel * pixelStride + channel] = newValue }
    }

    func copy() -> TestView { map { $0 } }

    /// Same layout, `transform` applied to every element (outside the view too).
    func map(_ transform: (Float) -> Float) -> TestView {
        let result = TestView(
            pixels: pixels, channels: channels, pixelStride: pixelStride, offset: offset,
            margin: buffer.count - offset - (pixels - 1) * pixelStride - channels, outside: 0)
        for i in 0..<buffer.count { result.buffer[i] = transform(buffer[i]) }
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
