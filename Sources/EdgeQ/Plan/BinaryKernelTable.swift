/// The binary rows of the kernel table (BinaryConv2D, Kernels/Binary/BINARY.md), one per input dtype (float32,
/// int8, bit-packed); the output dtype is the output tensor's. Per-channel constants and the kernel's weight
/// layout are made once, at load.

extension KernelArguments {
    /// Output channels rounded up to whole 8-channel blocks, as the kernel reads per-channel constants.
    var binaryPaddedChannels: Int {
        (outputView.channels + binaryBlockChannels - 1) / binaryBlockChannels * binaryBlockChannels
    }

    /// multiplier[o] and bias[o] of a BinaryConv2D (inputs 2 and 3), divided by the output scale for an int8
    /// output (in Double, rounded once), zero padded to whole 8-channel blocks as the kernel reads them.
    var binaryChannelConstants: (multipliers: [Float], biases: [Float]) {
        let channels = outputView.channels, padded = binaryPaddedChannels
        let scale = outputDType == .int8 ? Double(outputQuant.scales[0]) : 1
        var m = [Float](repeating: 0, count: padded), b = [Float](repeating: 0, count: padded)
        for o in 0..<channels {
            m[o] = Float(Double(f32(2)[o]) / scale)
            b[o] = Float(Double(f32(3)[o]) / scale)
        }
        return (m, b)
    }

    /// direction, lower and upper of a BinaryConv2D with a bit-packed output (input 2, int32 [3, Cout]), one
    /// after the other, each zero padded to whole 8-channel blocks as the kernel reads them.
    var binaryThresholds: [Int32] {
        let channels = outputView.channels, padded = binaryPaddedChannels
        return (0..<3 * padded).map { i in i % padded < channels ? i32(2)[i / padded * channels + i % padded] : 0 }
    }
}

/// The signature of `b1_conv_4x8` and its variants.
typealias BinaryConvKernel = (
    B1Input, Int, ConvGeometry, UnsafePointer<UInt64>, UnsafePointer<Float>, UnsafePointer<Float>, B1Output, Int,
    Range<Int>, UnsafeMutableRawPointer
) -> Void

/// Makes a kernel's weights from the layer's binaryPacked64 words, once when the layer is bound
/// (`b1_conv_4x8_weights`, `b1_conv_2x64_weights`).
typealias BinaryConvWeights = (UnsafePointer<UInt64>, ConvGeometry) -> AlignedBuffer

/// A BinaryConv2D row: `kernel` for geometries that `fits`, on the weights that `prepare` makes from the file's
/// (nil: the kernel reads the binaryPacked64 words in place).
private func binaryConvEntry(
    _ name: String, input dtype: DType, fits: @escaping (ConvGeometry) -> Bool = { _ in true },
    prepare: BinaryConvWeights?, _ kernel: @escaping BinaryConvKernel
) -> KernelEntry {
    KernelEntry(
        name: name, dtype: dtype,
        matches: { op, g in if case .binaryConv2d = op, let g { return fits(g) } else { return false } },
        scratchCount: { g in (b1_conv_scratchByteCount(geometry: g!) + 3) / 4 },
        bind: { a in
            let g = a.geometry!
            let packedOutput = a.outputDType == .binary
            let (multipliers, biases) = packedOutput ? ([0], [0]) : a.binaryChannelConstants
            let thresholds = packedOutput ? a.binaryThresholds : [0]
            let padded = thresholds.count / 3
            let input: B1Input
            switch dtype {
            case .int8: input = .int8(a.i8(0), zeroPoint: a.inputZeroPoint)
            case .binary: input = .packed(a.inputs[0].assumingMemoryBound(to: UInt64.self))
            default: input = .float32(a.f32(0))
            }
            let words = a.inputs[1].assumingMemoryBound(to: UInt64.self)
            let prepared = prepare?(words, g)  // owned by the bound step
            return KernelWork(items: g.outputHeight) { rows, worker in
                multipliers.withUnsafeBufferPointer { m in
                    biases.withUnsafeBufferPointer { b in
                        thresholds.withUnsafeBufferPointer { t in
                            let output: B1Output
                            switch a.outputDType {
                            case .int8: output = .int8(a.i8Output, requantization: a.requantization)
                            case .binary:
                                let t = t.baseAddress!
                                output = .packed(
                                    a.output.assumingMemoryBound(to: UInt64.self),
                                    thresholds: B1Thresholds(direction: t, lower: t + padded, upper: t + 2 * padded))
                            default: output = .float32(a.f32Output, activation: a.activation)
                            }
                            let weights = prepared.map { UnsafePointer($0.base.assumingMemoryBound(to: UInt64.self)) }
                            kernel(
                                input, a.inputViews[0].pixelStride, g, weights ?? words, m.baseAddress!,
                                b.baseAddress!, output, a.outputView.pixelStride, rows,
                                UnsafeMutableRawPointer(a.scratch(worker: worker)))
                        }
                    }
                }
            }
        })
}

// x86: windows of at most 255 values (1x1 layers up to 255 input channels) take the AVX2 lookup tile
// (`b1_conv_2x64`), the rest the 4x8 one. The 4x8 tile's weights (`binaryTileWeights`): on x86 the nibble-split
// words in its channel order (`b1_conv_4x8_weights`), on NEON the binaryPacked64 words as they are.
#if arch(x86_64)
private let binaryLookupKernelTable: [KernelEntry] = [
    binaryConvEntry(
        "b1_conv_f32_2x64_avx2", input: .float32, fits: b1_conv_2x64_fits, prepare: b1_conv_2x64_weights,
        b1_conv_2x64),
    binaryConvEntry(
        "b1_conv_i8_2x64_avx2", input: .int8, fits: b1_conv_2x64_fits, prepare: b1_conv_2x64_weights, b1_conv_2x64),
    binaryConvEntry(
        "b1_conv_b1_2x64_avx2", input: .binary, fits: b1_conv_2x64_fits, prepare: b1_conv_2x64_weights,
        b1_conv_2x64),
]
private let binaryTileWeights: BinaryConvWeights? = b1_conv_4x8_weights
#else
private let binaryLookupKernelTable: [KernelEntry] = []
private let binaryTileWeights: BinaryConvWeights? = nil
#endif

public let binaryKernelTable: [KernelEntry] = binaryLookupKernelTable + [
    binaryConvEntry("b1_conv_f32_4x8", input: .float32, prepare: binaryTileWeights, b1_conv_4x8),
    binaryConvEntry("b1_conv_i8_4x8", input: .int8, prepare: binaryTileWeights, b1_conv_4x8),
    binaryConvEntry("b1_conv_b1_4x8", input: .binary, prepare: binaryTileWeights, b1_conv_4x8),
]
