/// The binary rows of the kernel table (BinaryConv2D, Kernels/Binary/BINARY.md), one per input dtype; the
/// output dtype is the output tensor's. Per-channel constants are laid out once, at load.

extension KernelArguments {
    /// multiplier[o] and bias[o] of a BinaryConv2D (inputs 2 and 3), divided by the output scale for an int8
    /// output (in Double, rounded once), zero padded to whole 8-channel blocks as the kernel reads them.
    var binaryChannelConstants: (multipliers: [Float], biases: [Float]) {
        let channels = outputView.channels
        let padded = (channels + binaryBlockChannels - 1) / binaryBlockChannels * binaryBlockChannels
        let scale = outputDType == .int8 ? Double(outputQuant.scales[0]) : 1
        var m = [Float](repeating: 0, count: padded), b = [Float](repeating: 0, count: padded)
        for o in 0..<channels {
            m[o] = Float(Double(f32(2)[o]) / scale)
            b[o] = Float(Double(f32(3)[o]) / scale)
        }
        return (m, b)
    }
}

private func binaryConvEntry(_ name: String, input dtype: DType) -> KernelEntry {
    KernelEntry(
        name: name, dtype: dtype,
        matches: { op, _ in if case .binaryConv2d = op { return true } else { return false } },
        scratchCount: { g in (b1_conv_scratchByteCount(geometry: g!) + 3) / 4 },
        bind: { a in
            let g = a.geometry!
            let (multipliers, biases) = a.binaryChannelConstants
            let input: B1Input = dtype == .int8 ? .int8(a.i8(0), zeroPoint: a.inputZeroPoint) : .float32(a.f32(0))
            let output: B1Output = a.outputDType == .int8
                ? .int8(a.i8Output, requantization: a.requantization)
                : .float32(a.f32Output, activation: a.activation)
            let weights = a.inputs[1].assumingMemoryBound(to: UInt64.self)
            return KernelWork(items: g.outputHeight) { rows, worker in
                multipliers.withUnsafeBufferPointer { m in
                    biases.withUnsafeBufferPointer { b in
                        b1_conv_4x8(
                            input: input, inputPixelStride: a.inputViews[0].pixelStride, geometry: g,
                            weights: weights, multipliers: m.baseAddress!, biases: b.baseAddress!, output: output,
                            outputPixelStride: a.outputView.pixelStride, outputRows: rows,
                            scratch: UnsafeMutableRawPointer(a.scratch(worker: worker)))
                    }
                }
            }
        })
}

public let binaryKernelTable: [KernelEntry] = [
    binaryConvEntry("b1_conv_f32_4x8", input: .float32),
    binaryConvEntry("b1_conv_i8_4x8", input: .int8),
]
