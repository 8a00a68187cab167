// Int8 weight layouts (the float ones are in WeightPacking.swift). Weights are symmetric int8 in [-127, 127]
// with one scale per output channel (Kernels/Int8/QUANTIZATION.md); the converter writes them in these layouts
// and the kernels read them in place.
//
// gemmI8C4 — int8 convolutions with groups == 1 (any kernel size, stride, padding) and fully connected layers.
//   Logical weight [Cout][K], K = KH*KW*Cin ordered (kh, kw, cin), i.e. OHWI flattened.
//   Stored as [ceil(Cout/16)][ceil(K/4)][16][4] bytes: block j holds output channels 16j ..< 16j+16; within a
//   block, row g holds k = 4g ..< 4g+4 of its 16 channels, channel-major: byte 4c + i of the row is
//   W[16j + c][4g + i]. Channels >= Cout and k >= K are zero. A row is 64 bytes, one cache line.
//   Why "c4" (XNNPACK's name): every ISA reduces a group of consecutive k per output lane.
//     - AVX2 without VNNI: 16 bytes of a row (4 channels x 4 k) sign-extend to 16 int16 (vpmovsxbw) and
//       vpmaddwd them with the 4 activations x[4g..<4g+4] repeated: 16 multiply-adds into 8 int32 lanes, two
//       per channel (k 0+1 and k 2+3), which the kernel adds once per tile. (A "c2" layout would give one lane
//       per channel but needs twice the activation broadcasts, and cannot feed sdot.)
//     - NEON: smull of 8 bytes (2 channels x 4 k) by the 4 activations repeated twice, then pairwise adds;
//       or ld4 deinterleaves a 32-byte half row into 4 vectors of 8 channels (one per k) for smlal by lane.
//     - NEON dot product (Armv8.2 dotprod: Cortex-A76 / Raspberry Pi 5): sdot consumes exactly 4 consecutive
//       k per int32 lane, so a 16-byte quarter row times the repeated activations is one sdot.
//   (What LLVM makes of the Swift kernel on each ISA: Int8/I8GEMM.swift.)
//   Blocks are independent: blocks j0 ..< j1 (weights + j0 * ceil(K/4) * 64, bias and multipliers + j0 * 16)
//   are the packed weights of output channels 16*j0 ..< min(16*j1, Cout), so a caller may split a layer by
//   output channels.
//   Per output channel, beside the weights: the folded int32 bias and the float multiplier
//   m[c] = s_x·s_w[c]/s_y, both [ceil(Cout/16)*16], zero padded (the biasPadded16 arrangement).
//   In the model file: `WeightLayout.gemmI8C4` ("i8c4", Model/FORMAT.md).
//
// Depthwise int8 weights use depthwiseHWC ([KH][KW][C] bytes) as the float ones do, with a plain int32 folded
// bias [C] and float multipliers [C].
// The rpi5 depthwise row (i8_dwconv_4x16c4_sdot) also packs, once when the plan binds it (load), its whole
// groups of 4 taps for sdot from those bytes: packDepthwiseI8C4 below; the model file keeps depthwiseHWC.

/// Output channels per block of the gemmI8C4 layout.
public let gemmI8BlockChannels = 16
/// Consecutive k per group of the gemmI8C4 layout.
public let gemmI8GroupSize = 4

/// Bytes of a gemmI8C4 weight of `outputChannels` x `reductionSize`.
public func gemmI8C4ByteCount(outputChannels: Int, reductionSize: Int) -> Int {
    (outputChannels + gemmI8BlockChannels - 1) / gemmI8BlockChannels * gemmI8BlockChannels
        * ((reductionSize + gemmI8GroupSize - 1) / gemmI8GroupSize * gemmI8GroupSize)
}

/// Index in a gemmI8C4 weight of W[o][k] (K = reductionSize).
@inline(always)
func gemmI8C4Index(o: Int, k: Int, reductionSize: Int) -> Int {
    let groups = (reductionSize + gemmI8GroupSize - 1) / gemmI8GroupSize
    let block = o / gemmI8BlockChannels, lane = o % gemmI8BlockChannels
    return ((block * groups + k / gemmI8GroupSize) * gemmI8BlockChannels + lane) * gemmI8GroupSize
        + k % gemmI8GroupSize
}

/// OHWI [outputChannels][reductionSize] -> gemmI8C4.
public func packGEMMI8C4(ohwi: [Int8], outputChannels: Int, reductionSize: Int) -> [Int8] {
    precondition(ohwi.count == outputChannels * reductionSize, "packGEMMI8C4: weight size mismatch")
    var packed = [Int8](
        repeating: 0, count: gemmI8C4ByteCount(outputChannels: outputChannels, reductionSize: reductionSize))
    for o in 0..<outputChannels {
        for k in 0..<reductionSize {
            packed[gemmI8C4Index(o: o, k: k, reductionSize: reductionSize)] = ohwi[o * reductionSize + k]
        }
    }
    return packed
}

/// gemmI8C4 -> OHWI [outputChannels][reductionSize] (the padding is dropped).
public func unpackGEMMI8C4(_ packed: [Int8], outputChannels: Int, reductionSize: Int) -> [Int8] {
    precondition(
        packed.count == gemmI8C4ByteCount(outputChannels: outputChannels, reductionSize: reductionSize),
        "unpackGEMMI8C4: weight size mismatch")
    var ohwi = [Int8](repeating: 0, count: outputChannels * reductionSize)
    for o in 0..<outputChannels {
        for k in 0..<reductionSize {
            ohwi[o * reductionSize + k] = packed[gemmI8C4Index(o: o, k: k, reductionSize: reductionSize)]
        }
    }
    return ohwi
}

/// The folded bias of QUANTIZATION.md: bias[o] − z_x·Σ_k W[o][k], for OHWI weights [outputChannels][K]
/// (depthwise: K = KH*KW taps per channel). Wrapping arithmetic, as in the kernels' accumulators.
public func foldI8Bias(bias: [Int32], ohwi: [Int8], outputChannels: Int, reductionSize: Int, inputZeroPoint: Int32)
    -> [Int32]
{
    precondition(bias.count == outputChannels && ohwi.count == outputChannels * reductionSize,
                 "foldI8Bias: size mismatch")
    return (0..<outputChannels).map { o in
        var sum: Int32 = 0
        for k in 0..<reductionSize { sum &+= Int32(ohwi[o * reductionSize + k]) }
        return bias[o] &- inputZeroPoint &* sum
    }
}

/// Depthwise OHWI [C][KH][KW] -> depthwiseHWC [KH][KW][C], int8 (the float packing is `packDepthwiseHWC`).
public func packDepthwiseHWCI8(ohwi: [Int8], channels: Int, kernelHeight: Int, kernelWidth: Int) -> [Int8] {
    let taps = kernelHeight * kernelWidth
    precondition(ohwi.count == channels * taps, "packDepthwiseHWCI8: weight size mismatch")
    var hwc = [Int8](repeating: 0, count: ohwi.count)
    for c in 0..<channels {
        for tap in 0..<taps { hwc[tap * channels + c] = ohwi[c * taps + tap] }
    }
    return hwc
}

/// depthwiseHWC int8 [taps][C] -> the sdot layout of the depthwise kernel's whole groups of 4 taps:
/// [taps / 4][C][4] bytes, byte (g·C + c)·4 + j = W[c][tap 4g + j], so the 16 bytes at channel c hold channels
/// c ..< c+4 x 4 taps, as one sdot takes them. The taps past the last whole group are not packed (the kernel
/// reads them from depthwiseHWC). Done once at load, from the model's weights.
public func packDepthwiseI8C4(hwc: UnsafePointer<Int8>, channels: Int, taps: Int) -> [Int8] {
    let groups = taps / 4
    var packed = [Int8](repeating: 0, count: groups * channels * 4)
    for g in 0..<groups {
        for c in 0..<channels {
            for j in 0..<4 { packed[(g * channels + c) * 4 + j] = hwc[(4 * g + j) * channels + c] }
        }
    }
    return packed
}
