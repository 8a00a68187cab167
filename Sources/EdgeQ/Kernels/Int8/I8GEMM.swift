// Int8 convolution as GEMM: acc[pixel][o] = bias[o] + Σ_k A[pixel][k]·W[o][k] in int32, then the
// requantization rule of QUANTIZATION.md per output channel. A is the input pixels (1x1 convolution, fully
// connected) or their im2col rows (any other groups == 1 convolution); W is gemmI8C4 (Int8WeightPacking.swift).
//
// A chunk of pixels is first widened to int16 rows in `scratch` (K rounded up to whole 4-k groups, zero
// padded); the weights stay int8. Register tile: 6 pixels x 8 output channels (half of a 16-channel weight
// block), 4 k per step. `i8_dotPairs` of a 16-byte quarter weight row (4 channels x 4 k) and a pixel's 4
// activations repeated 4 times is, on AVX2, one vpmovsxbw of the weights and one vpmaddwd: 16 multiply-adds
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
// about 2 multiply-adds per instruction against fmla's 4, and never into sdot (LLVM forms sdot only from
// loop-vectorizer partial reductions, which a register-tiled kernel is not).
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

/// Per-channel constants of a tile, repeated for the two pixels of an epilogue vector.
private struct I8TileChannels {
    var bias: SIMD16<Int32>
    var multipliers: SIMD16<Float>

    @inline(always)
    init(bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>) {
        let b = UnsafeRawPointer(bias).loadUnaligned(as: SIMD8<Int32>.self)
        let m = UnsafeRawPointer(multipliers).loadUnaligned(as: SIMD8<Float>.self)
        self.bias = SIMD16(lowHalf: b, highHalf: b)
        self.multipliers = SIMD16(lowHalf: m, highHalf: m)
    }

    /// Requantizes two pixels' channel sums (bias not yet added); lanes 0..<8 go to `p`, 8..<16 to `q`
    /// (when `storeSecond`), `columns` of each.
    @inline(always)
    func store(
        _ sums: SIMD16<Int32>, _ round: I8RoundClamp, to p: UnsafeMutablePointer<Int8>,
        _ q: UnsafeMutablePointer<Int8>, storeSecond: Bool, columns: Int
    ) {
        let y = round.wide(i8_float(sums &+ bias) * multipliers)
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
    let channels = I8TileChannels(bias: bias, multipliers: multipliers)
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

/// Int16s of `scratch` that `i8_conv_gemm_6x8c4` needs for `geometry`: the im2col rows of one pixel chunk.
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
    let rowLength = i8_rowLength(g.reductionSize)
    let round = I8RoundClamp(requantization)
    let end = outputRows.upperBound * g.outputWidth
    var chunkStart = outputRows.lowerBound * g.outputWidth
    var y = outputRows.lowerBound, x = 0
    while chunkStart < end {
        let count = min(i8GEMMChunkPixels, end - chunkStart)
        for i in 0..<count {
            let row = scratch + i * rowLength
            i8_im2col_row(
                input: input, inputPixelStride: inputPixelStride, zeroPoint: Int16(inputZeroPoint), geometry: g,
                outputY: y, outputX: x, row: row)
            for k in g.reductionSize..<rowLength { row[k] = 0 }
            x += 1
            if x == g.outputWidth { (x, y) = (0, y + 1) }
        }
        i8_gemm_rows(
            a: scratch, aStride: rowLength, pixelCount: count, groups: rowLength / gemmI8GroupSize,
            weights: weights, bias: bias, multipliers: multipliers, outputChannels: g.outputChannels,
            output: output + chunkStart * outputPixelStride, outputPixelStride: outputPixelStride, round: round)
        chunkStart += count
    }
}

/// The K = KH*KW*Cin inputs of one output pixel in (kh, kw, cin) order, widened to int16, z_x for taps in the
/// padding. With dilation 1 and a dense input the taps of a kernel row are one contiguous run (the 3-channel
/// stem: 9 values). Per pixel cost matters here (the stem's GEMM is short): no divisions for dilation 1, and
/// padding is written by plain loops (they are a few values; `update(repeating:)` is a call).
@inline(always)
private func i8_im2col_row(
    input: UnsafePointer<Int8>, inputPixelStride: Int, zeroPoint: Int16, geometry g: ConvGeometry,
    outputY: Int, outputX: Int, row: UnsafeMutablePointer<Int16>
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
                i8_widen(first, to: kernelRow + columnTaps.lowerBound * cin, count: columnTaps.count * cin)
            } else {
                for (i, kx) in columnTaps.enumerated() {
                    i8_widen(
                        first + i * g.dilationWidth * inputPixelStride, to: kernelRow + kx * cin, count: cin)
                }
            }
            for k in columnTaps.upperBound * cin..<rowLength { kernelRow[k] = zeroPoint }
        }
        kernelRow += rowLength
    }
}
