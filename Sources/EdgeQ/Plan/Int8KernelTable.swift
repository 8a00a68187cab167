/// The int8 rows of the kernel table, and the per-layer constants they need: requantization multipliers and
/// clamps computed once at load from the tensors' scales (QUANTIZATION.md beside the int8 kernels).

extension KernelArguments {
    var inputZeroPoint: Int8 { Int8(inputQuant[0].zeroPoints[0]) }

    /// m[c] = s_x·s_w[c]/s_y per output channel, in Double and rounded once to Float (QUANTIZATION.md),
    /// zero padded to whole 16-channel blocks as the gemmI8C4 kernels read them.
    var requantizationMultipliers: [Float] {
        let x = Double(inputQuant[0].scales[0])
        let y = Double(outputQuant.scales[0])
        var m = inputQuant[1].scales.map { Float(x * Double($0) / y) }
        m += [Float](repeating: 0, count: (16 - m.count % 16) % 16)
        return m
    }

    /// The output zero point and the clamp of the fused activation, in the output's int8 steps.
    var requantization: I8Requantization {
        let scale = outputQuant.scales[0]
        let zero = outputQuant.zeroPoints[0]
        func level(_ real: Float) -> Int32 {
            let q = (real / scale).rounded(.toNearestOrEven)
            return q < -1000 ? -1000 : q > 1000 ? 1000 : Int32(q) + zero
        }
        var lo: Int32 = -128
        var hi: Int32 = 127
        switch activation.kind {
        case .relu: lo = max(lo, zero)
        case .clip:
            lo = max(lo, level(activation.a))
            hi = min(hi, level(activation.b))
        default: break
        }
        return I8Requantization(zeroPoint: zero, lo: min(lo, 127), hi: max(hi, min(lo, 127)))
    }

    /// `Float(Double(a) / Double(b))`: the one rounding of a ratio of two scales.
    func ratio(_ a: Float, _ b: Float) -> Float { Float(Double(a) / Double(b)) }
}

/// Scratch floats for `int16s` int16 values.
private func floatsFor(int16s: Int) -> Int { (int16s + 1) / 2 }

/// Scratch floats for `int8s` int8 values.
private func floatsFor(int8s: Int) -> Int { (int8s + 3) / 4 }

/// 1x1 convolutions and fully connected layers: the pointwise GEMM kernels.
private func isPointwiseGEMM(_ op: Operator, _ g: ConvGeometry?) -> Bool {
    if case .fullyConnected = op { return true }
    return isConv(op, g) { $0.isPointwise }
}

/// Work items = chunks of `chunk` output pixels of a pointwise GEMM (the kernel's cache block); `run(first,
/// count, multipliers, requantization, worker)` computes pixels first ..< first + count.
private func pointwiseGEMMWork(
    _ a: KernelArguments, chunk: Int,
    _ run: @escaping (_ first: Int, _ count: Int, UnsafePointer<Float>, I8Requantization, _ worker: Int) -> Void
) -> KernelWork {
    let pixels = a.outputView.pixels
    let multipliers = a.requantizationMultipliers
    let requantization = a.requantization
    return KernelWork(items: (pixels + chunk - 1) / chunk) { chunks, worker in
        let first = chunks.lowerBound * chunk
        multipliers.withUnsafeBufferPointer { m in
            run(first, min(chunks.upperBound * chunk, pixels) - first, m.baseAddress!, requantization, worker)
        }
    }
}

/// Work items = output rows of a convolution; `run(rows, multipliers, requantization, worker)`.
private func convRowsWork(
    _ a: KernelArguments,
    _ run: @escaping (_ rows: Range<Int>, UnsafePointer<Float>, I8Requantization, _ worker: Int) -> Void
) -> KernelWork {
    let multipliers = a.requantizationMultipliers
    let requantization = a.requantization
    return KernelWork(items: a.geometry!.outputHeight) { rows, worker in
        multipliers.withUnsafeBufferPointer { m in run(rows, m.baseAddress!, requantization, worker) }
    }
}

// The GEMM rows (1x1 and fully connected, then any groups == 1 convolution) for the build's ISA. aarch64: the
// dot-product tiles, with sdot where the build's CPU has it (Targets/build passes -D EDGEQ_DOTPROD for such
// profiles: rpi5), else their Armv8.0 NEON form. x86_64: the 6x8c4 tile made for AVX2 (vpmaddwd). The host
// tests run every kernel, the dot-product ones through CEdgeQDot's plain C sdot.
#if arch(arm64)
#if EDGEQ_DOTPROD
private let dotTile = I8DotTile.sdot5x16
#else
private let dotTile = I8DotTile.neon4x16
#endif
private let gemmRows: [KernelEntry] = [
    KernelEntry(
        name: "i8_conv1x1_gemm_" + dotTile.name, dtype: .int8,
        matches: isPointwiseGEMM,
        scratchCount: { _ in 0 },
        bind: { a in
            let inputStride = a.inputViews[0].pixelStride, outputStride = a.outputView.pixelStride
            return pointwiseGEMMWork(a, chunk: dotTile.chunkPixels) { first, count, m, requantization, _ in
                i8_conv1x1_gemm_dot(
                    tile: dotTile, input: a.i8(0) + first * inputStride, inputPixelStride: inputStride,
                    pixelCount: count, inputChannels: a.inputViews[0].channels, weights: a.i8(1), bias: a.i32(2),
                    multipliers: m, outputChannels: a.outputView.channels, output: a.i8Output + first * outputStride,
                    outputPixelStride: outputStride, requantization: requantization)
            }
        }),
    KernelEntry(
        name: "i8_conv_gemm_" + dotTile.name, dtype: .int8,
        matches: { op, g in isConv(op, g) { $0.groups == 1 } },
        scratchCount: { g in floatsFor(int8s: i8_conv_gemm_scratchCount(geometry: g!)) },
        bind: { a in
            convRowsWork(a) { rows, m, requantization, worker in
                i8_conv_gemm_dot(
                    tile: dotTile, input: a.i8(0), inputPixelStride: a.inputViews[0].pixelStride,
                    inputZeroPoint: a.inputZeroPoint, geometry: a.geometry!, weights: a.i8(1), bias: a.i32(2),
                    multipliers: m, output: a.i8Output, outputPixelStride: a.outputView.pixelStride,
                    requantization: requantization, outputRows: rows, scratch: a.int8Scratch(worker: worker))
            }
        }),
]
#else
private let gemmRows: [KernelEntry] = [
    KernelEntry(
        name: "i8_conv1x1_gemm_6x8c4", dtype: .int8,
        matches: isPointwiseGEMM,
        scratchCount: { g in floatsFor(int16s: i8_conv1x1_gemm_scratchCount(inputChannels: g!.inputChannels)) },
        bind: { a in
            let inputStride = a.inputViews[0].pixelStride, outputStride = a.outputView.pixelStride
            return pointwiseGEMMWork(a, chunk: i8GEMMChunkPixels) { first, count, m, requantization, worker in
                i8_conv1x1_gemm_6x8c4(
                    input: a.i8(0) + first * inputStride, inputPixelStride: inputStride, pixelCount: count,
                    inputChannels: a.inputViews[0].channels, weights: a.i8(1), bias: a.i32(2), multipliers: m,
                    outputChannels: a.outputView.channels, output: a.i8Output + first * outputStride,
                    outputPixelStride: outputStride, requantization: requantization,
                    scratch: a.int16Scratch(worker: worker))
            }
        }),
    KernelEntry(
        name: "i8_conv_gemm_6x8c4", dtype: .int8,
        matches: { op, g in isConv(op, g) { $0.groups == 1 } },
        scratchCount: { g in floatsFor(int16s: i8_conv_gemm_scratchCount(geometry: g!)) },
        bind: { a in
            convRowsWork(a) { rows, m, requantization, worker in
                i8_conv_gemm_6x8c4(
                    input: a.i8(0), inputPixelStride: a.inputViews[0].pixelStride, inputZeroPoint: a.inputZeroPoint,
                    geometry: a.geometry!, weights: a.i8(1), bias: a.i32(2), multipliers: m,
                    output: a.i8Output, outputPixelStride: a.outputView.pixelStride,
                    requantization: requantization, outputRows: rows, scratch: a.int16Scratch(worker: worker))
            }
        }),
]
#endif

// The depthwise row. rpi5 (EDGEQ_DOTPROD): whole groups of 4 taps with sdot, on weights packed once at bind
// (load) time by packDepthwiseI8C4; elsewhere the NEON / AVX2 pair kernel on the depthwiseHWC weights.
#if arch(arm64) && EDGEQ_DOTPROD
private let dwconvSdot = true
private let dwconvName = "i8_dwconv_4x16c4_sdot"
#else
private let dwconvSdot = false
private let dwconvName = "i8_dwconv"
#endif
private let dwconvRow = KernelEntry(
    name: dwconvName, dtype: .int8,
    matches: { op, g in isConv(op, g) { $0.isDepthwise } },
    scratchCount: { _ in 0 },
    bind: { a in
        let g = a.geometry!
        let packed = dwconvSdot
            ? packDepthwiseI8C4(hwc: a.i8(1), channels: g.inputChannels, taps: g.kernelHeight * g.kernelWidth)
            : []
        return convRowsWork(a) { rows, m, requantization, _ in
            packed.withUnsafeBufferPointer { p in
                i8_dwconv(
                    input: a.i8(0), inputPixelStride: a.inputViews[0].pixelStride, inputZeroPoint: a.inputZeroPoint,
                    geometry: g, weights: a.i8(1), bias: a.i32(2), multipliers: m,
                    output: a.i8Output, outputPixelStride: a.outputView.pixelStride,
                    requantization: requantization, outputRows: rows,
                    sdotWeights: dwconvSdot ? p.baseAddress : nil)
            }
        }
    })

public let int8KernelTable: [KernelEntry] = gemmRows + [
    dwconvRow,
    KernelEntry(
        name: "i8_add", dtype: .int8,
        matches: { op, _ in if case .add = op { return true } else { return false } },
        scratchCount: { _ in 0 },
        bind: { a in
            let aStride = a.inputViews[0].pixelStride, bStride = a.broadcastStride(1)
            let outputStride = a.outputView.pixelStride
            let y = a.outputQuant.scales[0]
            let aMultiplier = a.ratio(a.inputQuant[0].scales[0], y), bMultiplier = a.ratio(a.inputQuant[1].scales[0], y)
            let aZero = Int8(a.inputQuant[0].zeroPoints[0]), bZero = Int8(a.inputQuant[1].zeroPoints[0])
            let requantization = a.requantization
            return pixelWork(a) { first, count in
                i8_add(
                    a: a.i8(0) + first * aStride, aPixelStride: aStride, aZeroPoint: aZero,
                    aMultiplier: aMultiplier, b: a.i8(1) + first * bStride, bPixelStride: bStride,
                    bZeroPoint: bZero, bMultiplier: bMultiplier, output: a.i8Output + first * outputStride,
                    outputPixelStride: outputStride, pixelCount: count, channels: a.outputView.channels,
                    requantization: requantization)
            }
        }),
    // Squeeze-excite: int8 x times a float32 per-channel gate from the float SE branch.
    KernelEntry(
        name: "i8_mul_gate", dtype: .int8,
        matches: { op, _ in op == .mul },
        scratchCount: { _ in 0 },
        bind: { a in
            let inputStride = a.inputViews[0].pixelStride, outputStride = a.outputView.pixelStride
            let scaleRatio = a.ratio(a.inputQuant[0].scales[0], a.outputQuant.scales[0])
            let requantization = a.requantization
            return pixelWork(a) { first, count in
                i8_mul_gate(
                    input: a.i8(0) + first * inputStride, inputPixelStride: inputStride,
                    inputZeroPoint: a.inputZeroPoint, gate: a.f32(1), scaleRatio: scaleRatio,
                    output: a.i8Output + first * outputStride, outputPixelStride: outputStride,
                    pixelCount: count, channels: a.outputView.channels, requantization: requantization)
            }
        }),
    // One int32 sum per channel: split by channels, never by pixels.
    KernelEntry(
        name: "i8_global_average_pool", dtype: .int8,
        matches: { op, _ in op == .globalAveragePool },
        scratchCount: { _ in 0 },
        bind: { a in
            let input = a.inputViews[0]
            let multiplier = Float(Double(a.inputQuant[0].scales[0])
                / (Double(input.pixels) * Double(a.outputQuant.scales[0])))
            let requantization = a.requantization
            return channelBlockWork(channels: input.channels) { channels in
                i8_global_average_pool(
                    input: a.i8(0) + channels.lowerBound, inputPixelStride: input.pixelStride,
                    inputZeroPoint: a.inputZeroPoint, pixelCount: input.pixels, channels: channels.count,
                    multiplier: multiplier, output: a.i8Output + channels.lowerBound, requantization: requantization)
            }
        }),
    KernelEntry(
        name: "i8_quantize", dtype: .float32,
        matches: { op, _ in op == .quantize },
        scratchCount: { _ in 0 },
        bind: { a in
            let inputStride = a.inputViews[0].pixelStride, outputStride = a.outputView.pixelStride
            let scale = a.outputQuant.scales[0]
            let requantization = I8Requantization(zeroPoint: a.outputQuant.zeroPoints[0])
            return pixelWork(a) { first, count in
                i8_quantize(
                    input: a.f32(0) + first * inputStride, inputPixelStride: inputStride, scale: scale,
                    output: a.i8Output + first * outputStride, outputPixelStride: outputStride,
                    pixelCount: count, channels: a.outputView.channels, requantization: requantization)
            }
        }),
    KernelEntry(
        name: "i8_dequantize", dtype: .int8,
        matches: { op, _ in op == .dequantize },
        scratchCount: { _ in 0 },
        bind: { a in
            let inputStride = a.inputViews[0].pixelStride, outputStride = a.outputView.pixelStride
            let scale = a.inputQuant[0].scales[0]
            return pixelWork(a) { first, count in
                i8_dequantize(
                    input: a.i8(0) + first * inputStride, inputPixelStride: inputStride,
                    zeroPoint: a.inputZeroPoint, scale: scale, output: a.f32Output + first * outputStride,
                    outputPixelStride: outputStride, pixelCount: count, channels: a.outputView.channels)
            }
        }),
]
