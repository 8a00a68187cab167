// Binary (XNOR-Net) convolution: acc = Σ sign(x)·sign(w) over 64 channels at a time as XOR + popcount on
// bit-packed words, then a per-channel multiplier and bias (BINARY.md beside this file has the maths, the bit
// convention and the padding rule).
//
// A call first packs the input rows its output rows read into `scratch` (the "bit tensor"): per pixel, the sign
// bits (1 = negative) and the non-zero bits of its channels, 64 to a word, and its count of non-zero channels;
// rows and columns in the padding are all-zero pixels (count 0). Then for each output pixel
//   acc = n − 2·Σ popcount((a ^ w) & nz)
// where n is the window's count of non-zero, in-image values. When n = K = KH·KW·Cin (no padding tap, no exact
// zero in the window: almost every pixel) `& nz` changes nothing and is skipped: acc = K − 2·Σ popcount(a ^ w).
// Border pixels and windows holding exact zeros take the masked loop, which is exact with no correction table.
//
// Register tile: 4 output pixels (of one output row) x 8 output channels (a binaryPacked64 block), one u64 word
// per step: the word of each pixel is broadcast to a SIMD4<UInt64>, XORed with the 2 weight vectors and
// popcounted lane-wise. On AVX2 LLVM lowers `SIMD4<UInt64>.nonzeroBitCount` to the nibble lookup (vpshufb) plus
// vpsadbw; on NEON to cnt + uaddlp. (A byte-lane popcount, SIMD32<UInt8>.nonzeroBitCount, is scalarized by
// LLVM, so the counts are summed per u64 lane.) 8 accumulators + 2 weights + broadcasts + the lookup constants
// fit the 16 ymm registers.
// The sums are exact integers, so tiling, the 1..3-pixel remainder and any split of the rows between calls give
// the same bits.

/// The input of a binary convolution: float32 values, or int8 ones with their zero point (the sign of q − z).
public enum B1Input {
    case float32(UnsafePointer<Float>)
    case int8(UnsafePointer<Int8>, zeroPoint: Int8)
}

/// Where a binary convolution writes: float32 with a fused activation, or int8 requantized by the one rule of
/// QUANTIZATION.md (the multipliers and biases then already divided by the output scale).
public enum B1Output {
    case float32(UnsafeMutablePointer<Float>, activation: Activation)
    case int8(UnsafeMutablePointer<Int8>, requantization: I8Requantization)
}

/// Output pixels per register tile.
let b1TilePixels = 4

/// The bit tensor of one call in `scratch`: the input rows its output rows read, with the padding, as
/// `rows` x `width` pixels. Words first (8-byte aligned at the scratch's 64-byte alignment), then counts.
struct B1Bits {
    let words: Int             // u64 words per pixel and plane: ceil(Cin/64)
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
        return pixels * binaryWordCount(g.inputChannels) * 16 + pixels * 4 + g.outputWidth * 4
    }

    init(_ g: ConvGeometry, scratch: UnsafeMutableRawPointer) {
        words = binaryWordCount(g.inputChannels)
        width = B1Bits.width(g)
        let pixels = B1Bits.maximumRows(g) * width
        signs = scratch.assumingMemoryBound(to: UInt64.self)
        nonzero = signs + pixels * words
        counts = UnsafeMutableRawPointer(nonzero + pixels * words).assumingMemoryBound(to: Int32.self)
        windowCounts = counts + pixels
    }
}

/// Bytes of `scratch` that `b1_conv_4x8` needs for `geometry`.
public func b1_conv_scratchByteCount(geometry: ConvGeometry) -> Int { B1Bits.byteCount(geometry) }

/// Int32 lanes whose bit 31 is a value's sign and whose other bits are 0 exactly when the value is zero:
/// a float's bit pattern, or q − z of an int8 value (|q − z| <= 255).
protocol B1Source {
    /// Lanes for channels `channel ..< channel + count` (count <= 8) of input pixel `pixel`, 0 beyond.
    func lanes(pixel: Int, channel: Int, count: Int) -> SIMD8<Int32>
}

struct B1FloatSource: B1Source {
    let input: UnsafePointer<Float>
    let pixelStride: Int

    @inline(always)
    func lanes(pixel: Int, channel: Int, count: Int) -> SIMD8<Int32> {
        unsafeBitCast(SIMD8<Float>(loading: input + pixel * pixelStride + channel, count: count), to: SIMD8<Int32>.self)
    }
}

struct B1Int8Source: B1Source {
    let input: UnsafePointer<Int8>
    let pixelStride: Int
    let zeroPoint: Int8

    @inline(always)
    func lanes(pixel: Int, channel: Int, count: Int) -> SIMD8<Int32> {
        let p = input + pixel * pixelStride + channel
        var v = SIMD8<Int32>()
        for i in 0..<8 { v[i] = i < count ? Int32(p[i]) &- Int32(zeroPoint) : 0 }
        return v
    }
}

/// Sign bits (1 = negative) and non-zero bits of 32 values given as `B1Source` lanes, lane i of vector v at
/// bit 8v + i. The per-lane shifts are one variable shift (vpsllvd / ushl) and the OR across lanes a sum of
/// disjoint bits, LLVM's reduction shuffles.
@inline(always)
private func b1_bits32(_ v0: SIMD8<Int32>, _ v1: SIMD8<Int32>, _ v2: SIMD8<Int32>, _ v3: SIMD8<Int32>)
    -> (signs: UInt32, nonzero: UInt32)
{
    var signs = SIMD8<UInt32>(), nonzero = SIMD8<UInt32>()
    @inline(always)
    func add(_ v: SIMD8<Int32>, _ i: UInt32) {
        let bits = unsafeBitCast(v, to: SIMD8<UInt32>.self)
        let shift = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7) &+ 8 &* i
        signs |= (bits &>> 31) &<< shift
        // (bits & 0x7FFFFFFF) + 0x7FFFFFFF reaches bit 31 exactly when some bit other than the sign is set.
        nonzero |= (((bits & 0x7FFF_FFFF) &+ 0x7FFF_FFFF) &>> 31) &<< shift
    }
    add(v0, 0)
    add(v1, 1)
    add(v2, 2)
    add(v3, 3)
    return (signs.wrappedSum(), nonzero.wrappedSum())
}

extension B1Bits {
    /// Packs the input rows that output rows `outputRows` read: buffer row 0 is input row
    /// outputRows.lowerBound·sh − padTop, buffer column 0 input column −padLeft; pixels outside the input
    /// are zero (signs 0, non-zero bits 0, count 0).
    @inline(always)
    func pack<S: B1Source>(_ source: S, _ g: ConvGeometry, outputRows: Range<Int>) {
        let rows = (outputRows.count - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1
        let firstRow = outputRows.lowerBound * g.strideHeight - g.padTop
        let cin = g.inputChannels
        for row in 0..<rows {
            let iy = firstRow + row
            for column in 0..<width {
                let ix = column - g.padLeft
                let pixel = row * width + column
                let s = signs + pixel * words, n = nonzero + pixel * words
                guard iy >= 0, iy < g.inputHeight, ix >= 0, ix < g.inputWidth else {
                    for j in 0..<words { (s[j], n[j]) = (0, 0) }
                    counts[pixel] = 0
                    continue
                }
                let inputPixel = iy * g.inputWidth + ix
                var count = 0
                for j in 0..<words {
                    var signWord: UInt64 = 0, nonzeroWord: UInt64 = 0
                    for half in 0..<2 {
                        let c = 64 * j + 32 * half
                        guard c < cin else { break }
                        func lanes(_ i: Int) -> SIMD8<Int32> {
                            source.lanes(pixel: inputPixel, channel: c + 8 * i, count: min(max(cin - c - 8 * i, 0), 8))
                        }
                        let (s32, n32) = b1_bits32(lanes(0), lanes(1), lanes(2), lanes(3))
                        signWord |= UInt64(s32) << UInt64(32 * half)
                        nonzeroWord |= UInt64(n32) << UInt64(32 * half)
                    }
                    (s[j], n[j]) = (signWord, nonzeroWord)
                    count += nonzeroWord.nonzeroBitCount
                }
                counts[pixel] = Int32(count)
            }
        }
    }
}

/// The 4x8 tile's popcount sums: `c[p][h]` holds output channels 4h ..< 4h+4 of pixel p.
private struct B1Tile4x8 {
    var c00 = SIMD4<UInt64>(), c01 = SIMD4<UInt64>(), c10 = SIMD4<UInt64>(), c11 = SIMD4<UInt64>()
    var c20 = SIMD4<UInt64>(), c21 = SIMD4<UInt64>(), c30 = SIMD4<UInt64>(), c31 = SIMD4<UInt64>()

    /// One word: `w` the block's 8 weight words, a0...a3 the pixels' sign words, m0...m3 their non-zero words
    /// (read only when `masked`, a constant at each inlined call).
    @inline(always)
    mutating func accumulate(
        masked: Bool, w: UnsafePointer<UInt64>, _ a0: UInt64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64,
        _ m0: UInt64, _ m1: UInt64, _ m2: UInt64, _ m3: UInt64
    ) {
        let w0 = UnsafeRawPointer(w).loadUnaligned(as: SIMD4<UInt64>.self)
        let w1 = UnsafeRawPointer(w + 4).loadUnaligned(as: SIMD4<UInt64>.self)
        @inline(always)
        func count(_ a: UInt64, _ m: UInt64, _ w: SIMD4<UInt64>) -> SIMD4<UInt64> {
            let x = SIMD4(repeating: a) ^ w
            return (masked ? x & SIMD4(repeating: m) : x).nonzeroBitCount
        }
        c00 &+= count(a0, m0, w0); c01 &+= count(a0, m0, w1)
        c10 &+= count(a1, m1, w0); c11 &+= count(a1, m1, w1)
        c20 &+= count(a2, m2, w0); c21 &+= count(a2, m2, w1)
        c30 &+= count(a3, m3, w0); c31 &+= count(a3, m3, w1)
    }
}

/// The popcount sums of up to 4 output pixels whose windows start at buffer word offsets o0...o3, over the
/// KH·KW·words words of one weight block. A kernel row's taps are one run of KW·words consecutive words with
/// dilation 1 (neighbouring pixels), else KW runs of `words`.
@inline(always)
private func b1_tile(
    masked: Bool, _ bits: B1Bits, _ g: ConvGeometry, w: UnsafePointer<UInt64>,
    _ o0: Int, _ o1: Int, _ o2: Int, _ o3: Int
) -> B1Tile4x8 {
    let runs = g.dilationWidth == 1 ? 1 : g.kernelWidth
    let runLength = g.dilationWidth == 1 ? g.kernelWidth * bits.words : bits.words
    let runStep = g.dilationWidth * bits.words
    let rowStep = g.dilationHeight * bits.width * bits.words
    var t = B1Tile4x8()
    var w = w
    var rowOffset = 0
    for _ in 0..<g.kernelHeight {
        var offset = rowOffset
        for _ in 0..<runs {
            let s0 = bits.signs + o0 + offset, s1 = bits.signs + o1 + offset
            let s2 = bits.signs + o2 + offset, s3 = bits.signs + o3 + offset
            let n0 = bits.nonzero + o0 + offset, n1 = bits.nonzero + o1 + offset
            let n2 = bits.nonzero + o2 + offset, n3 = bits.nonzero + o3 + offset
            for k in 0..<runLength {
                if masked {
                    t.accumulate(masked: true, w: w, s0[k], s1[k], s2[k], s3[k], n0[k], n1[k], n2[k], n3[k])
                } else {
                    t.accumulate(masked: false, w: w, s0[k], s1[k], s2[k], s3[k], 0, 0, 0, 0)
                }
                w += binaryBlockChannels
            }
            offset += runStep
        }
        rowOffset += rowStep
    }
    return t
}

@inline(never)
private func b1_tile_4x8(_ bits: B1Bits, _ g: ConvGeometry, w: UnsafePointer<UInt64>, _ o0: Int, _ o1: Int,
                         _ o2: Int, _ o3: Int) -> B1Tile4x8 {
    b1_tile(masked: false, bits, g, w: w, o0, o1, o2, o3)
}

@inline(never)
private func b1_tile_4x8_masked(_ bits: B1Bits, _ g: ConvGeometry, w: UnsafePointer<UInt64>, _ o0: Int,
                                _ o1: Int, _ o2: Int, _ o3: Int) -> B1Tile4x8 {
    b1_tile(masked: true, bits, g, w: w, o0, o1, o2, o3)
}

/// Writes a tile's results: two pixels at a time, output channels in lanes 0..<8 (pixel p) and 8..<16 (pixel q).
protocol B1Store {
    /// `acc`: the integer sums of pixels p and q; `multipliers`, `biases`: the block's 8 channels twice.
    /// Writes `columns` channels from `channel` of pixel p, and of pixel q when `storeSecond`.
    func store(
        _ acc: SIMD16<Int32>, multipliers: SIMD16<Float>, biases: SIMD16<Float>, pixel p: Int, _ q: Int,
        storeSecond: Bool, channel: Int, columns: Int)
}

struct B1FloatStore: B1Store {
    let output: UnsafeMutablePointer<Float>
    let pixelStride: Int
    let activation: Activation

    @inline(always)
    func store(
        _ acc: SIMD16<Int32>, multipliers: SIMD16<Float>, biases: SIMD16<Float>, pixel p: Int, _ q: Int,
        storeSecond: Bool, channel: Int, columns: Int
    ) {
        let y = activation.apply(i8_float(acc) * multipliers + biases)
        y.lowHalf.store(to: output + p * pixelStride + channel, count: columns)
        if storeSecond { y.highHalf.store(to: output + q * pixelStride + channel, count: columns) }
    }
}

struct B1Int8Store: B1Store {
    let output: UnsafeMutablePointer<Int8>
    let pixelStride: Int
    let round: I8RoundClamp

    @inline(always)
    func store(
        _ acc: SIMD16<Int32>, multipliers: SIMD16<Float>, biases: SIMD16<Float>, pixel p: Int, _ q: Int,
        storeSecond: Bool, channel: Int, columns: Int
    ) {
        let y = i8_narrow(round.wide(i8_float(acc) * multipliers + biases))
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

/// n − 2·popcount for two pixels: lanes 0..<8 pixel p (sums p0, p1), 8..<16 pixel q.
@inline(always)
private func b1_dots(
    _ p0: SIMD4<UInt64>, _ p1: SIMD4<UInt64>, _ q0: SIMD4<UInt64>, _ q1: SIMD4<UInt64>, np: Int32, nq: Int32
) -> SIMD16<Int32> {
    var counts = SIMD16<Int32>()
    for i in 0..<4 {
        counts[i] = Int32(truncatingIfNeeded: p0[i])
        counts[4 + i] = Int32(truncatingIfNeeded: p1[i])
        counts[8 + i] = Int32(truncatingIfNeeded: q0[i])
        counts[12 + i] = Int32(truncatingIfNeeded: q1[i])
    }
    let n = SIMD16<Int32>(lowHalf: SIMD8(repeating: np), highHalf: SIMD8(repeating: nq))
    return n &- counts &<< 1
}

private func b1_conv<S: B1Source, O: B1Store>(
    _ source: S, _ g: ConvGeometry, weights: UnsafePointer<UInt64>, multipliers: UnsafePointer<Float>,
    biases: UnsafePointer<Float>, _ store: O, outputRows: Range<Int>, scratch: UnsafeMutableRawPointer
) {
    guard !outputRows.isEmpty else { return }
    let bits = B1Bits(g, scratch: scratch)
    bits.pack(source, g, outputRows: outputRows)
    let taps = g.kernelHeight * g.kernelWidth
    let k = Int32(taps * g.inputChannels)
    let blockWords = taps * bits.words * binaryBlockChannels
    let pixelStep = g.strideWidth * bits.words
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
        let outputRow = oy * g.outputWidth
        var channel = 0
        var blockWeights = weights
        while channel < g.outputChannels {
            let columns = min(binaryBlockChannels, g.outputChannels - channel)
            let m = UnsafeRawPointer(multipliers + channel).loadUnaligned(as: SIMD8<Float>.self)
            let b = UnsafeRawPointer(biases + channel).loadUnaligned(as: SIMD8<Float>.self)
            let m2 = SIMD16(lowHalf: m, highHalf: m), b2 = SIMD16(lowHalf: b, highHalf: b)
            var ox = 0
            while ox < g.outputWidth {
                // Pixels past the row's end repeat its last pixel and are not stored.
                let pixels = min(b1TilePixels, g.outputWidth - ox)
                func offset(_ i: Int) -> Int { rowStart * bits.words + (ox + min(i, pixels - 1)) * pixelStep }
                func n(_ i: Int) -> Int32 { bits.windowCounts[ox + min(i, pixels - 1)] }
                let full = n(0) == k && n(1) == k && n(2) == k && n(3) == k
                let t = full
                    ? b1_tile_4x8(bits, g, w: blockWeights, offset(0), offset(1), offset(2), offset(3))
                    : b1_tile_4x8_masked(bits, g, w: blockWeights, offset(0), offset(1), offset(2), offset(3))
                store.store(
                    b1_dots(t.c00, t.c01, t.c10, t.c11, np: n(0), nq: n(1)), multipliers: m2, biases: b2,
                    pixel: outputRow + ox, outputRow + ox + 1, storeSecond: pixels > 1, channel: channel,
                    columns: columns)
                if pixels > 2 {
                    store.store(
                        b1_dots(t.c20, t.c21, t.c30, t.c31, np: n(2), nq: n(3)), multipliers: m2, biases: b2,
                        pixel: outputRow + ox + 2, outputRow + ox + 3, storeSecond: pixels > 3, channel: channel,
                        columns: columns)
                }
                ox += b1TilePixels
            }
            channel += binaryBlockChannels
            blockWeights += blockWords
        }
    }
}

/// Binary convolution (groups 1; any kernel size, stride, padding, dilation) of output rows `outputRows`, so that
/// callers can split a layer by rows. `input`/`output` point at pixel (0, 0) of their views. `weights`:
/// binaryPacked64 signs; `multipliers`, `biases`: per output channel, padded with zeros to a multiple of 8
/// (for an int8 output already divided by its scale). `scratch`: `b1_conv_scratchByteCount(geometry:)` bytes,
/// 8-byte aligned, not shared with a concurrent call.
public func b1_conv_4x8(
    input: B1Input, inputPixelStride: Int, geometry g: ConvGeometry, weights: UnsafePointer<UInt64>,
    multipliers: UnsafePointer<Float>, biases: UnsafePointer<Float>, output: B1Output, outputPixelStride: Int,
    outputRows: Range<Int>, scratch: UnsafeMutableRawPointer
) {
    switch (input, output) {
    case (.float32(let x), .float32(let y, let activation)):
        b1_conv(
            B1FloatSource(input: x, pixelStride: inputPixelStride), g, weights: weights, multipliers: multipliers,
            biases: biases, B1FloatStore(output: y, pixelStride: outputPixelStride, activation: activation),
            outputRows: outputRows, scratch: scratch)
    case (.float32(let x), .int8(let y, let requantization)):
        b1_conv(
            B1FloatSource(input: x, pixelStride: inputPixelStride), g, weights: weights, multipliers: multipliers,
            biases: biases, B1Int8Store(output: y, pixelStride: outputPixelStride, round: I8RoundClamp(requantization)),
            outputRows: outputRows, scratch: scratch)
    case (.int8(let x, let zeroPoint), .float32(let y, let activation)):
        b1_conv(
            B1Int8Source(input: x, pixelStride: inputPixelStride, zeroPoint: zeroPoint), g, weights: weights,
            multipliers: multipliers, biases: biases,
            B1FloatStore(output: y, pixelStride: outputPixelStride, activation: activation),
            outputRows: outputRows, scratch: scratch)
    case (.int8(let x, let zeroPoint), .int8(let y, let requantization)):
        b1_conv(
            B1Int8Source(input: x, pixelStride: inputPixelStride, zeroPoint: zeroPoint), g, weights: weights,
            multipliers: multipliers, biases: biases,
            B1Int8Store(output: y, pixelStride: outputPixelStride, round: I8RoundClamp(requantization)),
            outputRows: outputRows, scratch: scratch)
    }
}
