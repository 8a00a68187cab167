// Float weight layouts. The converter writes weights into the model file in these layouts and the kernels read
// them in place, so a layout is part of the file format.
//
// gemmPacked16 — convolutions with groups == 1 (any kernel size, stride, padding) and fully connected layers.
//   Logical weight [Cout][K], K = KH*KW*Cin ordered (kh, kw, cin), i.e. OHWI flattened.
//   Stored as [ceil(Cout/16)][K][16] floats: block j holds output channels 16j ..< 16j+16, and for each k their
//   16 weights are contiguous, which is the one vector load per k of the GEMM microkernel; channels >= Cout
//   are zero. Bias: [ceil(Cout/16)*16] floats, zero padded.
//   Blocks are independent: blocks j0 ..< j1 (weights + j0*K*16, bias + j0*16) are the packed weights of the
//   output channels 16*j0 ..< min(16*j1, Cout), so a caller may split a layer by output channels.
//
// depthwiseHWC — depthwise convolutions (groups == Cin == Cout): [KH][KW][C] floats, no padding; bias [C].
//   The kernel vectorizes over channels, which this makes contiguous for each tap.
//
// groupedOHWI — other grouped convolutions: plain [Cout][KH][KW][Cin/groups] (ONNX's OIHW transposed); bias
//   [Cout]. The direct kernel reduces over Cin/groups, contiguous here.

/// Output channels per block of the gemmPacked16 layout (the microkernel's vector width).
public let gemmPackedBlockChannels = 16

/// Floats of a gemmPacked16 weight of `outputChannels` x `reductionSize`.
public func gemmPacked16Count(outputChannels: Int, reductionSize: Int) -> Int {
    (outputChannels + gemmPackedBlockChannels - 1) / gemmPackedBlockChannels * gemmPackedBlockChannels
        * reductionSize
}

/// OHWI [outputChannels][reductionSize] -> gemmPacked16.
public func packGEMM16(ohwi: [Float], outputChannels: Int, reductionSize: Int) -> [Float] {
    precondition(ohwi.count == outputChannels * reductionSize, "packGEMM16: weight size mismatch")
    var packed = [Float](
        repeating: 0, count: gemmPacked16Count(outputChannels: outputChannels, reductionSize: reductionSize))
    for o in 0..<outputChannels {
        let block = o / gemmPackedBlockChannels
        let lane = o % gemmPackedBlockChannels
        for k in 0..<reductionSize {
            packed[(block * reductionSize + k) * gemmPackedBlockChannels + lane] = ohwi[o * reductionSize + k]
        }
    }
    return packed
}

/// gemmPacked16 -> OHWI [outputChannels][reductionSize] (the padding channels are dropped).
public func unpackGEMM16(_ packed: [Float], outputChannels: Int, reductionSize: Int) -> [Float] {
    precondition(
        packed.count == gemmPacked16Count(outputChannels: outputChannels, reductionSize: reductionSize),
        "unpackGEMM16: weight size mismatch")
    var ohwi = [Float](repeating: 0, count: outputChannels * reductionSize)
    for o in 0..<outputChannels {
        let block = o / gemmPackedBlockChannels
        let lane = o % gemmPackedBlockChannels
        for k in 0..<reductionSize {
            ohwi[o * reductionSize + k] = packed[(block * reductionSize + k) * gemmPackedBlockChannels + lane]
        }
    }
    return ohwi
}

/// Bias [Cout] -> [ceil(Cout/16)*16], zero padded, the bias of a gemmPacked16 weight.
public func packBias16(_ bias: [Float]) -> [Float] {
    let padding = (gemmPackedBlockChannels - bias.count % gemmPackedBlockChannels) % gemmPackedBlockChannels
    return bias + [Float](repeating: 0, count: padding)
}

/// Depthwise OHWI [C][KH][KW][1] -> depthwiseHWC [KH][KW][C].
public func packDepthwiseHWC(ohwi: [Float], channels: Int, kernelHeight: Int, kernelWidth: Int) -> [Float] {
    let taps = kernelHeight * kernelWidth
    precondition(ohwi.count == channels * taps, "packDepthwiseHWC: weight size mismatch")
    var hwc = [Float](repeating: 0, count: ohwi.count)
    for c in 0..<channels {
        for tap in 0..<taps { hwc[tap * channels + c] = ohwi[c * taps + tap] }
    }
    return hwc
}
