import CEdgeQDot

// Binary (XNOR-Net) convolution: acc = Σ sign(x)·sign(w) over 64 channels at a time as XOR + popcount on
// bit-packed words, then a per-channel multiplier and bias (BINARY.md beside this file has the maths, the bit
// convention and the padding rule).
//
// A call first packs the input rows its output rows read into `scratch` (the "bit tensor"): per pixel, the sign
// bits (1 = negative) and the non-zero bits of its channels, 64 to a word, and its count of non-zero channels
// (a bit-packed input already has that format: its words are copied, or turned into the 2x64 tile's table
// numbers);
// rows and columns in the padding are all-zero pixels (count 0). Then for each output pixel
//   acc = n − 2·Σ popcount((a ^ w) & nz)
// where n is the window's count of non-zero, in-image values. When n = K = KH·KW·Cin (no padding tap, no exact
// zero in the window: almost every pixel) `& nz` changes nothing and is skipped: acc = K − 2·Σ popcount(a ^ w).
// Border pixels and windows holding exact zeros take the masked loop, which is exact with no correction table.
//
// Register tile: 4 output pixels (of one output row) x 8 output channels (a binaryPacked64 block), one word per
// step, the word of each pixel broadcast to a SIMD4<UInt64> against 2 weight vectors of 4 channels. NEON: XOR,
// then lane-wise `nonzeroBitCount` (cnt + uaddlp), added to 8 accumulators. AVX2 has no vector popcount (the
// AVX-512 one is not used), and LLVM's lowering of `nonzeroBitCount` costs 9 instructions per 4 words (XOR, the
// nibble split: and, shift, and; 2 vpshufb lookups, add, vpsadbw, add). The split depends only on the operands,
// and (a ^ w) & 0x0F = (a & 0x0F) ^ (w & 0x0F), likewise for the high nibbles: so the bit tensor stores each
// word as its low and high nibbles (`b1_nibbles`, once per input pixel) and the weights are split once, when
// the layer is bound (`b1_conv_4x8_weights`, a buffer of the bound step: the file format stays binaryPacked64).
// Per word and accumulator that leaves 2 XORs, 2 vpshufb (`edgeq_lookup16`, through
// CEdgeQDot: LLVM scalarized a Swift lane lookup) and 2 byte adds; the bytes hold the counts of up to 31 words
// (8 per word at most) and one vpsadbw per accumulator (`edgeq_sum_bytes8`) adds them up at the end of the
// tile, or every 31 words when the window is longer (`long`). 6 instead of 9 vector instructions per 4 words.
// Measured on this repository's 2-core AMD EPYC (AVX2 code, one thread; `edgeq microbench`, median ms): 3x3
// 28x28x128 -> 128 0.26, 0.255 with bit-packed input and output (was 0.33; int8 1.14, float 1.82). The tile's
// weights are in the channel order 0, 1, 4, 5, 2, 3, 6, 7 (`b1_conv_4x8_weights`) so that one vshufps orders a
// pixel's sums, and a bit-packed output gathers the sign bits of the tile's 4 pixels with one vpmovmskb
// (`edgeq_sign_bits32`). Packing by shifting sign bits (`>> 31`, `<< lane`,
// `wrappedSum()`) was partly scalarized by LLVM and took 40% of the 1x1 layer; compare + select + OR (below) is
// vector code. LLVM keeps 3 of the 8 byte accumulators on the stack in the loop (16 ymm registers: 8
// accumulators, 4 weight vectors, the table, the broadcasts); their adds read and write memory, no extra
// vector instruction.
// The sums are exact integers, so tiling, the 1..3-pixel remainder and any split of the rows between calls give
// the same bits. A bit-packed output re-binarizes acc by two integer thresholds per channel (BINARY.md,
// "Bit-packed activations"), written as one byte per 8-channel block and plane.
//
// Small windows on AVX2 (`b1_conv_2x64`, K = KH·KW·Cin ≤ 255: 1x1 layers): 2 words per output left the 4x8
// tile's setup, vpsadbw reductions and epilogue most of the 1x1 layer's time (0.226 ms with bit-packed input and
// output: about 0.09 in the popcount loop, 0.02 packing, the rest after it). Its tile of 2 pixels x 64 output
// channels has channels in its byte lanes: popcount((a ^ w) & z) of an input nibble a (signs) and z (non-zero
// bits) is a 16-entry table in w, so each pixel's nibble picks one of 256 tables (`b1LookupTables`) and one
// vpshufb of 32 channels' weight nibbles (`b1_conv_2x64_weights`, laid out once at load) gives 32 counts: 2
// vector instructions per 32 channel-nibbles instead of 3, zeros and padding for free, byte counters that need
// no reduction (≤ K ≤ 255), and each pixel's channels in lane order for the epilogue
// (`B1Store.store(counts:...)`; a bit-packed output's byte rule is 7 instructions for 32 channels,
// `B1PackedStore.lookupStore`). 1x1 56x56x128 -> 128 with
// bit-packed input and output: 0.118 ms (int8 0.57: 4.9x), float32 in and out 0.21, int8 0.245.

/// The input of a binary convolution: float32 values, int8 ones with their zero point (the sign of q − z), or
/// a bit-packed activation (BINARY.md, "Bit-packed activations"), whose pixel stride counts u64 words.
public enum B1Input {
    case float32(UnsafePointer<Float>)
    case int8(UnsafePointer<Int8>, zeroPoint: Int8)
    case packed(UnsafePointer<UInt64>)
}

/// Where a binary convolution writes: float32 with a fused activation, int8 requantized by the one rule of
/// QUANTIZATION.md (the multipliers and biases then already divided by the output scale), or a bit-packed
/// activation re-binarized by per-channel thresholds on the exact sum (the multipliers and biases unread; the
/// pixel stride counts u64 words).
public enum B1Output {
    case float32(UnsafeMutablePointer<Float>, activation: Activation)
    case int8(UnsafeMutablePointer<Int8>, requantization: I8Requantization)
    case packed(UnsafeMutablePointer<UInt64>, thresholds: B1Thresholds)
}

/// Per output channel o, how a bit-packed output re-binarizes the exact sum acc (BINARY.md): with
/// v = direction[o]·acc, the output is −1 where v < lower[o], +1 where v > upper[o], 0 otherwise
/// (direction ±1, lower ≤ upper + 1). Each array holds the channels zero padded to a multiple of 8.
public struct B1Thresholds {
    public let direction: UnsafePointer<Int32>
    public let lower: UnsafePointer<Int32>
    public let upper: UnsafePointer<Int32>

    public init(direction: UnsafePointer<Int32>, lower: UnsafePointer<Int32>, upper: UnsafePointer<Int32>) {
        self.direction = direction
        self.lower = lower
        self.upper = upper
    }
}

/// The thresholds (`B1Thresholds`, one channel) that reproduce `sign(acc)` exactly for every acc in
/// −reduction...reduction, where `sign` is the sign (−1, 0, +1) that the consumer of a float32 or int8 output
/// would take, computed with the very arithmetic of that output (BINARY.md). nil when `sign` is neither
/// non-decreasing nor non-increasing in acc (a hard-swish, say): no two thresholds express it.
public func b1_output_thresholds(reduction k: Int, sign: (Int32) -> Int32)
    -> (direction: Int32, lower: Int32, upper: Int32)?
{
    let k = Int32(k)
    for direction: Int32 in [1, -1] {
        // v = direction·acc ascending: the signs must not decrease; then the −1s are a prefix, the +1s a suffix.
        var lower = k + 1, upper = -k - 1, previous: Int32 = -1, monotone = true
        for v in -k...k {
            let s = sign(direction * v)
            if s < previous { monotone = false; break }
            previous = s
            if s >= 0 && lower == k + 1 { lower = v }
            if s <= 0 { upper = v }
        }
        if monotone { return (direction, lower, upper) }
    }
    return nil
}

/// Output pixels per register tile.
let b1TilePixels = 4

#if arch(x86_64)
/// u64s per word in the bit tensor and in the kernel's weights: AVX2 keeps each word as its low nibbles and its
/// high nibbles (`b1_nibbles`), the vpshufb indices, so that the tile's lookup needs no shift and no mask.
let b1WordUnits = 2
/// Words the tile's byte counters hold: a byte gains at most 8 per word (4 + 4 from two nibble lookups).
let b1FlushWords = 31
#else
let b1WordUnits = 1
let b1FlushWords = Int.max
#endif

/// The bit tensor of one call in `scratch`: the input rows its output rows read, with the padding, as
/// `rows` x `width` pixels. On x86 the 2x64 tile's per-channel constants first (`b1_storeBytes`), then words
/// (8-byte aligned at the scratch's 64-byte alignment), then counts.
struct B1Bits {
    let words: Int             // words per pixel and plane: ceil(Cin/64)
    let units: Int             // u64s per pixel and plane: words·b1WordUnits
    let width: Int             // pixels per row: (Wout − 1)·sw + (KW − 1)·dw + 1
    let signs: UnsafeMutablePointer<UInt64>
    let nonzero: UnsafeMutablePointer<UInt64>
    let counts: UnsafeMutablePointer<Int32>        // non-zero channels per pixel
    let windowCounts: UnsafeMutablePointer<Int32>  // n of each output pixel of the current row

    /// Input rows, padding included, that all output rows of `g` read.
    static func maximumRows(_ g: ConvGeometry) -> Int {
        (g.outputHeight - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1
    }

    static func width(_ g: ConvGeometry) -> Int {
        (g.outputWidth - 1) * g.strideWidth + (g.kernelWidth - 1) * g.dilationWidth + 1
    }

    static func byteCount(_ g: ConvGeometry) -> Int {
        let pixels = maximumRows(g) * width(g)
        return b1_storeBytes(g) + pixels * binaryWordCount(g.inputChannels) * b1WordUnits * 16 + pixels * 4
            + g.outputWidth * 4
    }

    init(_ g: ConvGeometry, scratch: UnsafeMutableRawPointer) {
        words = binaryWordCount(g.inputChannels)
        units = words * b1WordUnits
        width = B1Bits.width(g)
        let pixels = B1Bits.maximumRows(g) * width
        signs = scratch.assumingMemoryBound(to: UInt64.self) + b1_storeBytes(g) / 8
        nonzero = signs + pixels * units
        counts = UnsafeMutableRawPointer(nonzero + pixels * units).assumingMemoryBound(to: Int32.self)
        windowCounts = counts + pixels
    }
}

/// Bytes of `scratch` that `b1_conv_4x8` needs for `geometry`.
public func b1_conv_scratchByteCount(geometry: ConvGeometry) -> Int { B1Bits.byteCount(geometry) }

/// Which of 8 input values are negative and which non-zero (ONNX Sign: x < 0 → −1, x == 0 → 0, else +1;
/// NaN compares as neither negative nor zero, so it counts as +1).
typealias B1Masks = (negative: SIMDMask<SIMD8<Int32>>, nonzero: SIMDMask<SIMD8<Int32>>)

/// The input of the kernel, turned into one pixel's bits of the bit tensor.
protocol B1Source {
    /// Writes the `words` sign and non-zero words of input pixel `pixel` (channel bits ≥ `channels` 0);
    /// returns its count of non-zero channels.
    func pack(pixel: Int, channels: Int, words: Int, signs: UnsafeMutablePointer<UInt64>,
              nonzero: UnsafeMutablePointer<UInt64>) -> Int32
    #if arch(x86_64)
    /// The same pixel as the 2x64 tile reads it: its table numbers (`b1_lookupIndices`) in `signs`, `nonzero`
    /// free for the words in between; returns its count of non-zero channels.
    func packIndices(pixel: Int, channels: Int, words: Int, signs: UnsafeMutablePointer<UInt64>,
                     nonzero: UnsafeMutablePointer<UInt64>) -> Int32
    #endif
}

#if arch(x86_64)
extension B1Source {
    @inline(always)
    func packIndices(pixel: Int, channels: Int, words: Int, signs: UnsafeMutablePointer<UInt64>,
                     nonzero: UnsafeMutablePointer<UInt64>) -> Int32 {
        let count = pack(pixel: pixel, channels: channels, words: words, signs: signs, nonzero: nonzero)
        b1_lookupIndices(signs, nonzero, words: words)
        return count
    }
}
#endif

/// An input already bit-packed in the bit tensor's own per-pixel format: the pack step is a copy and a count.
struct B1PackedSource: B1Source {
    let input: UnsafePointer<UInt64>
    let pixelStride: Int

    @inline(always)
    func pack(pixel: Int, channels: Int, words: Int, signs: UnsafeMutablePointer<UInt64>,
              nonzero: UnsafeMutablePointer<UInt64>) -> Int32 {
        let p = input + pixel * pixelStride
        var count = 0
        for j in 0..<words {
            signs[j] = p[j]
            nonzero[j] = p[words + j]
            count += p[words + j].nonzeroBitCount
        }
        return Int32(count)
    }

    #if arch(x86_64)
    /// Straight from the input's words: no copy in between.
    @inline(always)
    func packIndices(pixel: Int, channels: Int, words: Int, signs: UnsafeMutablePointer<UInt64>,
                     nonzero: UnsafeMutablePointer<UInt64>) -> Int32 {
        let p = input + pixel &* pixelStride
        var count = 0
        for j in 0..<words {
            (signs[2 &* j], signs[2 &* j &+ 1]) = b1_lookupIndex(p[j], p[words &+ j])
            count &+= p[words &+ j].nonzeroBitCount
        }
        return Int32(truncatingIfNeeded: count)
    }
    #endif
}

/// An activation the kernel binarizes 8 values at a time: float32 values, or int8 ones compared with their
/// zero point.
protocol B1MaskSource: B1Source {
    /// Channels `channel ..< channel + 8` of input pixel `pixel`.
    func masks(pixel: Int, channel: Int) -> B1Masks
    /// Channels `channel ..< channel + count` (count < 8), lanes beyond false: nothing past them is read.
    func masks(pixel: Int, channel: Int, count: Int) -> B1Masks
}

struct B1FloatSource: B1MaskSource {
    let input: UnsafePointer<Float>
    let pixelStride: Int

    @inline(always)
    func masks(pixel: Int, channel: Int) -> B1Masks {
        let x = SIMD8<Float>(loading: input + pixel * pixelStride + channel)
        return (x .< 0, x .!= 0)
    }

    @inline(always)
    func masks(pixel: Int, channel: Int, count: Int) -> B1Masks {
        let x = SIMD8<Float>(loading: input + pixel * pixelStride + channel, count: count)
        return (x .< 0, x .!= 0)
    }
}

struct B1Int8Source: B1MaskSource {
    let input: UnsafePointer<Int8>
    let pixelStride: Int
    let zeroPoint: Int8

    @inline(always)
    func masks(pixel: Int, channel: Int) -> B1Masks {
        let v = UnsafeRawPointer(input + pixel * pixelStride + channel).loadUnaligned(as: SIMD8<Int8>.self)
        var q = SIMD8<Int32>()
        for i in 0..<8 { q[i] = Int32(v[i]) }
        let z = SIMD8<Int32>(repeating: Int32(zeroPoint))
        return (q .< z, q .!= z)
    }

    @inline(always)
    func masks(pixel: Int, channel: Int, count: Int) -> B1Masks {
        let p = input + pixel * pixelStride + channel
        let z = SIMD8<Int32>(repeating: Int32(zeroPoint))
        var q = z
        for i in 0..<count { q[i] = Int32(p[i]) }
        return (q .< z, q .!= z)
    }
}

/// Sign bits (1 = negative) and non-zero bits of 32 values: lane i of mask v goes to bit 8v + i. Compare,
/// AND with the lanes' bits, OR (vcmpps + vandps + vorps on AVX2), then the 8 lanes ORed by halving. LLVM
/// partly scalarized the same bits computed by shifting sign bits (`>> 31`, `<< lane`) or by lane loops.
@inline(always)
private func b1_bits32(_ m0: B1Masks, _ m1: B1Masks, _ m2: B1Masks, _ m3: B1Masks)
    -> (signs: UInt32, nonzero: UInt32)
{
    let lanes = SIMD8<UInt32>(1, 2, 4, 8, 16, 32, 64, 128)
    var signs = SIMD8<UInt32>(), nonzero = SIMD8<UInt32>()
    @inline(always)
    func add(_ m: B1Masks, _ shift: UInt32) {
        let bits = lanes &<< shift
        signs |= SIMD8<UInt32>().replacing(with: bits, where: m.negative)
        nonzero |= SIMD8<UInt32>().replacing(with: bits, where: m.nonzero)
    }
    add(m0, 0)
    add(m1, 8)
    add(m2, 16)
    add(m3, 24)
    @inline(always)
    func or(_ x: SIMD8<UInt32>) -> UInt32 {
        let four = x.lowHalf | x.highHalf
        let two = four.lowHalf | four.highHalf
        return two[0] | two[1]
    }
    return (or(signs), or(nonzero))
}

extension B1MaskSource {
    @inline(always)
    func pack(pixel: Int, channels cin: Int, words: Int, signs s: UnsafeMutablePointer<UInt64>,
              nonzero n: UnsafeMutablePointer<UInt64>) -> Int32 {
        let fullWords = cin / 64
        var count = 0
        for j in 0..<fullWords {
            let c = 64 * j
            let low = b1_bits32(
                masks(pixel: pixel, channel: c), masks(pixel: pixel, channel: c + 8),
                masks(pixel: pixel, channel: c + 16), masks(pixel: pixel, channel: c + 24))
            let high = b1_bits32(
                masks(pixel: pixel, channel: c + 32), masks(pixel: pixel, channel: c + 40),
                masks(pixel: pixel, channel: c + 48), masks(pixel: pixel, channel: c + 56))
            s[j] = UInt64(low.signs) | UInt64(high.signs) << 32
            n[j] = UInt64(low.nonzero) | UInt64(high.nonzero) << 32
            count += n[j].nonzeroBitCount
        }
        if fullWords < words {  // the last, partial word: 8 channels at a time, zero beyond cin
            var signWord: UInt64 = 0, nonzeroWord: UInt64 = 0
            for half in 0..<2 {
                let c = 64 * fullWords + 32 * half
                guard c < cin else { break }
                func laneMasks(_ i: Int) -> B1Masks {
                    let first = c + 8 * i
                    return first + 8 <= cin
                        ? masks(pixel: pixel, channel: first)
                        : masks(pixel: pixel, channel: first, count: max(cin - first, 0))
                }
                let bits = b1_bits32(laneMasks(0), laneMasks(1), laneMasks(2), laneMasks(3))
                signWord |= UInt64(bits.signs) << UInt64(32 * half)
                nonzeroWord |= UInt64(bits.nonzero) << UInt64(32 * half)
            }
            (s[fullWords], n[fullWords]) = (signWord, nonzeroWord)
            count += nonzeroWord.nonzeroBitCount
        }
        return Int32(count)
    }
}

extension B1Bits {
    /// Packs the input rows that output rows `outputRows` read: buffer row 0 is input row
    /// outputRows.lowerBound·sh − padTop, buffer column 0 input column −padLeft; pixels outside the input
    /// are zero (signs 0, non-zero bits 0, count 0).
    @inline(always)
    func pack<S: B1Source>(_ source: S, _ g: ConvGeometry, outputRows: Range<Int>, lookup: Bool) {
        let rows = (outputRows.count - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1
        let firstRow = outputRows.lowerBound * g.strideHeight - g.padTop
        for row in 0..<rows {
            let iy = firstRow + row
            for column in 0..<width {
                let ix = column - g.padLeft
                let pixel = row * width + column
                let s = signs + pixel * units, n = nonzero + pixel * units
                guard iy >= 0, iy < g.inputHeight, ix >= 0, ix < g.inputWidth else {
                    for j in 0..<units { (s[j], n[j]) = (0, 0) }
                    counts[pixel] = 0
                    continue
                }
                #if arch(x86_64)
                if lookup {
                    counts[pixel] = source.packIndices(
                        pixel: iy * g.inputWidth + ix, channels: g.inputChannels, words: words, signs: s, nonzero: n)
                    continue
                }
                #endif
                counts[pixel] = source.pack(
                    pixel: iy * g.inputWidth + ix, channels: g.inputChannels, words: words, signs: s, nonzero: n)
                #if arch(x86_64)
                b1_nibbles(s, words: words)
                b1_nibbles(n, words: words)
                #endif
            }
        }
    }
}

#if arch(x86_64)
/// u64s of the 4x8 tile's weights: the binaryPacked64 words as `b1_nibbles` pairs (`b1_conv_4x8_weights`).
func b1_weightUnits(_ g: ConvGeometry) -> Int {
    binaryPacked64ByteCount(
        outputChannels: g.outputChannels, taps: g.kernelHeight * g.kernelWidth,
        inputChannels: g.inputChannels) / 8 * b1WordUnits
}

/// Rewrites `words` words in place as (low nibbles, high nibbles) pairs: word j becomes u64s 2j and 2j + 1,
/// each byte's nibble in its low 4 bits (a vpshufb index).
@inline(always)
func b1_nibbles(_ x: UnsafeMutablePointer<UInt64>, words: Int) {
    for j in (0..<words).reversed() {
        let v = x[j]
        (x[2 * j], x[2 * j + 1]) = (v & 0x0F0F_0F0F_0F0F_0F0F, (v >> 4) & 0x0F0F_0F0F_0F0F_0F0F)
    }
}

/// The `weights` argument of `b1_conv_4x8` on x86, made once when the layer is bound (load) from its
/// binaryPacked64 words: per block and word, the 8 channels' low nibbles, then their high nibbles, each in the
/// order 0, 1, 4, 5, 2, 3, 6, 7 (channel c at slot c with bits 1 and 2 swapped): the tile's first vector holds
/// channels 0, 1, 4, 5 and its second 2, 3, 6, 7, so that one vshufps of a pixel's two vpsadbw results gives its
/// 8 sums in channel order (`B1Tile4x8.sums`). u64s in a 64-byte aligned buffer for the bound step to own.
/// Elsewhere the kernel reads the binaryPacked64 words as they are.
public func b1_conv_4x8_weights(_ weights: UnsafePointer<UInt64>, geometry g: ConvGeometry) -> AlignedBuffer {
    let units = b1_weightUnits(g), buffer = AlignedBuffer(count: units * 8)
    let w = buffer.base.bindMemory(to: UInt64.self, capacity: units)
    for i in 0..<units / 16 {
        for c in 0..<binaryBlockChannels {
            let v = weights[8 * i + c], slot = c & 1 | (c & 2) << 1 | (c & 4) >> 1
            w[16 * i + slot] = v & 0x0F0F_0F0F_0F0F_0F0F
            w[16 * i + 8 + slot] = (v >> 4) & 0x0F0F_0F0F_0F0F_0F0F
        }
    }
    return buffer
}

/// Bytes of `scratch` before the bit tensor: the 2x64 tile's per-channel constants of a bit-packed output
/// (`lookupStore`: int16 thresholds and the byte rule's bytes, 10 per channel).
func b1_storeBytes(_ g: ConvGeometry) -> Int { 10 * b1_lookupChannels(g) }

/// Output channels of the 2x64 tile's weight rows: Cout rounded up to its 64.
func b1_lookupChannels(_ g: ConvGeometry) -> Int { (g.outputChannels + 63) / 64 * 64 }

/// Nibble steps of a window in the 2x64 tile: 16 per word and tap.
func b1LookupSteps(_ g: ConvGeometry) -> Int { g.kernelHeight * g.kernelWidth * binaryWordCount(g.inputChannels) * 16 }

/// Rewrites a pixel's sign words in place as the 2x64 tile's table numbers, from its sign words (a) and non-zero
/// words (z): word j becomes u64s 2j (byte b: the low nibbles of byte b of a and z, as a | z << 4) and 2j + 1
/// (the high nibbles): 16 steps per word, low nibbles first.
@inline(always)
func b1_lookupIndices(_ s: UnsafeMutablePointer<UInt64>, _ n: UnsafePointer<UInt64>, words: Int) {
    for j in (0..<words).reversed() { (s[2 * j], s[2 * j + 1]) = b1_lookupIndex(s[j], n[j]) }
}

/// One word's 16 table numbers: (low nibbles, high nibbles) of sign word a and non-zero word z.
@inline(always)
func b1_lookupIndex(_ a: UInt64, _ z: UInt64) -> (UInt64, UInt64) {
    let low: UInt64 = 0x0F0F_0F0F_0F0F_0F0F
    return (a & low | (z & low) << 4, (a >> 4) & low | z & ~low)
}

/// The `weights` argument of `b1_conv_2x64`, made once when the layer is bound (load) from its binaryPacked64
/// words: for each step of the window (tap, word, then the word's 16 nibbles in `b1_lookupIndices` order) a row
/// of `b1_lookupChannels` bytes, channel o's weight nibble (the vpshufb index), channels ≥ Cout 0. A 64-byte
/// aligned buffer (bound to u64, as the kernel's argument is typed) for the bound step to own.
public func b1_conv_2x64_weights(_ weights: UnsafePointer<UInt64>, geometry g: ConvGeometry) -> AlignedBuffer {
    let words = g.kernelHeight * g.kernelWidth * binaryWordCount(g.inputChannels)
    let channels = b1_lookupChannels(g), buffer = AlignedBuffer(count: b1LookupSteps(g) * channels)
    let w = UnsafeMutableRawPointer(buffer.base.bindMemory(to: UInt64.self, capacity: buffer.count / 8))
    for o in 0..<g.outputChannels {
        let block = weights + o / binaryBlockChannels * words * binaryBlockChannels + o % binaryBlockChannels
        for k in 0..<words {
            let v = block[k * binaryBlockChannels]
            for b in 0..<8 {
                w.storeBytes(
                    of: UInt8(truncatingIfNeeded: v >> UInt64(8 * b)) & 0x0F, toByteOffset: (16 * k + b) * channels + o,
                    as: UInt8.self)
                w.storeBytes(
                    of: UInt8(truncatingIfNeeded: v >> UInt64(8 * b + 4)) & 0x0F,
                    toByteOffset: (16 * k + 8 + b) * channels + o, as: UInt8.self)
            }
        }
    }
    return buffer
}

/// The 2x64 tile's lookup tables, 16 bytes each: table a | z << 4 (a, z nibbles) holds popcount((a ^ i) & z)
/// at entry i.
let b1LookupTables: [UInt8] = (0..<4096).map { (t: Int) -> UInt8 in
    let a = (t >> 4) & 15, z = t >> 8, i = t & 15
    return UInt8(((a ^ i) & z).nonzeroBitCount)
}

/// The 4x8 tile's popcount sums: `c[p][0]` holds output channels 0, 1, 4, 5 of pixel p, `c[p][1]` channels
/// 2, 3, 6, 7 (`b1_conv_4x8_weights`), `b[p][h]` the same counts in bytes (8 bytes per channel) since the last
/// `flush`. Per word and accumulator: two XORs of a broadcast nibble word with the weights' nibbles, two vpshufb
/// lookups, two byte adds; one vpsadbw per accumulator and flush.
private struct B1Tile4x8 {
    var c00 = SIMD4<UInt64>(), c01 = SIMD4<UInt64>(), c10 = SIMD4<UInt64>(), c11 = SIMD4<UInt64>()
    var c20 = SIMD4<UInt64>(), c21 = SIMD4<UInt64>(), c30 = SIMD4<UInt64>(), c31 = SIMD4<UInt64>()
    var b00 = SIMD32<UInt8>(), b01 = SIMD32<UInt8>(), b10 = SIMD32<UInt8>(), b11 = SIMD32<UInt8>()
    var b20 = SIMD32<UInt8>(), b21 = SIMD32<UInt8>(), b30 = SIMD32<UInt8>(), b31 = SIMD32<UInt8>()

    /// One word: `w` the block's 16 weight nibble words, s0...s3 the pixels' sign nibble pairs, n0...n3 their
    /// non-zero ones (read only when `masked`, a constant at each inlined call).
    @inline(always)
    mutating func accumulate(
        masked: Bool, w: UnsafePointer<UInt64>, _ s0: UnsafePointer<UInt64>, _ s1: UnsafePointer<UInt64>,
        _ s2: UnsafePointer<UInt64>, _ s3: UnsafePointer<UInt64>, _ n0: UnsafePointer<UInt64>,
        _ n1: UnsafePointer<UInt64>, _ n2: UnsafePointer<UInt64>, _ n3: UnsafePointer<UInt64>
    ) {
        @inline(always)
        func load(_ i: Int) -> SIMD4<UInt64> { UnsafeRawPointer(w + 4 * i).loadUnaligned(as: SIMD4<UInt64>.self) }
        let low0 = load(0), low1 = load(1), high0 = load(2), high1 = load(3)
        // The popcount of each nibble (a literal here: a global constant costs a swift_once call per tile).
        let counts = SIMD32<UInt8>(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4)
        @inline(always)
        func count(_ s: UnsafePointer<UInt64>, _ n: UnsafePointer<UInt64>, _ low: SIMD4<UInt64>,
                   _ high: SIMD4<UInt64>) -> SIMD32<UInt8> {
            var l = SIMD4(repeating: s[0]) ^ low, h = SIMD4(repeating: s[1]) ^ high
            if masked { (l, h) = (l & SIMD4(repeating: n[0]), h & SIMD4(repeating: n[1])) }
            return edgeq_lookup16(counts, unsafeBitCast(l, to: SIMD32<UInt8>.self))
                &+ edgeq_lookup16(counts, unsafeBitCast(h, to: SIMD32<UInt8>.self))
        }
        b00 &+= count(s0, n0, low0, high0); b01 &+= count(s0, n0, low1, high1)
        b10 &+= count(s1, n1, low0, high0); b11 &+= count(s1, n1, low1, high1)
        b20 &+= count(s2, n2, low0, high0); b21 &+= count(s2, n2, low1, high1)
        b30 &+= count(s3, n3, low0, high0); b31 &+= count(s3, n3, low1, high1)
    }

    /// Adds the byte counts to the sums and clears them: at most every `b1FlushWords` words.
    @inline(always)
    mutating func flush() {
        c00 &+= edgeq_sum_bytes8(b00); c01 &+= edgeq_sum_bytes8(b01)
        c10 &+= edgeq_sum_bytes8(b10); c11 &+= edgeq_sum_bytes8(b11)
        c20 &+= edgeq_sum_bytes8(b20); c21 &+= edgeq_sum_bytes8(b21)
        c30 &+= edgeq_sum_bytes8(b30); c31 &+= edgeq_sum_bytes8(b31)
        b00 = SIMD32(); b01 = SIMD32(); b10 = SIMD32(); b11 = SIMD32()
        b20 = SIMD32(); b21 = SIMD32(); b30 = SIMD32(); b31 = SIMD32()
    }

    /// A pixel's 8 sums in channel order from its two vectors: lanes 0, 1 of each 128-bit half of `a`, then of
    /// `b` (one vshufps).
    @inline(always)
    static func lanes(_ a: SIMD4<UInt64>, _ b: SIMD4<UInt64>) -> SIMD8<Int32> {
        let x = unsafeBitCast(a, to: SIMD8<Int32>.self), y = unsafeBitCast(b, to: SIMD8<Int32>.self)
        return SIMD8(x[0], x[2], y[0], y[2], x[4], x[6], y[4], y[6])
    }
}
#else
func b1_weightUnits(_ g: ConvGeometry) -> Int { 0 }
func b1_storeBytes(_ g: ConvGeometry) -> Int { 0 }

/// The 4x8 tile's popcount sums: `c[p][h]` holds output channels 4h ..< 4h+4 of pixel p.
private struct B1Tile4x8 {
    var c00 = SIMD4<UInt64>(), c01 = SIMD4<UInt64>(), c10 = SIMD4<UInt64>(), c11 = SIMD4<UInt64>()
    var c20 = SIMD4<UInt64>(), c21 = SIMD4<UInt64>(), c30 = SIMD4<UInt64>(), c31 = SIMD4<UInt64>()

    /// One word: `w` the block's 8 weight words, s0...s3 the pixels' sign words, n0...n3 their non-zero words
    /// (read only when `masked`, a constant at each inlined call).
    @inline(always)
    mutating func accumulate(
        masked: Bool, w: UnsafePointer<UInt64>, _ s0: UnsafePointer<UInt64>, _ s1: UnsafePointer<UInt64>,
        _ s2: UnsafePointer<UInt64>, _ s3: UnsafePointer<UInt64>, _ n0: UnsafePointer<UInt64>,
        _ n1: UnsafePointer<UInt64>, _ n2: UnsafePointer<UInt64>, _ n3: UnsafePointer<UInt64>
    ) {
        let w0 = UnsafeRawPointer(w).loadUnaligned(as: SIMD4<UInt64>.self)
        let w1 = UnsafeRawPointer(w + 4).loadUnaligned(as: SIMD4<UInt64>.self)
        @inline(always)
        func count(_ s: UnsafePointer<UInt64>, _ n: UnsafePointer<UInt64>, _ w: SIMD4<UInt64>) -> SIMD4<UInt64> {
            let x = SIMD4(repeating: s[0]) ^ w
            return (masked ? x & SIMD4(repeating: n[0]) : x).nonzeroBitCount
        }
        c00 &+= count(s0, n0, w0); c01 &+= count(s0, n0, w1)
        c10 &+= count(s1, n1, w0); c11 &+= count(s1, n1, w1)
        c20 &+= count(s2, n2, w0); c21 &+= count(s2, n2, w1)
        c30 &+= count(s3, n3, w0); c31 &+= count(s3, n3, w1)
    }

    /// The sums are kept in their lanes: nothing to add.
    @inline(always)
    mutating func flush() {}

    /// A pixel's 8 sums in channel order from its two vectors.
    @inline(always)
    static func lanes(_ a: SIMD4<UInt64>, _ b: SIMD4<UInt64>) -> SIMD8<Int32> {
        SIMD8(lowHalf: SIMD4(truncatingIfNeeded: a), highHalf: SIMD4(truncatingIfNeeded: b))
    }
}

#endif

/// The exact sums of a tile's 4 pixels, 8 output channels each, in channel order.
typealias B1Sums = (SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>)

extension B1Tile4x8 {
    /// n − 2·popcount of each pixel, `n` its window's count of non-zero, in-image values.
    @inline(always)
    func sums(n: SIMD4<Int32>) -> B1Sums {
        @inline(always)
        func dot(_ a: SIMD4<UInt64>, _ b: SIMD4<UInt64>, _ n: Int32) -> SIMD8<Int32> {
            SIMD8(repeating: n) &- B1Tile4x8.lanes(a, b) &<< 1
        }
        return (dot(c00, c01, n[0]), dot(c10, c11, n[1]), dot(c20, c21, n[2]), dot(c30, c31, n[3]))
    }
}

/// The popcount sums of up to 4 output pixels whose windows start at buffer word offsets o0...o3, over the
/// KH·KW·words words of one weight block. A kernel row's taps are one run of KW·words consecutive words with
/// dilation 1 (neighbouring pixels), else KW runs of `words`.
@inline(always)
private func b1_tile(
    masked: Bool, long: Bool, _ bits: B1Bits, _ g: ConvGeometry, w: UnsafePointer<UInt64>,
    _ o0: Int, _ o1: Int, _ o2: Int, _ o3: Int
) -> B1Tile4x8 {
    let runs = g.dilationWidth == 1 ? 1 : g.kernelWidth
    let runLength = g.dilationWidth == 1 ? g.kernelWidth * bits.words : bits.words
    let runStep = g.dilationWidth * bits.units
    let rowStep = g.dilationHeight * bits.width * bits.units
    var t = B1Tile4x8()
    var w = w
    var rowOffset = 0
    var pending = 0  // words since the last flush
    for _ in 0..<g.kernelHeight {
        var offset = rowOffset
        for _ in 0..<runs {
            var s0 = bits.signs + o0 + offset, s1 = bits.signs + o1 + offset
            var s2 = bits.signs + o2 + offset, s3 = bits.signs + o3 + offset
            var n0 = bits.nonzero + o0 + offset, n1 = bits.nonzero + o1 + offset
            var n2 = bits.nonzero + o2 + offset, n3 = bits.nonzero + o3 + offset
            var left = runLength
            while left > 0 {
                let count = long ? min(left, b1FlushWords - pending) : left
                for _ in 0..<count {
                    t.accumulate(masked: masked, w: w, s0, s1, s2, s3, n0, n1, n2, n3)
                    w += binaryBlockChannels * b1WordUnits
                    s0 += b1WordUnits; s1 += b1WordUnits; s2 += b1WordUnits; s3 += b1WordUnits
                    n0 += b1WordUnits; n1 += b1WordUnits; n2 += b1WordUnits; n3 += b1WordUnits
                }
                left -= count
                if long {
                    pending += count
                    if pending == b1FlushWords { t.flush(); pending = 0 }
                }
            }
            offset += runStep
        }
        rowOffset += rowStep
    }
    t.flush()
    return t
}

/// Writes a tile's results.
protocol B1Store {
    /// `acc`: the integer sums of pixels first ..< first + 4. Writes `columns` channels from `channel` (a multiple
    /// of 8) of the first `pixels` of them.
    func store(_ acc: B1Sums, first: Int, pixels: Int, channel: Int, columns: Int)
    #if arch(x86_64)
    /// The 2x64 tile's results: `p`, `q` the popcounts (bytes) of channels `channel ..< channel + 32` (a multiple
    /// of 32) of pixels first and first + 1, `n` their windows' counts of non-zero values. Writes `columns`
    /// channels of pixel first, and of pixel first + 1 when `pixels` > 1.
    func store(counts p: SIMD32<UInt8>, _ q: SIMD32<UInt8>, n: SIMD2<Int32>, first: Int, pixels: Int, channel: Int,
               columns: Int)
    /// The store for those calls, given `b1_lookupChannels` · 10 bytes of scratch for per-channel constants.
    func lookupStore(_ g: ConvGeometry, scratch: UnsafeMutableRawPointer) -> Self
    #endif
}

/// A float32 or int8 output, written two pixels at a time: output channels in lanes 0..<8 (pixel p) and 8..<16
/// (pixel q), the 16 float lanes of two AVX2 registers.
protocol B1PairStore: B1Store {
    /// `acc`: the integer sums of pixels p and q. Writes `columns` channels from `channel` (a multiple of 8) of
    /// pixel p, and of pixel q when `storeSecond`.
    func store(_ acc: SIMD16<Int32>, pixel p: Int, _ q: Int, storeSecond: Bool, channel: Int, columns: Int)
}

extension B1PairStore {
    @inline(always)
    func store(_ acc: B1Sums, first: Int, pixels: Int, channel: Int, columns: Int) {
        store(SIMD16(lowHalf: acc.0, highHalf: acc.1), pixel: first, first + 1, storeSecond: pixels > 1,
              channel: channel, columns: columns)
        if pixels > 2 {
            store(SIMD16(lowHalf: acc.2, highHalf: acc.3), pixel: first + 2, first + 3, storeSecond: pixels > 3,
                  channel: channel, columns: columns)
        }
    }

    #if arch(x86_64)
    func lookupStore(_ g: ConvGeometry, scratch: UnsafeMutableRawPointer) -> Self { self }

    /// 8 channels of both pixels at a time, widened to int32 (n − 2·popcount).
    @inline(always)
    func store(counts p: SIMD32<UInt8>, _ q: SIMD32<UInt8>, n: SIMD2<Int32>, first: Int, pixels: Int, channel: Int,
               columns: Int) {
        let np = SIMD8<Int32>(repeating: n[0]), nq = SIMD8<Int32>(repeating: n[1])
        let pw = unsafeBitCast(p, to: SIMD4<UInt64>.self), qw = unsafeBitCast(q, to: SIMD4<UInt64>.self)
        @inline(always)
        func widen(_ x: UInt64) -> SIMD8<Int32> {  // a lane loop: the generic conversion was not inlined
            let bytes = unsafeBitCast(x, to: SIMD8<UInt8>.self)
            var r = SIMD8<Int32>()
            for i in 0..<8 { r[i] = Int32(bytes[i]) }
            return r
        }
        for i in 0..<4 where 8 * i < columns {
            let acc = SIMD16(lowHalf: np &- widen(pw[i]) &<< 1, highHalf: nq &- widen(qw[i]) &<< 1)
            store(acc, pixel: first, first + 1, storeSecond: pixels > 1, channel: channel + 8 * i,
                  columns: min(columns - 8 * i, binaryBlockChannels))
        }
    }
    #endif
}

/// The per-channel multiplier and bias of a float32 or int8 output, 8 channels twice (pixels p and q).
struct B1Affine {
    let multipliers: UnsafePointer<Float>
    let biases: UnsafePointer<Float>

    @inline(always)
    func apply(_ acc: SIMD16<Int32>, channel: Int) -> SIMD16<Float> {
        let m = UnsafeRawPointer(multipliers + channel).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(biases + channel).loadUnaligned(as: SIMD8<Float>.self)
        return i8_float(acc) * SIMD16(lowHalf: m, highHalf: m) + SIMD16(lowHalf: b, highHalf: b)
    }
}

struct B1FloatStore: B1PairStore {
    let output: UnsafeMutablePointer<Float>
    let pixelStride: Int
    let affine: B1Affine
    let activation: Activation

    @inline(always)
    func store(_ acc: SIMD16<Int32>, pixel p: Int, _ q: Int, storeSecond: Bool, channel: Int, columns: Int) {
        let y = activation.apply(affine.apply(acc, channel: channel))
        y.lowHalf.store(to: output + p * pixelStride + channel, count: columns)
        if storeSecond { y.highHalf.store(to: output + q * pixelStride + channel, count: columns) }
    }
}

struct B1Int8Store: B1PairStore {
    let output: UnsafeMutablePointer<Int8>
    let pixelStride: Int
    let affine: B1Affine
    let round: I8RoundClamp

    @inline(always)
    func store(_ acc: SIMD16<Int32>, pixel p: Int, _ q: Int, storeSecond: Bool, channel: Int, columns: Int) {
        let y = i8_narrow(round.wide(affine.apply(acc, channel: channel)))
        let first = output + p * pixelStride + channel, second = output + q * pixelStride + channel
        if columns == binaryBlockChannels {
            UnsafeMutableRawPointer(first).storeBytes(of: y.lowHalf, as: SIMD8<Int8>.self)
            if storeSecond { UnsafeMutableRawPointer(second).storeBytes(of: y.highHalf, as: SIMD8<Int8>.self) }
        } else {
            for i in 0..<columns { first[i] = y[i] }
            if storeSecond { for i in 0..<columns { second[i] = y[8 + i] } }
        }
    }
}

/// A bit-packed output: an 8-channel block of one pixel is one byte of its sign word and one byte of its
/// non-zero word (channel c at bit c % 8 of byte c / 8, little-endian words), so each block writes two bytes.
/// The block holding the last channel also zeroes the rest of the pixel's words (channel bits ≥ Cout are 0).
struct B1PackedStore: B1Store {
    let output: UnsafeMutablePointer<UInt64>
    let pixelStride: Int   // u64 words
    let words: Int         // ceil(Cout/64)
    let outputChannels: Int
    let thresholds: B1Thresholds
    #if arch(x86_64)
    /// For the 2x64 tile (`lookupStore`): per 32 channels, direction >> 1, lower and upper as int16.
    var thresholds16: UnsafePointer<Int16>? = nil
    /// And for windows without zeros or padding (n = K ≤ 253; else −1, which no n is): per 32 channels the
    /// bytes s, o, a, b of `edgeq_sign_bits_bytes`.
    var thresholds8: UnsafePointer<UInt8>? = nil
    var reduction: Int32 = -1
    #endif

    @inline(always)
    func store(_ acc: B1Sums, first: Int, pixels: Int, channel: Int, columns: Int) {
        @inline(always)
        func load(_ x: UnsafePointer<Int32>) -> SIMD8<Int32> {
            UnsafeRawPointer(x + channel).loadUnaligned(as: SIMD8<Int32>.self)
        }
        let d = load(thresholds.direction) &>> 1, lower = load(thresholds.lower), upper = load(thresholds.upper)
        // Integer lanes, no compare masks (LLVM scalarized much of a compare + select version): v = ±acc by
        // (acc ^ d) − d with d = direction >> 1 (0 or −1); v < lower and v > upper are the sign bits of
        // v − lower and upper − v (|v|, |lower|, |upper| ≤ K + 1: no overflow), which `edgeq_sign_bits32`
        // gathers, the tile's 4 pixels at once, into one byte per pixel.
        @inline(always)
        func masks(_ acc: SIMD8<Int32>) -> (negative: SIMD8<Int32>, nonzero: SIMD8<Int32>) {
            let v = (acc ^ d) &- d
            let negative = v &- lower
            return (negative, negative | (upper &- v))
        }
        let m0 = masks(acc.0), m1 = masks(acc.1), m2 = masks(acc.2), m3 = masks(acc.3)
        let signBits = edgeq_sign_bits32(m0.negative, m1.negative, m2.negative, m3.negative)
        let nonzeroBits = edgeq_sign_bits32(m0.nonzero, m1.nonzero, m2.nonzero, m3.nonzero)
        let mask = UInt8(truncatingIfNeeded: (1 << columns) - 1), byte = channel / 8
        let last = channel + binaryBlockChannels >= outputChannels
        @inline(always)
        func write(_ p: Int) {
            let bytes = UnsafeMutableRawPointer(output + (first &+ p) &* pixelStride)
            let shift = UInt32(truncatingIfNeeded: 8 &* p)
            bytes.storeBytes(
                of: UInt8(truncatingIfNeeded: signBits &>> shift) & mask, toByteOffset: byte, as: UInt8.self)
            bytes.storeBytes(
                of: UInt8(truncatingIfNeeded: nonzeroBits &>> shift) & mask, toByteOffset: 8 &* words &+ byte,
                as: UInt8.self)
            if last {
                for b in (byte + 1)..<(8 * words) {
                    bytes.storeBytes(of: 0, toByteOffset: b, as: UInt8.self)
                    bytes.storeBytes(of: 0, toByteOffset: 8 * words + b, as: UInt8.self)
                }
            }
        }
        write(0)
        if pixels > 1 { write(1) }
        if pixels > 2 { write(2) }
        if pixels > 3 { write(3) }
    }

    #if arch(x86_64)
    /// The 2x64 tile's per-channel constants, once per call: the thresholds as int16, and the byte rule's s, o,
    /// a, b (`edgeq_sign_bits_bytes`) for windows without zeros or padding.
    func lookupStore(_ g: ConvGeometry, scratch: UnsafeMutableRawPointer) -> Self {
        let t = scratch.assumingMemoryBound(to: Int16.self), channels = b1_lookupChannels(g)
        for c in 0..<channels {
            let inside = c < outputChannels, group = t + c / 32 * 96 + c % 32
            group[0] = inside ? Int16(truncatingIfNeeded: thresholds.direction[c] >> 1) : 0
            group[32] = inside ? Int16(truncatingIfNeeded: thresholds.lower[c]) : 0
            group[64] = inside ? Int16(truncatingIfNeeded: thresholds.upper[c]) : 0
        }
        // The byte rule: with c = popcount and n = K, acc = K − 2c. Direction +1: v = K − 2c < lower ⇔
        // c > ⌊(K − lower)/2⌋ = f, v > upper ⇔ c < ⌈(K − upper)/2⌉ = h; x = c − 127, a = f − 127, b = h − 127.
        // Direction −1: v = 2c − K < lower ⇔ c < ⌈(K + lower)/2⌉ = h, v > upper ⇔ c > ⌊(K + upper)/2⌋ = f;
        // x = 126 − c (s = 0xFF, o = 127), a = 126 − h, b = 126 − f. f clamped to −1...K and h to 0...K + 1
        // (c is in 0...K: the same answers), all of x, a, b are then in −128...127 for K ≤ 253.
        let k = g.kernelHeight * g.kernelWidth * g.inputChannels
        let t8 = UnsafeMutableRawPointer(t + 3 * channels).assumingMemoryBound(to: UInt8.self)
        for c in 0..<channels {
            let group = t8 + c / 32 * 128 + c % 32
            let positive = c >= outputChannels || thresholds.direction[c] > 0
            let lower = c < outputChannels ? Int(thresholds.lower[c]) : 0
            let upper = c < outputChannels ? Int(thresholds.upper[c]) : 0
            @inline(always)
            func f(_ y: Int) -> Int { min(max(y >> 1, -1), k) }
            @inline(always)
            func h(_ y: Int) -> Int { min(max((y + 1) >> 1, 0), k + 1) }
            let (s, o, a, b) = positive
                ? (0, 129, f(k - lower) - 127, h(k - upper) - 127)
                : (255, 127, 126 - h(k + lower), 126 - f(k + upper))
            group[0] = UInt8(s)
            group[32] = UInt8(o)
            group[64] = UInt8(truncatingIfNeeded: a)
            group[96] = UInt8(truncatingIfNeeded: b)
        }
        var store = self
        store.thresholds16 = UnsafePointer(t)
        store.thresholds8 = UnsafePointer(t8)
        store.reduction = k <= 253 ? Int32(k) : -1
        return store
    }

    /// 32 channels of a pixel at once, their bits 4 bytes of its words: by the byte rule where n = K ≤ 253 (a
    /// window without zeros or padding), else in int16 lanes (K ≤ 255: |v|, |lower|, |upper| ≤ 256).
    @inline(always)
    func store(counts p: SIMD32<UInt8>, _ q: SIMD32<UInt8>, n: SIMD2<Int32>, first: Int, pixels: Int, channel: Int,
               columns: Int) {
        let t = thresholds16! + channel * 3
        @inline(always)
        func load(_ i: Int) -> SIMD16<Int16> { UnsafeRawPointer(t + 16 * i).loadUnaligned(as: SIMD16<Int16>.self) }
        let d0 = load(0), d1 = load(1), lower0 = load(2), lower1 = load(3), upper0 = load(4), upper1 = load(5)
        let mask: UInt32 = columns >= 32 ? ~0 : (1 << UInt32(columns)) - 1, byte = channel / 8
        let last = channel + 32 >= outputChannels
        /// Windows with zeros or padding: the rule in int16 lanes.
        @inline(always)
        func general(_ counts: SIMD32<UInt8>, _ n: Int32) -> (UInt32, UInt32) {
            let n = SIMD16<Int16>(repeating: Int16(truncatingIfNeeded: n))
            @inline(always)
            func masks(_ c: SIMD16<UInt8>, _ d: SIMD16<Int16>, _ lower: SIMD16<Int16>, _ upper: SIMD16<Int16>)
                -> (negative: SIMD16<Int16>, nonzero: SIMD16<Int16>) {
                var wide = SIMD16<Int16>()  // a lane loop: the generic conversion was not inlined
                for i in 0..<16 { wide[i] = Int16(c[i]) }
                let v = ((n &- wide &<< 1) ^ d) &- d
                let negative = v &- lower
                return (negative, negative | (upper &- v))
            }
            let m0 = masks(counts.lowHalf, d0, lower0, upper0), m1 = masks(counts.highHalf, d1, lower1, upper1)
            return (edgeq_sign_bits16x2(m0.negative, m1.negative) & mask,
                    edgeq_sign_bits16x2(m0.nonzero, m1.nonzero) & mask)
        }
        let t8 = thresholds8! + channel * 4
        @inline(always)
        func bytes(_ i: Int) -> SIMD32<UInt8> { UnsafeRawPointer(t8 + 32 * i).loadUnaligned(as: SIMD32<UInt8>.self) }
        @inline(always)
        func write(_ counts: SIMD32<UInt8>, _ n: Int32, _ pixel: Int) {
            let signBits: UInt32, nonzeroBits: UInt32
            if n == reduction {  // most pixels: the byte rule, 7 instructions for 32 channels
                let bits = edgeq_sign_bits_bytes(
                    counts, bytes(0), bytes(1), unsafeBitCast(bytes(2), to: SIMD32<Int8>.self),
                    unsafeBitCast(bytes(3), to: SIMD32<Int8>.self))
                signBits = UInt32(truncatingIfNeeded: bits) & mask
                nonzeroBits = UInt32(truncatingIfNeeded: bits >> 32) & mask
            } else {
                (signBits, nonzeroBits) = general(counts, n)
            }
            let bytes = UnsafeMutableRawPointer(output + pixel &* pixelStride)
            bytes.storeBytes(of: signBits, toByteOffset: byte, as: UInt32.self)
            bytes.storeBytes(of: nonzeroBits, toByteOffset: 8 &* words &+ byte, as: UInt32.self)
            if last {
                for b in (byte + 4)..<(8 * words) {
                    bytes.storeBytes(of: 0, toByteOffset: b, as: UInt8.self)
                    bytes.storeBytes(of: 0, toByteOffset: 8 * words + b, as: UInt8.self)
                }
            }
        }
        write(p, n[0], first)
        if pixels > 1 { write(q, n[1], first + 1) }
    }
    #endif
}

/// Up to 4 output pixels of one row (`pixels`), every output channel: for each 8-channel weight block, the
/// tile's sums (masked or not: the loop is chosen once per tile), then its epilogue. `offsets`: the buffer word
/// offset of each pixel's window, `n`: its count of non-zero in-image values, `first`: the output index of the
/// tile's first pixel. Not inlined: one call per tile, its loops inside.
@inline(never)
private func b1_pixels_4x8<O: B1Store>(
    _ bits: B1Bits, _ g: ConvGeometry, weights: UnsafePointer<UInt64>, _ store: O, offsets o: SIMD4<Int>,
    n: SIMD4<Int32>, masked: Bool, pixels: Int, first: Int
) {
    let blockWords = g.kernelHeight * g.kernelWidth * bits.units * binaryBlockChannels
    let long = g.kernelHeight * g.kernelWidth * bits.words > b1FlushWords
    var channel = 0
    var w = weights
    while channel < g.outputChannels {
        let t = masked
            ? long
                ? b1_tile(masked: true, long: true, bits, g, w: w, o[0], o[1], o[2], o[3])
                : b1_tile(masked: true, long: false, bits, g, w: w, o[0], o[1], o[2], o[3])
            : long
                ? b1_tile(masked: false, long: true, bits, g, w: w, o[0], o[1], o[2], o[3])
                : b1_tile(masked: false, long: false, bits, g, w: w, o[0], o[1], o[2], o[3])
        store.store(
            t.sums(n: n), first: first, pixels: pixels, channel: channel,
            columns: min(binaryBlockChannels, g.outputChannels - channel))
        channel += binaryBlockChannels
        w += blockWords
    }
}

#if arch(x86_64)
/// Up to 2 output pixels of one row (`pixels`), every output channel, 64 at a time, for K ≤ 255: lanes are
/// output channels. Per step of the window (a nibble of a word of the input: `b1_lookupIndices`) each pixel's
/// table number a | z << 4 picks a 16-byte table (entry i = popcount((a ^ i) & z), both 128-bit halves), and
/// one vpshufb looks up 32 channels' weight nibbles in it: 2 vector instructions (vpshufb, byte add) per 32
/// channels and nibble, where the 4x8 tile needs 3 (the XOR of the operands), and the masked sum (zeros,
/// padding) costs nothing more. Byte counters hold the sums (≤ K ≤ 255): no vpsadbw, and the epilogue gets
/// each pixel's channels in lanes, in order. `offsets`: the byte offset of each pixel's window in the bit
/// tensor; `n`: its count of non-zero in-image values; `first`: the output index of the first pixel.
@inline(never)
private func b1_pixels_2x64<O: B1Store>(
    _ bits: B1Bits, _ g: ConvGeometry, weights: UnsafeRawPointer, tables: UnsafePointer<UInt8>, _ store: O,
    offsets o: SIMD2<Int>, n: SIMD2<Int32>, pixels: Int, first: Int
) {
    let channels = b1_lookupChannels(g)
    let runs = g.dilationWidth == 1 ? 1 : g.kernelWidth
    let runSteps = (g.dilationWidth == 1 ? g.kernelWidth : 1) * bits.words * 16
    let runStep = g.dilationWidth * bits.units * 8, rowStep = g.dilationHeight * bits.width * bits.units * 8
    let indices = UnsafeRawPointer(bits.signs).assumingMemoryBound(to: UInt8.self)
    @inline(always)
    func table(_ i: UInt8) -> SIMD32<UInt8> {
        let t = UnsafeRawPointer(tables + Int(i) &<< 4).loadUnaligned(as: SIMD16<UInt8>.self)
        return SIMD32(lowHalf: t, highHalf: t)
    }
    @inline(always)
    func load(_ w: UnsafeRawPointer) -> SIMD32<UInt8> { w.loadUnaligned(as: SIMD32<UInt8>.self) }
    var channel = 0
    while channel < g.outputChannels {
        var p0 = SIMD32<UInt8>(), p1 = SIMD32<UInt8>(), q0 = SIMD32<UInt8>(), q1 = SIMD32<UInt8>()
        var w = weights + channel
        var rowOffset = 0
        for _ in 0..<g.kernelHeight {
            var offset = rowOffset
            for _ in 0..<runs {
                var x = indices + o[0] + offset, y = indices + o[1] + offset
                for _ in 0..<runSteps {
                    let tp = table(x.pointee), tq = table(y.pointee), w0 = load(w), w1 = load(w + 32)
                    p0 &+= edgeq_lookup16(tp, w0); p1 &+= edgeq_lookup16(tp, w1)
                    q0 &+= edgeq_lookup16(tq, w0); q1 &+= edgeq_lookup16(tq, w1)
                    x += 1; y += 1; w += channels
                }
                offset += runStep
            }
            rowOffset += rowStep
        }
        store.store(counts: p0, q0, n: n, first: first, pixels: pixels, channel: channel,
                    columns: min(32, g.outputChannels - channel))
        if channel + 32 < g.outputChannels {
            store.store(counts: p1, q1, n: n, first: first, pixels: pixels, channel: channel + 32,
                        columns: min(32, g.outputChannels - channel - 32))
        }
        channel += 64
    }
}
#endif

private func b1_conv<S: B1Source, O: B1Store>(
    _ source: S, _ g: ConvGeometry, weights: UnsafePointer<UInt64>, _ store: O, outputRows: Range<Int>,
    scratch: UnsafeMutableRawPointer, lookup: Bool
) {
    guard !outputRows.isEmpty else { return }
    let bits = B1Bits(g, scratch: scratch)
    bits.pack(source, g, outputRows: outputRows, lookup: lookup)
    #if arch(x86_64)
    if lookup {
        let store = store.lookupStore(g, scratch: scratch)
        b1LookupTables.withUnsafeBufferPointer { tables in
            b1_rows(bits, g, outputRows: outputRows, tile: 2) { offsets, n, pixels, first in
                b1_pixels_2x64(
                    bits, g, weights: UnsafeRawPointer(weights), tables: tables.baseAddress!, store,
                    offsets: SIMD2(offsets[0], offsets[1]) &* 8, n: SIMD2(n[0], n[1]), pixels: pixels, first: first)
            }
        }
        return
    }
    #endif
    let k = Int32(g.kernelHeight * g.kernelWidth * g.inputChannels)
    b1_rows(bits, g, outputRows: outputRows, tile: b1TilePixels) { offsets, n, pixels, first in
        b1_pixels_4x8(
            bits, g, weights: weights, store, offsets: offsets, n: n, masked: n != SIMD4(repeating: k),
            pixels: pixels, first: first)
    }
}

/// Runs `tile` for every `tilePixels` (≤ 4) output pixels of each output row: their windows' u64 offsets in the
/// bit tensor, their counts of non-zero in-image values n, how many are real (pixels past the row's end repeat
/// its last pixel and are not stored) and the output index of the first.
@inline(always)
private func b1_rows(
    _ bits: B1Bits, _ g: ConvGeometry, outputRows: Range<Int>, tile tilePixels: Int,
    _ tile: (_ offsets: SIMD4<Int>, _ n: SIMD4<Int32>, _ pixels: Int, _ first: Int) -> Void
) {
    let pixelStep = g.strideWidth * bits.units
    for oy in outputRows {
        let rowStart = (oy - outputRows.lowerBound) * g.strideHeight * bits.width
        // n of every output pixel of the row: its window's non-zero values.
        for ox in 0..<g.outputWidth {
            var n: Int32 = 0
            for ky in 0..<g.kernelHeight {
                let first = rowStart + ky * g.dilationHeight * bits.width + ox * g.strideWidth
                for kx in 0..<g.kernelWidth { n += bits.counts[first + kx * g.dilationWidth] }
            }
            bits.windowCounts[ox] = n
        }
        var ox = 0
        while ox < g.outputWidth {
            let pixels = min(tilePixels, g.outputWidth - ox)
            var offsets = SIMD4<Int>(), n = SIMD4<Int32>()
            for i in 0..<4 {
                let x = ox + min(i, pixels - 1)
                offsets[i] = rowStart * bits.units + x * pixelStep
                n[i] = bits.windowCounts[x]
            }
            tile(offsets, n, pixels, oy * g.outputWidth + ox)
            ox += tilePixels
        }
    }
}

/// One source, every kind of output.
private func b1_conv<S: B1Source>(
    _ source: S, _ g: ConvGeometry, weights: UnsafePointer<UInt64>, multipliers: UnsafePointer<Float>,
    biases: UnsafePointer<Float>, output: B1Output, outputPixelStride: Int, outputRows: Range<Int>,
    scratch: UnsafeMutableRawPointer, lookup: Bool
) {
    let affine = B1Affine(multipliers: multipliers, biases: biases)
    switch output {
    case .float32(let y, let activation):
        b1_conv(
            source, g, weights: weights,
            B1FloatStore(output: y, pixelStride: outputPixelStride, affine: affine, activation: activation),
            outputRows: outputRows, scratch: scratch, lookup: lookup)
    case .int8(let y, let requantization):
        b1_conv(
            source, g, weights: weights,
            B1Int8Store(output: y, pixelStride: outputPixelStride, affine: affine, round: I8RoundClamp(requantization)),
            outputRows: outputRows, scratch: scratch, lookup: lookup)
    case .packed(let y, let thresholds):
        b1_conv(
            source, g, weights: weights,
            B1PackedStore(output: y, pixelStride: outputPixelStride, words: binaryWordCount(g.outputChannels),
                          outputChannels: g.outputChannels, thresholds: thresholds),
            outputRows: outputRows, scratch: scratch, lookup: lookup)
    }
}

/// Binary convolution (groups 1; any kernel size, stride, padding, dilation) of output rows `outputRows`, so that
/// callers can split a layer by rows. `input`/`output` point at pixel (0, 0) of their views; pixel strides count
/// elements, or u64 words for bit-packed tensors. `weights`: on x86 `b1_conv_4x8_weights` of the binaryPacked64
/// signs (made once, at load), elsewhere the binaryPacked64 signs themselves; `multipliers`, `biases`: per
/// output channel, padded with zeros to a multiple of 8 (for an int8 output already divided by its scale; a
/// bit-packed output reads its thresholds instead). `scratch`: `b1_conv_scratchByteCount(geometry:)` bytes,
/// 8-byte aligned, not shared with a concurrent call.
public func b1_conv_4x8(
    input: B1Input, inputPixelStride: Int, geometry g: ConvGeometry, weights: UnsafePointer<UInt64>,
    multipliers: UnsafePointer<Float>, biases: UnsafePointer<Float>, output: B1Output, outputPixelStride: Int,
    outputRows: Range<Int>, scratch: UnsafeMutableRawPointer
) {
    b1_conv(
        input: input, inputPixelStride: inputPixelStride, geometry: g, weights: weights, multipliers: multipliers,
        biases: biases, output: output, outputPixelStride: outputPixelStride, outputRows: outputRows,
        scratch: scratch, lookup: false)
}

#if arch(x86_64)
/// Whether `b1_conv_2x64` computes `g`: K = KH·KW·Cin ≤ 255, the most its byte counters hold.
public func b1_conv_2x64_fits(_ g: ConvGeometry) -> Bool { g.kernelHeight * g.kernelWidth * g.inputChannels <= 255 }

/// `b1_conv_4x8` with the AVX2 lookup tile of 2 pixels x 64 channels (`b1_pixels_2x64`), for geometries with
/// `b1_conv_2x64_fits`: the same bits, faster where the window has few words (1x1 layers). Same scratch;
/// `weights`: `b1_conv_2x64_weights` of the binaryPacked64 signs (made once, at load).
public func b1_conv_2x64(
    input: B1Input, inputPixelStride: Int, geometry g: ConvGeometry, weights: UnsafePointer<UInt64>,
    multipliers: UnsafePointer<Float>, biases: UnsafePointer<Float>, output: B1Output, outputPixelStride: Int,
    outputRows: Range<Int>, scratch: UnsafeMutableRawPointer
) {
    precondition(b1_conv_2x64_fits(g), "b1_conv_2x64: K > 255")
    b1_conv(
        input: input, inputPixelStride: inputPixelStride, geometry: g, weights: weights, multipliers: multipliers,
        biases: biases, output: output, outputPixelStride: outputPixelStride, outputRows: outputRows,
        scratch: scratch, lookup: true)
}
#endif

/// The kernels' common body: `lookup` selects the 2x64 tile (x86 only).
private func b1_conv(
    input: B1Input, inputPixelStride: Int, geometry g: ConvGeometry, weights: UnsafePointer<UInt64>,
    multipliers: UnsafePointer<Float>, biases: UnsafePointer<Float>, output: B1Output, outputPixelStride: Int,
    outputRows: Range<Int>, scratch: UnsafeMutableRawPointer, lookup: Bool
) {
    switch input {
    case .float32(let x):
        b1_conv(
            B1FloatSource(input: x, pixelStride: inputPixelStride), g, weights: weights, multipliers: multipliers,
            biases: biases, output: output, outputPixelStride: outputPixelStride, outputRows: outputRows,
            scratch: scratch, lookup: lookup)
    case .int8(let x, let zeroPoint):
        b1_conv(
            B1Int8Source(input: x, pixelStride: inputPixelStride, zeroPoint: zeroPoint), g, weights: weights,
            multipliers: multipliers, biases: biases, output: output, outputPixelStride: outputPixelStride,
            outputRows: outputRows, scratch: scratch, lookup: lookup)
    case .packed(let x):
        b1_conv(
            B1PackedSource(input: x, pixelStride: inputPixelStride), g, weights: weights, multipliers: multipliers,
            biases: biases, output: output, outputPixelStride: outputPixelStride, outputRows: outputRows,
            scratch: scratch, lookup: lookup)
    }
}
