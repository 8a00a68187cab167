import CEdgeQDot

// Int8 convolution as GEMM: acc[pixel][o] = bias[o] + Σ_k A[pixel][k]·W[o][k] in int32, then the
// requantization rule of QUANTIZATION.md per output channel. A is the input pixels (1x1 convolution, fully
// connected) or their im2col rows (any other groups == 1 convolution); W is gemmI8C4 (Int8WeightPacking.swift).
//
// x86_64 (AVX2): the 6x8c4 tile. A chunk of pixels is first widened to int16 rows in `scratch` (K rounded up
// to whole 4-k groups, zero padded); the weights stay int8. Register tile: 6 pixels x 8 output channels (half
// of a 16-channel weight block), 4 k per step. `i8_dotPairs` of a 16-byte quarter weight row (4 channels x
// 4 k) and a pixel's 4 activations repeated 4 times is one vpmovsxbw of the weights and one vpmaddwd: 16 multiply-adds
// into 8 int32 lanes holding per channel the sums of k 0+1 and of k 2+3 (added once per tile, in the epilogue).
// Per step: 2 weight extensions, 6 activation broadcasts (plain 8-byte loads, thanks to the int16 rows),
// 12 vpmaddwd + 12 vpaddd; 12 accumulators + 2 weights + 1 activation + 1 product = the 16 ymm registers.
// Measured on Zen 5 (AVX2 code), inner loop at K = 960: int8 rows with in-loop widening 85 GMAC/s (2x16 and
// 4x8 tiles; 3x16 spilled, 72), int16 rows 6x8 109, 4x8 105; the float 6x16 kernel runs at ~60. Whole layers
// (MobileNetV2): 1.3-1.7x float from K = 144 up, below 1x for K <= 32, where the requantization epilogue
// (~1.7 instructions per output against the float kernel's ~0.3) outweighs the shorter k loop.
// Only one shape of the pair step becomes vpmaddwd: widen both operands to Int32, multiply, add adjacent lanes
// (`i8_dotPairs`); evenHalf/oddHalf, shift-based sign extension or int16 products all became vpmulld or
// pmullw + unpacks.
// On NEON (generic Armv8 and with dotprod alike) LLVM turns the step into sshll + smull (.4s) + addp + add,
// about 2 multiply-adds per instruction against fmla's 4: aarch64 builds use the dot-product tiles below
// instead (the kernel table picks the GEMM kernels per ISA, Plan/Int8KernelTable.swift).
//
// Dot product (Armv8.2 dotprod, the rpi5 build): the 5x16 tile below (`i8_gemm_tile_5x16c4_sdot`) reads int8
// activations directly, no widening and, for 1x1 convolutions, no copy. Per 16 k: one 16-byte load per pixel,
// the block's 4 group rows (8 ldp), and per pixel and group 4 `sdot v.4s, w.16b, x.4b[lane]` of 16
// multiply-adds each: 80 sdot, 13 loads and the loop's 5 instructions. 20 accumulators + 5 activations + 4
// weights = 29 of the 32 NEON registers; 6 pixels (24 + 6 + 4) spilled two accumulators every 16 k.
// Armv8.0 NEON (rpi3, rpi4) runs the same tile with CEdgeQDot's 4-instruction sdot equivalent (smull, smull2,
// addp, sadalp: 4 multiply-adds per instruction, twice the int16 6x8 tile's rate) and a dup per pixel and
// group for the missing by-element form: 4 pixels (`i8_gemm_tile_4x16c4_neon`), for the temporaries.
// Why sdot comes from C (CEdgeQDot.h, `edgeq_sdot`, inlined): no Swift spelling tried made LLVM (Swift 6.3.1,
// -target-cpu cortex-a76) emit sdot for a register tile. Widening SIMD16<Int8> pairs to Int32, multiplying
// and summing each group of 4 lanes (lane loops, lowHalf/highHalf adds, strided sums) gave smull + sshll +
// zip/uzp + add, or byte-by-byte lane moves; LLVM's partial-reduction combines start only from the loop
// vectorizer's reductions (a plain `Σ Int32(w[i])·Int32(x[i])` loop does become sdot, into one sum) or from a
// full `vecreduce.add` (sdot + addv per output). Calling the LLVM intrinsic by name (`@_silgen_name
// ("llvm.aarch64.neon.sdot...")`) reaches the instruction selector with the Swift calling convention and
// fails ("Cannot select"); `@_extern(c)` rejects SIMD types. A static inline C function on NEON vector types
// is imported with SIMD4<Int32> / SIMD16<Int8> signatures and inlines to the bare instruction, and LLVM folds
// the Swift lane broadcast before it into the by-element form.
// The integer sums are exact (|acc| < 2^31 for K < 2^17), so the order in which k or pixels are visited does
// not change any result: chunking, tiling and the 1-pixel path are free to differ.

/// Pixels per register tile.
let i8GEMMTilePixels = 6
/// Output channels per register tile: half of a gemmI8C4 block.
let i8GEMMTileChannels = 8

/// Pixels per cache block: every 16-channel weight block (ceil(K/4) * 64 bytes, 15 KB at K = 960) runs over this
/// many pixels before the next one, so their int16 rows (chunk * 2K bytes, 92 KB at K = 960) are reused from
/// L2 across blocks while one weight block stays in L1 across the chunk's tiles. Also the im2col batch.
let i8GEMMChunkPixels = 8 * i8GEMMTilePixels

/// The 4 int16 activations at `p` repeated 4 times: the `x` of `i8_dotPairs` (one 8-byte broadcast load).
@inline(always)
private func i8_repeat4(_ p: UnsafePointer<Int16>) -> SIMD16<Int16> {
    unsafeBitCast(SIMD4<UInt64>(repeating: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)), to: SIMD16<Int16>.self)
}

/// The 6x8 tile's accumulators: `c[p][j]` holds channels 4j ..< 4j+4 of pixel p as pair sums.
private struct I8Tile6x8 {
    var c00 = SIMD8<Int32>(), c01 = SIMD8<Int32>(), c10 = SIMD8<Int32>(), c11 = SIMD8<Int32>()
    var c20 = SIMD8<Int32>(), c21 = SIMD8<Int32>(), c30 = SIMD8<Int32>(), c31 = SIMD8<Int32>()
    var c40 = SIMD8<Int32>(), c41 = SIMD8<Int32>(), c50 = SIMD8<Int32>(), c51 = SIMD8<Int32>()

    /// One group of 4 k: `w` is the first half (32 bytes) of the tile's 64-byte weight row, a0...a5 the pixels'
    /// int16 rows at this group. Rows `rowCount...` are skipped; rowCount is a constant at each inlined call.
    @inline(always)
    mutating func accumulate(
        rowCount: Int, w: UnsafePointer<Int8>, _ a0: UnsafePointer<Int16>, _ a1: UnsafePointer<Int16>,
        _ a2: UnsafePointer<Int16>, _ a3: UnsafePointer<Int16>, _ a4: UnsafePointer<Int16>,
        _ a5: UnsafePointer<Int16>
    ) {
        let w0 = i8_load(w), w1 = i8_load(w + 16)
        let x0 = i8_repeat4(a0)
        c00 &+= i8_dotPairs(w0, x0); c01 &+= i8_dotPairs(w1, x0)
        guard rowCount > 1 else { return }
        let x1 = i8_repeat4(a1)
        c10 &+= i8_dotPairs(w0, x1); c11 &+= i8_dotPairs(w1, x1)
        let x2 = i8_repeat4(a2)
        c20 &+= i8_dotPairs(w0, x2); c21 &+= i8_dotPairs(w1, x2)
        let x3 = i8_repeat4(a3)
        c30 &+= i8_dotPairs(w0, x3); c31 &+= i8_dotPairs(w1, x3)
        let x4 = i8_repeat4(a4)
        c40 &+= i8_dotPairs(w0, x4); c41 &+= i8_dotPairs(w1, x4)
        let x5 = i8_repeat4(a5)
        c50 &+= i8_dotPairs(w0, x5); c51 &+= i8_dotPairs(w1, x5)
    }
}

/// Channel sums of two pixels from their pair sums: lanes 0..<8 pixel p (vectors p0, p1), 8..<16 pixel q.
@inline(always)
private func i8_channelSums(
    _ p0: SIMD8<Int32>, _ p1: SIMD8<Int32>, _ q0: SIMD8<Int32>, _ q1: SIMD8<Int32>
) -> SIMD16<Int32> {
    var s = SIMD16<Int32>()
    for i in 0..<4 {
        s[i] = p0[2 &* i] &+ p0[2 &* i &+ 1]
        s[4 &+ i] = p1[2 &* i] &+ p1[2 &* i &+ 1]
        s[8 &+ i] = q0[2 &* i] &+ q0[2 &* i &+ 1]
        s[12 &+ i] = q1[2 &* i] &+ q1[2 &* i &+ 1]
    }
    return s
}

/// Per-channel constants of a tile, one per lane of a vector of 16 channel sums: the epilogue of every GEMM
/// tile (the requantization rule of QUANTIZATION.md) is `requantize`.
private struct I8TileChannels {
    var bias: SIMD16<Int32>
    var multipliers: SIMD16<Float>

    /// 8 channels, repeated for the two pixels of an epilogue vector (the 6x8 tile).
    @inline(always)
    init(halfBlockBias bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>) {
        let b = UnsafeRawPointer(bias).loadUnaligned(as: SIMD8<Int32>.self)
        let m = UnsafeRawPointer(multipliers).loadUnaligned(as: SIMD8<Float>.self)
        self.bias = SIMD16(lowHalf: b, highHalf: b)
        self.multipliers = SIMD16(lowHalf: m, highHalf: m)
    }

    /// 16 channels, one pixel per epilogue vector (the dot-product tile).
    @inline(always)
    init(blockBias bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>) {
        self.bias = UnsafeRawPointer(bias).loadUnaligned(as: SIMD16<Int32>.self)
        self.multipliers = UnsafeRawPointer(multipliers).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// The int8 results of channel sums (bias not yet added), still in int32 lanes.
    @inline(always)
    func requantize(_ sums: SIMD16<Int32>, _ round: I8RoundClamp) -> SIMD16<Int32> {
        round.wide(i8_float(sums &+ bias) * multipliers)
    }

    /// Requantizes two pixels' channel sums (6x8 tile); lanes 0..<8 go to `p`, 8..<16 to `q` (when
    /// `storeSecond`), `columns` of each.
    @inline(always)
    func store(
        _ sums: SIMD16<Int32>, _ round: I8RoundClamp, to p: UnsafeMutablePointer<Int8>,
        _ q: UnsafeMutablePointer<Int8>, storeSecond: Bool, columns: Int
    ) {
        let y = requantize(sums, round)
        let first = i8_narrow(y.lowHalf), second = i8_narrow(y.highHalf)
        if columns == i8GEMMTileChannels {
            UnsafeMutableRawPointer(p).storeBytes(of: first, as: SIMD8<Int8>.self)
            if storeSecond { UnsafeMutableRawPointer(q).storeBytes(of: second, as: SIMD8<Int8>.self) }
        } else {
            for i in 0..<columns { p[i] = first[i] }
            if storeSecond { for i in 0..<columns { q[i] = second[i] } }
        }
    }
}

/// The tile: C[rows][columns] = requantize(bias + A[rows][0..<4*groups] x B[0..<4*groups][columns]).
/// A: `rows` (1...rowCount) int16 rows `aStride` apart. B: the first half of a tile's gemmI8C4 rows (64 bytes
/// apart). `bias`, `multipliers`: the tile's 8 channels. Rows past `rows` recompute the last row and are not
/// stored (one code path for the pixel remainder).
@inline(always)
private func i8_gemm_tile(
    rowCount: Int, rows: Int, a: UnsafePointer<Int16>, aStride: Int, groups: Int, b: UnsafePointer<Int8>,
    bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, columns: Int,
    c: UnsafeMutablePointer<Int8>, cStride: Int, round r: I8RoundClamp
) {
    let last = rows &- 1
    let a0 = a, a1 = a + min(1, last) &* aStride, a2 = a + min(2, last) &* aStride
    let a3 = a + min(3, last) &* aStride, a4 = a + min(4, last) &* aStride, a5 = a + min(5, last) &* aStride
    var t = I8Tile6x8()
    var w = b
    var k = 0
    for _ in 0..<groups {
        t.accumulate(rowCount: rowCount, w: w, a0 + k, a1 + k, a2 + k, a3 + k, a4 + k, a5 + k)
        w += gemmI8BlockChannels * gemmI8GroupSize
        k &+= gemmI8GroupSize
    }
    let channels = I8TileChannels(halfBlockBias: bias, multipliers: multipliers)
    channels.store(
        i8_channelSums(t.c00, t.c01, t.c10, t.c11), r, to: c, c + cStride, storeSecond: rows > 1,
        columns: columns)
    guard rowCount > 1 && rows > 2 else { return }
    channels.store(
        i8_channelSums(t.c20, t.c21, t.c30, t.c31), r, to: c + 2 &* cStride, c + 3 &* cStride,
        storeSecond: rows > 3, columns: columns)
    guard rows > 4 else { return }
    channels.store(
        i8_channelSums(t.c40, t.c41, t.c50, t.c51), r, to: c + 4 &* cStride, c + 5 &* cStride,
        storeSecond: rows > 5, columns: columns)
}

/// The 6x8 microkernel (see `i8_gemm_tile`). Not inlined: one call per tile is negligible next to its k loop,
/// and it keeps the drivers small.
@inline(never)
private func i8_gemm_tile_6x8c4(
    rows: Int, a: UnsafePointer<Int16>, aStride: Int, groups: Int, b: UnsafePointer<Int8>,
    bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, columns: Int,
    c: UnsafeMutablePointer<Int8>, cStride: Int, round: I8RoundClamp
) {
    i8_gemm_tile(
        rowCount: 6, rows: rows, a: a, aStride: aStride, groups: groups, b: b, bias: bias,
        multipliers: multipliers, columns: columns, c: c, cStride: cStride, round: round)
}

/// One pixel (fully connected layers): the same tile with one row, so a lone pixel is not computed six times.
/// Every weight is used once; the loop streams the weights.
@inline(never)
private func i8_gemm_tile_1x8c4(
    a: UnsafePointer<Int16>, groups: Int, b: UnsafePointer<Int8>,
    bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, columns: Int,
    c: UnsafeMutablePointer<Int8>, round: I8RoundClamp
) {
    i8_gemm_tile(
        rowCount: 1, rows: 1, a: a, aStride: 0, groups: groups, b: b, bias: bias, multipliers: multipliers,
        columns: columns, c: c, cStride: 0, round: round)
}

/// The GEMM of `pixelCount` (<= i8GEMMChunkPixels) int16 rows of `groups` 4-k groups each, `aStride` apart.
private func i8_gemm_rows(
    a: UnsafePointer<Int16>, aStride: Int, pixelCount: Int, groups: Int,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
    outputChannels: Int, output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, round: I8RoundClamp
) {
    var channel = 0
    var blockWeights = weights
    while channel < outputChannels {
        for half in 0..<2 {
            let first = channel + half * i8GEMMTileChannels
            guard first < outputChannels else { break }
            let columns = min(i8GEMMTileChannels, outputChannels - first)
            let b = blockWeights + half * i8GEMMTileChannels * gemmI8GroupSize
            if pixelCount == 1 {
                i8_gemm_tile_1x8c4(
                    a: a, groups: groups, b: b, bias: bias + first, multipliers: multipliers + first,
                    columns: columns, c: output + first, round: round)
                continue
            }
            var pixel = 0
            while pixel < pixelCount {
                i8_gemm_tile_6x8c4(
                    rows: min(i8GEMMTilePixels, pixelCount - pixel), a: a + pixel * aStride, aStride: aStride,
                    groups: groups, b: b, bias: bias + first, multipliers: multipliers + first, columns: columns,
                    c: output + pixel * outputPixelStride + first, cStride: outputPixelStride, round: round)
                pixel += i8GEMMTilePixels
            }
        }
        channel += gemmI8BlockChannels
        blockWeights += groups * gemmI8BlockChannels * gemmI8GroupSize
    }
}

// MARK: Dot-product tiles (aarch64 only in the kernel table; see the file comment)

/// The register tiles of the dot-product GEMM (16 channels: a whole gemmI8C4 block), one per form of
/// `edgeq_sdot` (see the file comment).
public enum I8DotTile {
    case sdot5x16   // Armv8.2 dotprod
    case neon4x16   // Armv8.0 NEON

    /// Pixels per tile.
    var pixels: Int { self == .sdot5x16 ? 5 : 4 }
    /// Pixels per cache block of the pointwise kernel: whole tiles, about `i8GEMMChunkPixels`.
    var chunkPixels: Int { 10 * pixels }
    /// Tile and ISA, as kernel names end.
    public var name: String { self == .sdot5x16 ? "5x16c4_sdot" : "4x16c4_neon" }
}

/// A 64-byte gemmI8C4 group row: 4 quarter rows, each 4 channels x 4 k.
private typealias I8GroupRow = (SIMD16<Int8>, SIMD16<Int8>, SIMD16<Int8>, SIMD16<Int8>)

/// One pixel's 16 channel sums plus group `lane` (k 4·lane ..< 4·lane + 4) of its 16 activations `x` times a
/// group row: 4 `sdot` by element (`lane` is a constant after inlining). Exact int32 sums.
@inline(always)
private func i8_dot16(_ c: SIMD16<Int32>, _ w: I8GroupRow, _ x: SIMD16<Int8>, lane: Int) -> SIMD16<Int32> {
    let group = unsafeBitCast(x, to: SIMD4<Int32>.self)[lane]
    let a = unsafeBitCast(SIMD4<Int32>(repeating: group), to: SIMD16<Int8>.self)
    return SIMD16(
        lowHalf: SIMD8(lowHalf: edgeq_sdot(c.lowHalf.lowHalf, w.0, a), highHalf: edgeq_sdot(c.lowHalf.highHalf, w.1, a)),
        highHalf: SIMD8(
            lowHalf: edgeq_sdot(c.highHalf.lowHalf, w.2, a), highHalf: edgeq_sdot(c.highHalf.highHalf, w.3, a)))
}

/// The 4 activations of one k group in lanes 0..<4 (`count` < 4: the last k of a row, zero beyond them; their
/// weights are zero). Reads only `count` bytes.
@inline(always)
private func i8_group(_ p: UnsafePointer<Int8>, count: Int) -> SIMD16<Int8> {
    if count == gemmI8GroupSize {
        return unsafeBitCast(SIMD4(repeating: UnsafeRawPointer(p).loadUnaligned(as: Int32.self)), to: SIMD16<Int8>.self)
    }
    return i8_load(p, count: count)
}

/// The dot-product tile's accumulators (up to 5 pixels): `c[p]` holds the 16 channel sums of pixel p.
private struct I8DotTileSums {
    var c0 = SIMD16<Int32>(), c1 = SIMD16<Int32>(), c2 = SIMD16<Int32>(), c3 = SIMD16<Int32>()
    var c4 = SIMD16<Int32>()

    /// Group `lane` of the pixels' activation vectors x0...x4 times the group row at `w`. Rows `rowCount...`
    /// are skipped; rowCount is a constant at each inlined call.
    @inline(always)
    mutating func accumulate(
        rowCount: Int, w: UnsafePointer<Int8>, lane: Int, _ x0: SIMD16<Int8>, _ x1: SIMD16<Int8>,
        _ x2: SIMD16<Int8>, _ x3: SIMD16<Int8>, _ x4: SIMD16<Int8>
    ) {
        let row = (i8_load(w), i8_load(w + 16), i8_load(w + 32), i8_load(w + 48))
        c0 = i8_dot16(c0, row, x0, lane: lane)
        if rowCount > 1 { c1 = i8_dot16(c1, row, x1, lane: lane) }
        if rowCount > 2 { c2 = i8_dot16(c2, row, x2, lane: lane) }
        if rowCount > 3 { c3 = i8_dot16(c3, row, x3, lane: lane) }
        if rowCount > 4 { c4 = i8_dot16(c4, row, x4, lane: lane) }
    }
}

/// The dot-product tile: C[rows][columns] = requantize(bias + A[rows][0..<K] x B[0..<K][columns]).
/// A: `rows` (1...rowCount, rowCount <= 5) int8 rows `aStride` apart, read only at k < K. B: one gemmI8C4 block (16 channels,
/// ceil(K/4) group rows). Rows past `rows` recompute the last row and are not stored.
@inline(always)
private func i8_gemm_tile_dot(
    rowCount: Int, rows: Int, a: UnsafePointer<Int8>, aStride: Int, reductionSize: Int, b: UnsafePointer<Int8>,
    channels: I8TileChannels, columns: Int, c: UnsafeMutablePointer<Int8>, cStride: Int, round: I8RoundClamp
) {
    let last = rows &- 1
    let a0 = a, a1 = a + min(1, last) &* aStride, a2 = a + min(2, last) &* aStride
    let a3 = a + min(3, last) &* aStride, a4 = a + min(4, last) &* aStride
    let rowBytes = gemmI8BlockChannels * gemmI8GroupSize
    var t = I8DotTileSums()
    var w = b
    var k = 0
    // 4 groups per 16-byte activation load, written out: LLVM left a `for lane in 0..<4` loop rolled, and a
    // variable lane went through the stack (store, then ld1r) instead of sdot by element.
    while k &+ 16 <= reductionSize {
        let x0 = i8_load(a0 + k), x1 = i8_load(a1 + k), x2 = i8_load(a2 + k)
        let x3 = i8_load(a3 + k), x4 = i8_load(a4 + k)
        t.accumulate(rowCount: rowCount, w: w, lane: 0, x0, x1, x2, x3, x4)
        t.accumulate(rowCount: rowCount, w: w + rowBytes, lane: 1, x0, x1, x2, x3, x4)
        t.accumulate(rowCount: rowCount, w: w + 2 &* rowBytes, lane: 2, x0, x1, x2, x3, x4)
        t.accumulate(rowCount: rowCount, w: w + 3 &* rowBytes, lane: 3, x0, x1, x2, x3, x4)
        w += 4 &* rowBytes
        k &+= 16
    }
    // The last 1...3 groups, one at a time.
    while k < reductionSize {
        let n = min(gemmI8GroupSize, reductionSize &- k)
        t.accumulate(
            rowCount: rowCount, w: w, lane: 0, i8_group(a0 + k, count: n), i8_group(a1 + k, count: n),
            i8_group(a2 + k, count: n), i8_group(a3 + k, count: n), i8_group(a4 + k, count: n))
        w += rowBytes
        k &+= gemmI8GroupSize
    }
    @inline(always)
    func store(_ sums: SIMD16<Int32>, _ row: Int) {
        i8_store(i8_narrow(channels.requantize(sums, round)), to: c + row &* cStride, count: columns)
    }
    store(t.c0, 0)
    if rowCount > 1 && rows > 1 { store(t.c1, 1) }
    if rowCount > 2 && rows > 2 { store(t.c2, 2) }
    if rowCount > 3 && rows > 3 { store(t.c3, 3) }
    if rowCount > 4 && rows > 4 { store(t.c4, 4) }
}

/// The 5x16 dot-product microkernel (see `i8_gemm_tile_dot`), for sdot.
@inline(never)
private func i8_gemm_tile_5x16c4_sdot(
    rows: Int, a: UnsafePointer<Int8>, aStride: Int, reductionSize: Int, b: UnsafePointer<Int8>,
    channels: I8TileChannels, columns: Int, c: UnsafeMutablePointer<Int8>, cStride: Int, round: I8RoundClamp
) {
    i8_gemm_tile_dot(
        rowCount: 5, rows: rows, a: a, aStride: aStride, reductionSize: reductionSize, b: b,
        channels: channels, columns: columns, c: c, cStride: cStride, round: round)
}

/// The 4x16 microkernel for Armv8.0 NEON (see `i8_gemm_tile_dot`).
@inline(never)
private func i8_gemm_tile_4x16c4_neon(
    rows: Int, a: UnsafePointer<Int8>, aStride: Int, reductionSize: Int, b: UnsafePointer<Int8>,
    channels: I8TileChannels, columns: Int, c: UnsafeMutablePointer<Int8>, cStride: Int, round: I8RoundClamp
) {
    i8_gemm_tile_dot(
        rowCount: 4, rows: rows, a: a, aStride: aStride, reductionSize: reductionSize, b: b,
        channels: channels, columns: columns, c: c, cStride: cStride, round: round)
}

/// One pixel (fully connected layers): the tile with one row.
@inline(never)
private func i8_gemm_tile_1x16c4_dot(
    a: UnsafePointer<Int8>, reductionSize: Int, b: UnsafePointer<Int8>, channels: I8TileChannels, columns: Int,
    c: UnsafeMutablePointer<Int8>, round: I8RoundClamp
) {
    i8_gemm_tile_dot(
        rowCount: 1, rows: 1, a: a, aStride: 0, reductionSize: reductionSize, b: b, channels: channels,
        columns: columns, c: c, cStride: 0, round: round)
}

/// The dot-product GEMM of `pixelCount` int8 rows of K = `reductionSize` values, `aStride` apart: every
/// 16-channel block over all the pixels (a chunk of about 50, so their rows stay in cache).
private func i8_gemm_rows_dot(
    tile: I8DotTile, a: UnsafePointer<Int8>, aStride: Int, pixelCount: Int, reductionSize: Int,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
    outputChannels: Int, output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, round: I8RoundClamp
) {
    let blockBytes = i8_rowLength(reductionSize) * gemmI8BlockChannels
    var channel = 0
    var b = weights
    while channel < outputChannels {
        let channels = I8TileChannels(blockBias: bias + channel, multipliers: multipliers + channel)
        let columns = min(gemmI8BlockChannels, outputChannels - channel)
        if pixelCount == 1 {
            i8_gemm_tile_1x16c4_dot(
                a: a, reductionSize: reductionSize, b: b, channels: channels, columns: columns, c: output + channel,
                round: round)
        } else {
            var pixel = 0
            while pixel < pixelCount {
                let rows = min(tile.pixels, pixelCount - pixel), c = output + pixel * outputPixelStride + channel
                switch tile {
                case .sdot5x16:
                    i8_gemm_tile_5x16c4_sdot(
                        rows: rows, a: a + pixel * aStride, aStride: aStride, reductionSize: reductionSize, b: b,
                        channels: channels, columns: columns, c: c, cStride: outputPixelStride, round: round)
                case .neon4x16:
                    i8_gemm_tile_4x16c4_neon(
                        rows: rows, a: a + pixel * aStride, aStride: aStride, reductionSize: reductionSize, b: b,
                        channels: channels, columns: columns, c: c, cStride: outputPixelStride, round: round)
                }
                pixel += tile.pixels
            }
        }
        channel += gemmI8BlockChannels
        b += blockBytes
    }
}

/// `i8_conv1x1_gemm_6x8c4` with a dot-product tile, same arguments and results, on the input pixels in
/// place (no scratch), `tile.chunkPixels` at a time.
public func i8_conv1x1_gemm_dot(
    tile: I8DotTile, input: UnsafePointer<Int8>, inputPixelStride: Int, pixelCount: Int, inputChannels: Int,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
    outputChannels: Int, output: UnsafeMutablePointer<Int8>, outputPixelStride: Int,
    requantization: I8Requantization
) {
    let round = I8RoundClamp(requantization)
    var chunkStart = 0
    while chunkStart < pixelCount {
        let count = min(tile.chunkPixels, pixelCount - chunkStart)
        i8_gemm_rows_dot(
            tile: tile, a: input + chunkStart * inputPixelStride, aStride: inputPixelStride, pixelCount: count,
            reductionSize: inputChannels, weights: weights, bias: bias, multipliers: multipliers,
            outputChannels: outputChannels, output: output + chunkStart * outputPixelStride,
            outputPixelStride: outputPixelStride, round: round)
        chunkStart += count
    }
}

/// `i8_conv_gemm_6x8c4` with a dot-product tile, same arguments and results; `scratch`:
/// `i8_conv_gemm_scratchCount(geometry:)` int8s (im2col rows, not widened).
public func i8_conv_gemm_dot(
    tile: I8DotTile, input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8, geometry g: ConvGeometry,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, requantization: I8Requantization,
    outputRows: Range<Int>, scratch: UnsafeMutablePointer<Int8>
) {
    let round = I8RoundClamp(requantization)
    i8_im2col_chunks(
        input: input, inputPixelStride: inputPixelStride, zeroPoint: inputZeroPoint, geometry: g,
        outputRows: outputRows, scratch: scratch
    ) { rows, rowLength, first, count in
        i8_gemm_rows_dot(
            tile: tile, a: rows, aStride: rowLength, pixelCount: count, reductionSize: rowLength, weights: weights, bias: bias,
            multipliers: multipliers, outputChannels: g.outputChannels, output: output + first * outputPixelStride,
            outputPixelStride: outputPixelStride, round: round)
    }
}

/// Sign-extends `count` int8 values to int16 (16- and 8-wide steps, scalar tail; reads and writes only `count`:
/// the stem's im2col runs are 9 values).
@inline(always)
private func i8_widen(_ source: UnsafePointer<Int8>, to destination: UnsafeMutablePointer<Int16>, count: Int) {
    var i = 0
    while i + 16 <= count {
        let v = i8_load(source + i)
        var w = SIMD16<Int16>()
        for lane in 0..<16 { w[lane] = Int16(v[lane]) }
        UnsafeMutableRawPointer(destination + i).storeBytes(of: w, as: SIMD16<Int16>.self)
        i += 16
    }
    if i + 8 <= count {
        let v = UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Int8>.self)
        var w = SIMD8<Int16>()
        for lane in 0..<8 { w[lane] = Int16(v[lane]) }
        UnsafeMutableRawPointer(destination + i).storeBytes(of: w, as: SIMD8<Int16>.self)
        i += 8
    }
    while i < count {
        destination[i] = Int16(source[i])
        i += 1
    }
}

/// Int16s of `scratch` that `i8_conv1x1_gemm_6x8c4` needs: the widened rows of one pixel chunk.
public func i8_conv1x1_gemm_scratchCount(inputChannels: Int) -> Int {
    i8GEMMChunkPixels * i8_rowLength(inputChannels)
}

/// K rounded up to whole 4-k groups: the length of a widened row (the extra k are zero, as their weights).
private func i8_rowLength(_ reductionSize: Int) -> Int {
    (reductionSize + gemmI8GroupSize - 1) / gemmI8GroupSize * gemmI8GroupSize
}

/// Pointwise (1x1, stride 1, no padding, groups 1) int8 convolution over `pixelCount` pixels, which is a GEMM
/// [pixelCount x inputChannels] x [inputChannels x outputChannels]; a fully connected layer is the case
/// pixelCount == 1 (one-row tiles). `weights`: gemmI8C4 with K = inputChannels; `bias`: folded int32 bias and
/// `multipliers`: m[c] = s_x·s_w[c]/s_y, both padded to a multiple of 16 (Int8WeightPacking.swift).
/// `scratch`: `i8_conv1x1_gemm_scratchCount(inputChannels:)` int16s, not shared with a concurrent call.
/// Writes only channels 0..<outputChannels of each output pixel. Results do not depend on how callers split the
/// pixels (or the output channels by 16-channel blocks) between calls.
public func i8_conv1x1_gemm_6x8c4(
    input: UnsafePointer<Int8>, inputPixelStride: Int, pixelCount: Int, inputChannels: Int,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
    outputChannels: Int, output: UnsafeMutablePointer<Int8>, outputPixelStride: Int,
    requantization: I8Requantization, scratch: UnsafeMutablePointer<Int16>
) {
    let rowLength = i8_rowLength(inputChannels)
    let round = I8RoundClamp(requantization)
    var chunkStart = 0
    while chunkStart < pixelCount {
        let count = min(i8GEMMChunkPixels, pixelCount - chunkStart)
        for i in 0..<count {
            let row = scratch + i * rowLength
            i8_widen(input + (chunkStart + i) * inputPixelStride, to: row, count: inputChannels)
            for k in inputChannels..<rowLength { row[k] = 0 }
        }
        i8_gemm_rows(
            a: scratch, aStride: rowLength, pixelCount: count, groups: rowLength / gemmI8GroupSize,
            weights: weights, bias: bias, multipliers: multipliers, outputChannels: outputChannels,
            output: output + chunkStart * outputPixelStride, outputPixelStride: outputPixelStride, round: round)
        chunkStart += count
    }
}

/// Int16s of `scratch` that `i8_conv_gemm_6x8c4` needs for `geometry`: the im2col rows of one pixel chunk
/// (also the int8s `i8_conv_gemm_dot` needs).
public func i8_conv_gemm_scratchCount(geometry: ConvGeometry) -> Int {
    i8GEMMChunkPixels * i8_rowLength(geometry.reductionSize)
}

/// Int8 convolution with groups == 1 and any kernel size, stride, padding and dilation: im2col of a chunk of
/// output pixels into int16 rows in `scratch` (padded taps hold the input zero point z_x, i.e. real zero, as
/// the folded bias assumes), then the GEMM on those rows. `input`/`output` point at pixel (0, 0) of their views;
/// only output rows `outputRows` are computed, so callers can split a layer by rows. `weights`: gemmI8C4 with
/// K = KH*KW*Cin; `bias`, `multipliers`: as for `i8_conv1x1_gemm_6x8c4`. `scratch`:
/// `i8_conv_gemm_scratchCount(geometry:)` int16s, not shared with a concurrent call.
public func i8_conv_gemm_6x8c4(
    input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8, geometry g: ConvGeometry,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, requantization: I8Requantization,
    outputRows: Range<Int>, scratch: UnsafeMutablePointer<Int16>
) {
    let round = I8RoundClamp(requantization)
    i8_im2col_chunks(
        input: input, inputPixelStride: inputPixelStride, zeroPoint: Int16(inputZeroPoint), geometry: g,
        outputRows: outputRows, scratch: scratch
    ) { rows, rowLength, first, count in
        i8_gemm_rows(
            a: rows, aStride: rowLength, pixelCount: count, groups: rowLength / gemmI8GroupSize,
            weights: weights, bias: bias, multipliers: multipliers, outputChannels: g.outputChannels,
            output: output + first * outputPixelStride, outputPixelStride: outputPixelStride, round: round)
    }
}

/// The element of im2col rows: int16 for the 6x8 tile (widened), int8 for the dot-product tile.
private protocol I8RowElement: FixedWidthInteger {
    /// Copies `count` int8 values to `destination` as this type.
    static func copy(_ source: UnsafePointer<Int8>, to destination: UnsafeMutablePointer<Self>, count: Int)
}

extension Int16: I8RowElement {
    @inline(always)
    fileprivate static func copy(_ source: UnsafePointer<Int8>, to destination: UnsafeMutablePointer<Int16>, count: Int) {
        i8_widen(source, to: destination, count: count)
    }
}

extension Int8: I8RowElement {
    /// 16- and 8-byte steps, then bytes (`update(from:count:)` is a memmove call per kernel row).
    @inline(always)
    fileprivate static func copy(_ source: UnsafePointer<Int8>, to destination: UnsafeMutablePointer<Int8>, count: Int) {
        var i = 0
        while i + 16 <= count {
            UnsafeMutableRawPointer(destination + i).storeBytes(of: i8_load(source + i), as: SIMD16<Int8>.self)
            i += 16
        }
        if i + 8 <= count {
            let v = UnsafeRawPointer(source + i).loadUnaligned(as: UInt64.self)
            UnsafeMutableRawPointer(destination + i).storeBytes(of: v, as: UInt64.self)
            i += 8
        }
        while i < count {
            destination[i] = source[i]
            i += 1
        }
    }
}

/// Output rows `outputRows` of a convolution, `i8GEMMChunkPixels` output pixels at a time: their im2col rows
/// (`i8_rowLength(K)` long, zero past K, `rowLength` apart) into `scratch`, then `gemm(rows, rowLength,
/// first pixel, count)` computes those pixels (index `first` in the output, row-major).
@inline(always)
private func i8_im2col_chunks<T: I8RowElement>(
    input: UnsafePointer<Int8>, inputPixelStride: Int, zeroPoint: T, geometry g: ConvGeometry,
    outputRows: Range<Int>, scratch: UnsafeMutablePointer<T>,
    gemm: (_ rows: UnsafePointer<T>, _ rowLength: Int, _ first: Int, _ count: Int) -> Void
) {
    let rowLength = i8_rowLength(g.reductionSize)
    let end = outputRows.upperBound * g.outputWidth
    var chunkStart = outputRows.lowerBound * g.outputWidth
    var y = outputRows.lowerBound, x = 0
    while chunkStart < end {
        let count = min(i8GEMMChunkPixels, end - chunkStart)
        for i in 0..<count {
            let row = scratch + i * rowLength
            i8_im2col_row(
                input: input, inputPixelStride: inputPixelStride, zeroPoint: zeroPoint, geometry: g,
                outputY: y, outputX: x, row: row)
            for k in g.reductionSize..<rowLength { row[k] = 0 }
            x += 1
            if x == g.outputWidth { (x, y) = (0, y + 1) }
        }
        gemm(scratch, rowLength, chunkStart, count)
        chunkStart += count
    }
}

/// The K = KH*KW*Cin inputs of one output pixel in (kh, kw, cin) order, as T, z_x for taps in the
/// padding. With dilation 1 and a dense input the taps of a kernel row are one contiguous run (the 3-channel
/// stem: 9 values). Per pixel cost matters here (the stem's GEMM is short): no divisions for dilation 1, and
/// padding is written by plain loops (they are a few values; `update(repeating:)` is a call).
@inline(always)
private func i8_im2col_row<T: I8RowElement>(
    input: UnsafePointer<Int8>, inputPixelStride: Int, zeroPoint: T, geometry g: ConvGeometry,
    outputY: Int, outputX: Int, row: UnsafeMutablePointer<T>
) {
    let cin = g.inputChannels
    let originY = outputY * g.strideHeight - g.padTop
    let originX = outputX * g.strideWidth - g.padLeft
    let columnTaps: Range<Int>
    if g.dilationWidth == 1 {  // f32_validTaps without its divisions
        let first = min(max(0, -originX), g.kernelWidth)
        columnTaps = first..<max(first, min(g.kernelWidth, g.inputWidth - originX))
    } else {
        columnTaps = f32_validTaps(
            origin: originX, dilation: g.dilationWidth, kernelSize: g.kernelWidth, inputSize: g.inputWidth)
    }
    let contiguous = g.dilationWidth == 1 && inputPixelStride == cin
    let rowLength = g.kernelWidth * cin
    var kernelRow = row
    for ky in 0..<g.kernelHeight {
        let y = originY + ky * g.dilationHeight
        if y < 0 || y >= g.inputHeight {
            for k in 0..<rowLength { kernelRow[k] = zeroPoint }
        } else {
            for k in 0..<columnTaps.lowerBound * cin { kernelRow[k] = zeroPoint }
            let firstX = originX + columnTaps.lowerBound * g.dilationWidth
            let first = input + (y * g.inputWidth + firstX) * inputPixelStride
            if contiguous {
                T.copy(first, to: kernelRow + columnTaps.lowerBound * cin, count: columnTaps.count * cin)
            } else {
                for (i, kx) in columnTaps.enumerated() {
                    T.copy(first + i * g.dilationWidth * inputPixelStride, to: kernelRow + kx * cin, count: cin)
                }
            }
            for k in columnTaps.upperBound * cin..<rowLength { kernelRow[k] = zeroPoint }
        }
        kernelRow += rowLength
    }
}
