/// The int8 convolution kernels the kernel table selects, run through the table's own binding as an inference
/// runs them, against `ref_i8_conv` bit for bit on seeded random shapes: channel counts around the vector
/// widths, pixel counts around the tiles, 1x1 / KxK / depthwise, strides, padding, dilation, strided views.
/// The host tests cover every kernel on x86_64; this check is what runs the ISA-specific ones (sdot, Armv8.0
/// NEON) on odd shapes: `edgeq selftest` on the device build, under qemu in Targets/qemu-selftest.

/// The result: cases checked per kernel name, and the first mismatch (nil when every output matched).
public struct Int8KernelSelfCheck {
    public var casesPerKernel: [String: Int] = [:]
    public var failure: String?
}

/// `cases` random convolutions from `seed`.
public func int8KernelSelfCheck(cases: Int, seed: UInt64) -> Int8KernelSelfCheck {
    var result = Int8KernelSelfCheck()
    var random = SplitMix64(seed: seed)
    let channelCounts = [1, 2, 3, 4, 7, 8, 15, 16, 17, 24, 31, 33, 48]
    for index in 0..<cases {
        let g = selfCheckGeometry(kind: index % 3, channelCounts: channelCounts, &random)
        // The table matches on the geometry; the node's parameters add the fused activation.
        let params = Conv2DParams(
            kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth, groups: g.groups,
            activation: random.int(0...1) == 0 ? Activation(.none) : Activation(.relu))
        guard let entry = selectKernel(.conv2d(params), g, dtype: .int8) else {
            result.failure = "no int8 kernel for " + describe(g)
            return result
        }
        if let mismatch = checkConvolution(entry, g, params.activation, &random) {
            result.failure = entry.name + " " + describe(g) + ": " + mismatch
            return result
        }
        result.casesPerKernel[entry.name, default: 0] += 1
    }
    return result
}

/// kind 0: 1x1 stride 1 (1 pixel: the one-row tiles), 1: any groups == 1 convolution, 2: depthwise.
private func selfCheckGeometry(kind: Int, channelCounts: [Int], _ random: inout SplitMix64) -> ConvGeometry {
    while true {
        let cin = random.element(of: channelCounts)
        let cout = kind == 2 ? cin : random.element(of: channelCounts)
        let k = kind == 0 ? 1 : random.element(of: [1, 3, 3, 5])
        let g = ConvGeometry(
            inputHeight: random.int(1...9), inputWidth: random.int(1...13), inputChannels: cin, outputChannels: cout,
            kernelHeight: k, kernelWidth: kind == 0 ? 1 : random.element(of: [1, 3, 5]),
            strideHeight: kind == 0 ? 1 : random.int(1...2), strideWidth: kind == 0 ? 1 : random.int(1...2),
            dilationHeight: kind == 0 ? 1 : random.int(1...2), dilationWidth: kind == 0 ? 1 : random.int(1...2),
            padTop: kind == 0 ? 0 : random.int(0...2), padLeft: kind == 0 ? 0 : random.int(0...2),
            padBottom: kind == 0 ? 0 : random.int(0...2), padRight: kind == 0 ? 0 : random.int(0...2),
            groups: kind == 2 ? cin : 1)
        if g.outputHeight >= 1 && g.outputWidth >= 1 { return g }
    }
}

/// One convolution through `entry` (work split in two calls, as two threads would) and through the reference;
/// nil when the outputs are identical, else where they differ.
private func checkConvolution(
    _ entry: KernelEntry, _ g: ConvGeometry, _ activation: Activation, _ random: inout SplitMix64
) -> String? {
    let depthwise = g.isDepthwise
    let inputStride = g.inputChannels + random.int(0...3), outputStride = g.outputChannels + random.int(0...3)
    let inputPixels = g.inputHeight * g.inputWidth, outputPixels = g.outputHeight * g.outputWidth
    let input = (0..<(inputPixels * inputStride)).map { _ in Int8(truncatingIfNeeded: random.next()) }
    let taps = depthwise ? g.kernelHeight * g.kernelWidth : g.reductionSize
    let weights = (0..<(g.outputChannels * taps)).map { _ in Int8(random.int(-127...127)) }
    let bias = (0..<g.outputChannels).map { _ in Int32(random.int(-20_000...20_000)) }
    let inputQuant = QuantParams(scales: [0.02], zeroPoints: [Int32(random.int(-128...127))])
    let weightScales = (0..<g.outputChannels).map { _ in Float(random.int(1...100)) * 0.0002 }
    let outputQuant = QuantParams(
        scales: [Float(random.int(20...400)) * 0.001 * Float(taps).squareRoot()],
        zeroPoints: [Int32(random.int(-128...127))])
    let zx = Int8(inputQuant.zeroPoints[0])
    let folded = foldI8Bias(
        bias: bias, ohwi: weights, outputChannels: g.outputChannels, reductionSize: taps, inputZeroPoint: Int32(zx))
    let padding = depthwise ? 0 : (16 - g.outputChannels % 16) % 16
    let storedBias = folded + [Int32](repeating: 0, count: padding)
    let packed = depthwise
        ? packDepthwiseHWCI8(ohwi: weights, channels: g.outputChannels, kernelHeight: g.kernelHeight,
                             kernelWidth: g.kernelWidth)
        : packGEMMI8C4(ohwi: weights, outputChannels: g.outputChannels, reductionSize: g.reductionSize)
    var fast = [Int8](repeating: 0x5A, count: outputPixels * outputStride)
    var expected = fast
    var scratch = [Float](repeating: 0, count: max(1, entry.scratchCount(g)))
    input.withUnsafeBufferPointer { x in
        packed.withUnsafeBufferPointer { w in
            storedBias.withUnsafeBufferPointer { b in
                fast.withUnsafeMutableBufferPointer { y in
                    scratch.withUnsafeMutableBufferPointer { s in
                        let arguments = KernelArguments(
                            inputs: [UnsafeRawPointer(x.baseAddress!), UnsafeRawPointer(w.baseAddress!),
                                     UnsafeRawPointer(b.baseAddress!)],
                            inputViews: [TensorView(
                                root: 0, elementOffset: 0, pixelStride: inputStride, pixels: inputPixels,
                                channels: g.inputChannels)],
                            inputQuant: [inputQuant, QuantParams(
                                scales: weightScales, zeroPoints: [Int32](repeating: 0, count: g.outputChannels))],
                            output: UnsafeMutableRawPointer(y.baseAddress!),
                            outputView: TensorView(
                                root: 1, elementOffset: 0, pixelStride: outputStride, pixels: outputPixels,
                                channels: g.outputChannels),
                            outputQuant: outputQuant, outputDType: .int8, geometry: g, activation: activation,
                            scratch: s.baseAddress!, scratchPerWorker: s.count)
                        let work = entry.bind(arguments)
                        let split = random.int(0...work.items)
                        work.run(0..<split, 0)
                        work.run(split..<work.items, 0)
                        let multipliers = arguments.requantizationMultipliers
                        expected.withUnsafeMutableBufferPointer { e in
                            ref_i8_conv(
                                input: x.baseAddress!, inputPixelStride: inputStride, inputZeroPoint: zx, geometry: g,
                                weights: weights, bias: bias, multipliers: multipliers, output: e.baseAddress!,
                                outputPixelStride: outputStride, requantization: arguments.requantization)
                        }
                    }
                }
            }
        }
    }
    for i in 0..<fast.count where fast[i] != expected[i] {
        return "pixel " + String(i / outputStride) + " channel " + String(i % outputStride) + ": "
            + String(fast[i]) + ", expected " + String(expected[i])
    }
    return nil
}

private func describe(_ g: ConvGeometry) -> String {
    String(g.inputHeight) + "x" + String(g.inputWidth) + "x" + String(g.inputChannels) + " -> "
        + String(g.outputChannels) + ", kernel " + String(g.kernelHeight) + "x" + String(g.kernelWidth)
        + " stride " + String(g.strideHeight) + "," + String(g.strideWidth) + " dilation "
        + String(g.dilationHeight) + "," + String(g.dilationWidth) + " groups " + String(g.groups)
}
