// Binary weight layout (the float and int8 ones are in WeightPacking.swift and Int8WeightPacking.swift). The
// maths and the bit convention are in Kernels/Binary/BINARY.md.
//
// binaryPacked64 — binary convolutions (BinaryConv2D, groups 1, any kernel size, stride, padding, dilation).
//   Logical weight: the signs s[o][ky][kx][c] ∈ {−1, +1} of an OHWI [Cout][KH][KW][Cin] weight (dtype binary).
//   Input channels are packed 64 to a little-endian u64 word: bit b of word j of tap t is 1 iff
//   s[o][t][64j + b] = −1 (Larq Compute Engine's convention: bit 1 = −1, so XOR is 1 where the signs differ).
//   Bits of channels >= Cin are 0. A kernel row's taps follow each other, so the KW·ceil(Cin/64) words of one
//   kernel row match the packed input words of KW neighbouring pixels (BINARY.md).
//   Stored as u64 [ceil(Cout/8)][KH·KW·ceil(Cin/64)][8]: block j holds output channels 8j ..< 8j+8, and for
//   each word k their 8 words are contiguous (one 64-byte line: the two 4-word vectors of the microkernel's
//   tile); channels >= Cout are zero. Blocks are independent, as in the other GEMM layouts.
//   In the model file: `WeightLayout.binaryPacked64` ("b64c8", Model/FORMAT.md), dtype `binary`. The
//   per-channel multiplier α[o] (and everything folded into it) and the bias are plain float32 [Cout] tensors.

/// Output channels per block of the binaryPacked64 layout (the binary microkernel's tile width).
public let binaryBlockChannels = 8

/// u64 words that hold the signs of `channels` values.
public func binaryWordCount(_ channels: Int) -> Int { (channels + 63) / 64 }

/// Bytes of a binaryPacked64 weight of `outputChannels` x `taps` (KH·KW) x `inputChannels`.
public func binaryPacked64ByteCount(outputChannels: Int, taps: Int, inputChannels: Int) -> Int {
    (outputChannels + binaryBlockChannels - 1) / binaryBlockChannels * binaryBlockChannels * taps
        * binaryWordCount(inputChannels) * 8
}

/// The word of a binaryPacked64 weight holding s[o][tap][c], and the bit inside it.
@inline(always)
private func binaryPacked64Position(o: Int, tap: Int, c: Int, taps: Int, inputChannels: Int) -> (word: Int, bit: Int) {
    let words = binaryWordCount(inputChannels)
    let k = tap * words + c / 64
    let block = o / binaryBlockChannels, lane = o % binaryBlockChannels
    return (((block * taps * words) + k) * binaryBlockChannels + lane, c % 64)
}

/// OHWI signs [outputChannels][taps][inputChannels], each −1 or +1 -> binaryPacked64 words.
public func packBinaryWeights(signs: [Int8], outputChannels: Int, taps: Int, inputChannels: Int) -> [UInt64] {
    precondition(signs.count == outputChannels * taps * inputChannels, "packBinaryWeights: weight size mismatch")
    var packed = [UInt64](
        repeating: 0,
        count: binaryPacked64ByteCount(outputChannels: outputChannels, taps: taps, inputChannels: inputChannels) / 8)
    for o in 0..<outputChannels {
        for tap in 0..<taps {
            for c in 0..<inputChannels where signs[(o * taps + tap) * inputChannels + c] < 0 {
                let (word, bit) = binaryPacked64Position(o: o, tap: tap, c: c, taps: taps, inputChannels: inputChannels)
                packed[word] |= 1 << UInt64(bit)
            }
        }
    }
    return packed
}

/// binaryPacked64 words -> OHWI signs (−1 / +1); the padding is dropped.
public func unpackBinaryWeights(_ packed: [UInt64], outputChannels: Int, taps: Int, inputChannels: Int) -> [Int8] {
    precondition(
        packed.count * 8
            == binaryPacked64ByteCount(outputChannels: outputChannels, taps: taps, inputChannels: inputChannels),
        "unpackBinaryWeights: weight size mismatch")
    var signs = [Int8](repeating: 1, count: outputChannels * taps * inputChannels)
    for o in 0..<outputChannels {
        for tap in 0..<taps {
            for c in 0..<inputChannels {
                let (word, bit) = binaryPacked64Position(o: o, tap: tap, c: c, taps: taps, inputChannels: inputChannels)
                if packed[word] >> UInt64(bit) & 1 == 1 { signs[(o * taps + tap) * inputChannels + c] = -1 }
            }
        }
    }
    return signs
}
