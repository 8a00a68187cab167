import CEdgeQDot

// Int8 depthwise convolution (groups == Cin == Cout) on depthwiseHWC int8 weights ([KH][KW][C]), vectorized over
// 16 channels: for one tap, a pixel's channels and the tap's weights are both contiguous.
// acc[c] = bias[c] + Σ_taps w[tap][c]·x[tap][c] over the whole window, a padded tap reading z_x (real zero, as
// the folded bias assumes), then the requantization rule with the channel's multiplier.
// Taps go in pairs (t, t+1) in (ky, kx) order, an odd last tap paired with a zero weight (I8DepthwiseSums):
// - AVX2: the two taps' bytes interleaved make one `i8_dotPairs` per 8 channels, i.e. per pixel, tap pair and
//   16 channels 2 unpacks, 2 vpmovsxbw, 2 vpmaddwd and 2 vpaddd for 32 multiply-adds (float needs 4 FMAs, so
//   int8 cannot match float per instruction here; it saves the loads of a 4x wider tensor).
// - NEON: the same interleaving became zip + smull + sshll + sshll + addp + add (24 instructions per pixel,
//   tap pair and 16 channels). Instead the two taps' products are summed in int16 lanes (smull + smlal .8h),
//   then widened into the int32 sums (saddw): 2 loads, 2 smull, 2 smlal, 4 saddw, no interleaving. Exact
//   because weights lie in [-127, 127] (checked at load, Model/EQMFile.swift): |w·x| <= 127·128 = 16256, so
//   two products stay inside int16.
// - NEON dot product (rpi5, kernel row i8_dwconv_4x16c4_sdot, only with EDGEQ_DOTPROD): each whole group of 4
//   taps is 4 sdot per pixel and 16 channels, on weights packed once at load as 4 channels x 4 taps per vector
//   (packDepthwiseI8C4, Int8WeightPacking.swift) and the pixel's 4 input vectors transposed to match with one
//   4-register tbl per sdot (CEdgeQDot's edgeq_transpose4): 4 loads, 4 tbl, 4 sdot where the pairs take
//   2 x (2 loads, 2 smull, 2 smlal, 4 saddw). The taps past the last whole group (the 9th of 3x3, the 25th of
//   5x5) go through the pair step above. Measured under qemu cortex-a76 (insncount, one inference): the
//   4-pixel inner loop of a 4-tap group went from 98 to 65 instructions (6 of them spills, reloads and moves);
//   MobileNetV2 int8 81.25M -> 79.53M (-2.1%), GhostNet int8 61.77M -> 60.23M (-2.5%): depthwise is a small
//   share of either model.
//   Other builds (sdotWeights nil) never take it.
// The sums are exact integers, so this order gives the reference's result bit for bit.
// Every kernel size runs the same loop over a table of tap offsets built once per call; constant 3x3 and 5x5
// instances (fully unrolled tap loops, as the float kernel has) measured 4% slower on the MobileNetV2 layers.
// Channels go 16 at a time; a last partial block is the view's last 16 channels (overlapping the previous block),
// and a view of fewer than 16 channels has one block in a lane layout with whole-vector loads and stores
// (I8DepthwiseLanes), each layout its own specialization of the pixel loops.
// Pixels whose windows lie inside the input go 4 at a time; top and bottom rows too (checking tap rows only).
// Address arithmetic uses wrapping operators: the offsets stay inside the views, and overflow checks in the
// tap loops cost more than the multiply-adds.

/// Where each tap of the window reads, relative to the window's first tap: computed once per call.
private struct I8DepthwiseTaps {
    var offsets: UnsafeMutablePointer<Int>  // input elements
    var rows: UnsafeMutablePointer<Int>     // input rows (ky·dilation)
    var columns: UnsafeMutablePointer<Int>  // input columns (kx·dilation)
    var count: Int
}

/// One output pixel, or 4 horizontally adjacent ones (`grouped`; their windows lie inside the input's columns):
/// four independent accumulator chains sharing each weight pair. `clipRows` checks every tap's input row and
/// reads z_x outside the input (the same for the whole group); `clipColumns` (single pixels) checks columns too.
/// Unclipped pixels read every tap.
private struct I8DepthwisePixels {
    static let groupSize = 4  // `run` is written out for it

    var grouped: Bool
    var clipRows: Bool
    var clipColumns: Bool
    var input: UnsafePointer<Int8>       // pixel (0, 0) of the input view
    var inputPixelStride: Int
    var inputHeight: Int
    var inputWidth: Int
    var originY: Int                     // input row and column of the (first) pixel's first tap
    var originX: Int
    var pixelStep: Int                   // elements between the windows of grouped pixels
    var taps: I8DepthwiseTaps
    var zeroPoint: Int8
    var weights: UnsafePointer<Int8>
    var sdotWeights: UnsafePointer<Int8>  // packDepthwiseI8C4 (read by the sdot layout only)
    var bias: UnsafePointer<Int32>
    var multipliers: UnsafePointer<Float>
    var channels: Int
    var output: UnsafeMutablePointer<Int8>
    var outputPixelStride: Int
    var round: I8RoundClamp

    /// Tap t's input channels (in `lanes`) of the group's pixel `pixel`; a clipped tap outside the input is z_x
    /// (and no pointer outside the input is formed).
    @inline(always)
    func tapInput<L>(_ t: Int, pixel: Int, channel: Int, lanes: I8DepthwiseLanes<L>) -> SIMD16<Int8> {
        if clipRows {
            let y = originY &+ taps.rows[t]
            if y < 0 || y >= inputHeight { return SIMD16(repeating: zeroPoint) }
        }
        if clipColumns {
            let x = originX &+ taps.columns[t]
            if x < 0 || x >= inputWidth { return SIMD16(repeating: zeroPoint) }
        }
        let window = (originY &* inputWidth &+ originX) &* inputPixelStride &+ channel
        return lanes.load(input + (window &+ taps.offsets[t] &+ pixel &* pixelStep))
    }

    @inline(always)
    func run<L>(channel: Int, lanes: I8DepthwiseLanes<L>) {
        var sums = I8DepthwiseSums()
        var t = 0
        if L.sdot {
            while t &+ 4 <= taps.count {
                accumulate4(&sums, t, channel: channel, lanes: lanes)
                t &+= 4
            }
        }
        while t &+ 1 < taps.count {
            accumulate(&sums, t, second: true, channel: channel, lanes: lanes)
            t &+= 2
        }
        if t < taps.count { accumulate(&sums, t, second: false, channel: channel, lanes: lanes) }
        let b = lanes.load32(bias + channel)
        let m = unsafeBitCast(lanes.load32(multipliers + channel), to: SIMD16<Float>.self)
        @inline(always)
        func store(_ s: (SIMD8<Int32>, SIMD8<Int32>), _ pixel: Int) {
            let y = round(i8_float(SIMD16(lowHalf: s.0, highHalf: s.1) &+ b) * m)
            lanes.store(y, to: output + (pixel &* outputPixelStride &+ channel))
        }
        store(sums.s0, 0)
        if grouped {
            store(sums.s1, 1)
            store(sums.s2, 2)
            store(sums.s3, 3)
        }
    }

    /// Taps t ..< t+4 (t a multiple of 4) with sdot: the weights packed 4 channels x 4 taps per vector
    /// (`packDepthwiseI8C4`), each pixel's 4 input vectors transposed to match (4 tbl).
    @inline(always)
    func accumulate4<L>(_ sums: inout I8DepthwiseSums, _ t: Int, channel: Int, lanes: I8DepthwiseLanes<L>) {
        let w = UnsafeRawPointer(sdotWeights + ((t >> 2) &* channels &+ channel) &* 4)
        let w0 = w.loadUnaligned(as: SIMD16<Int8>.self)
        let w1 = w.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self)
        let w2 = w.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int8>.self)
        let w3 = w.loadUnaligned(fromByteOffset: 48, as: SIMD16<Int8>.self)
        @inline(always)
        func add(_ s: (SIMD8<Int32>, SIMD8<Int32>), _ pixel: Int) -> (SIMD8<Int32>, SIMD8<Int32>) {
            let x = edgeq_transpose4(
                tapInput(t, pixel: pixel, channel: channel, lanes: lanes),
                tapInput(t &+ 1, pixel: pixel, channel: channel, lanes: lanes),
                tapInput(t &+ 2, pixel: pixel, channel: channel, lanes: lanes),
                tapInput(t &+ 3, pixel: pixel, channel: channel, lanes: lanes))
            return (
                SIMD8(lowHalf: edgeq_sdot(s.0.lowHalf, w0, x.v0), highHalf: edgeq_sdot(s.0.highHalf, w1, x.v1)),
                SIMD8(lowHalf: edgeq_sdot(s.1.lowHalf, w2, x.v2), highHalf: edgeq_sdot(s.1.highHalf, w3, x.v3)))
        }
        sums.s0 = add(sums.s0, 0)
        if grouped {
            sums.s1 = add(sums.s1, 1)
            sums.s2 = add(sums.s2, 2)
            sums.s3 = add(sums.s3, 3)
        }
    }

    /// Taps t and t+1 (`second`), or t alone with a zero weight for the second (whose input is then t's).
    @inline(always)
    func accumulate<L>(
        _ sums: inout I8DepthwiseSums, _ t: Int, second: Bool, channel: Int, lanes: I8DepthwiseLanes<L>
    ) {
        let w = weights + (t &* channels &+ channel)
        let pair = I8DepthwiseSums.weights(lanes.load(w), second ? lanes.load(w + channels) : SIMD16())
        @inline(always)
        func inputs(_ pixel: Int) -> (SIMD16<Int8>, SIMD16<Int8>) {
            let x0 = tapInput(t, pixel: pixel, channel: channel, lanes: lanes)
            return (x0, second ? tapInput(t &+ 1, pixel: pixel, channel: channel, lanes: lanes) : x0)
        }
        sums.s0 = I8DepthwiseSums.add(sums.s0, pair, inputs(0))
        if grouped {
            sums.s1 = I8DepthwiseSums.add(sums.s1, pair, inputs(1))
            sums.s2 = I8DepthwiseSums.add(sums.s2, pair, inputs(2))
            sums.s3 = I8DepthwiseSums.add(sums.s3, pair, inputs(3))
        }
    }
}

/// Which channels of a block the 16 lanes hold. `half` 16: a full block, lane i = channel i. A block of
/// count < 16 channels (only when the view has fewer than 16): `half` 8 (count 8...15) or 4 (count 4...7):
/// lanes 0..<half are channels 0..<half, lanes half..<2·half channels tail..<tail + half (tail = count − half;
/// the two overlap when count < 2·half), lanes past 2·half zero; `half` 1 (count 1...3): lanes 0, 1, 2 are
/// channels 0, mid, tail. Lanes are independent, so a block may hold its channels in any order and some twice
/// (a store writes such a channel's one value twice); this way every load and store is a few vector moves that
/// touch only channels 0..<count, where lane-at-a-time loops for a variable count went through the stack and
/// made such a block ~80x slower than a full one (C = 8 at 112x112: 0.16 GMAC/s, now 9). `half` is a constant
/// in each instance of the pixel loops: a type parameter (an `Int` field left LLVM's lane loops, e.g.
/// `i8_narrow`'s, rolled in every layout). Halves are joined with `init(lowHalf:highHalf:)`: built from two
/// UInt64 loads instead, the 8-lane layout ran at half the speed.
private struct I8DepthwiseLanes<Layout: I8DepthwiseLaneLayout> {
    var mid = 0
    var tail = 0
    @inline(always) var half: Int { Layout.half }

    @inline(always)
    func load(_ p: UnsafePointer<Int8>) -> SIMD16<Int8> {
        let r = UnsafeRawPointer(p)
        switch half {
        case 16:
            return r.loadUnaligned(as: SIMD16<Int8>.self)
        case 8:
            return SIMD16(
                lowHalf: r.loadUnaligned(as: SIMD8<Int8>.self),
                highHalf: r.loadUnaligned(fromByteOffset: tail, as: SIMD8<Int8>.self))
        case 4:
            let low = SIMD8(
                lowHalf: r.loadUnaligned(as: SIMD4<Int8>.self),
                highHalf: r.loadUnaligned(fromByteOffset: tail, as: SIMD4<Int8>.self))
            return SIMD16(lowHalf: low, highHalf: SIMD8())
        default:
            var v = SIMD16<Int8>()
            v[0] = p[0]
            v[1] = p[mid]
            v[2] = p[tail]
            return v
        }
    }

    /// The same for 32-bit values (the bias, and the multipliers' bit patterns).
    @inline(always)
    func load32(_ r: UnsafeRawPointer) -> SIMD16<Int32> {
        switch half {
        case 16:
            return r.loadUnaligned(as: SIMD16<Int32>.self)
        case 8:
            return SIMD16(
                lowHalf: r.loadUnaligned(as: SIMD8<Int32>.self),
                highHalf: r.loadUnaligned(fromByteOffset: 4 &* tail, as: SIMD8<Int32>.self))
        case 4:
            let low = SIMD8(
                lowHalf: r.loadUnaligned(as: SIMD4<Int32>.self),
                highHalf: r.loadUnaligned(fromByteOffset: 4 &* tail, as: SIMD4<Int32>.self))
            return SIMD16(lowHalf: low, highHalf: SIMD8())
        default:
            var v = SIMD16<Int32>()
            v[0] = r.loadUnaligned(as: Int32.self)
            v[1] = r.loadUnaligned(fromByteOffset: 4 &* mid, as: Int32.self)
            v[2] = r.loadUnaligned(fromByteOffset: 4 &* tail, as: Int32.self)
            return v
        }
    }

    @inline(always)
    func store(_ v: SIMD16<Int8>, to p: UnsafeMutablePointer<Int8>) {
        let r = UnsafeMutableRawPointer(p)
        switch half {
        case 16:
            r.storeBytes(of: v, as: SIMD16<Int8>.self)
        case 8:
            r.storeBytes(of: v.highHalf, toByteOffset: tail, as: SIMD8<Int8>.self)
            r.storeBytes(of: v.lowHalf, as: SIMD8<Int8>.self)
        case 4:
            let q = unsafeBitCast(v, to: SIMD4<UInt32>.self)
            r.storeBytes(of: q[1], toByteOffset: tail, as: UInt32.self)
            r.storeBytes(of: q[0], as: UInt32.self)
        default:
            p[tail] = v[2]
            p[mid] = v[1]
            p[0] = v[0]
        }
    }
}

private protocol I8DepthwiseLaneLayout {
    static var half: Int { get }
    /// Whole groups of 4 taps with sdot on packDepthwiseI8C4 weights (half 16 only), the rest in pairs.
    static var sdot: Bool { get }
}
extension I8DepthwiseLaneLayout { static var sdot: Bool { false } }
private enum I8DepthwiseLanes16Sdot: I8DepthwiseLaneLayout {
    static var half: Int { 16 }
    static var sdot: Bool { true }
}
private enum I8DepthwiseLanes16: I8DepthwiseLaneLayout { static var half: Int { 16 } }
private enum I8DepthwiseLanes8: I8DepthwiseLaneLayout { static var half: Int { 8 } }
private enum I8DepthwiseLanes4: I8DepthwiseLaneLayout { static var half: Int { 4 } }
private enum I8DepthwiseLanes1: I8DepthwiseLaneLayout { static var half: Int { 1 } }

/// The accumulators of up to 4 pixels x 16 channels (channels 0..<8, 8..<16), and one tap pair's step for
/// each ISA (see the file comment).
private struct I8DepthwiseSums {
    var s0 = (SIMD8<Int32>(), SIMD8<Int32>())
    var s1 = (SIMD8<Int32>(), SIMD8<Int32>())
    var s2 = (SIMD8<Int32>(), SIMD8<Int32>())
    var s3 = (SIMD8<Int32>(), SIMD8<Int32>())

#if arch(arm64)
    /// A tap pair's weights as `add` takes them: the two taps' vectors.
    typealias Weights = (SIMD16<Int8>, SIMD16<Int8>)

    @inline(always)
    static func weights(_ w0: SIMD16<Int8>, _ w1: SIMD16<Int8>) -> Weights { (w0, w1) }

    /// s + w0·x0 + w1·x1 per channel, the two products summed in int16 (exact for weights in [-127, 127]).
    @inline(always)
    static func add(
        _ s: (SIMD8<Int32>, SIMD8<Int32>), _ w: Weights, _ x: (SIMD16<Int8>, SIMD16<Int8>)
    ) -> (SIMD8<Int32>, SIMD8<Int32>) {
        // Whole-vector operations on widened lanes: one lane loop computing both products stayed a scalar loop.
        let products = i8_widen16(w.0) &* i8_widen16(x.0) &+ i8_widen16(w.1) &* i8_widen16(x.1)
        let sums = i8_widen(products)
        return (s.0 &+ sums.lowHalf, s.1 &+ sums.highHalf)
    }
#else
    /// A tap pair's weights as `add` takes them: interleaved once for all pixels.
    typealias Weights = (low: SIMD16<Int8>, high: SIMD16<Int8>)

    @inline(always)
    static func weights(_ w0: SIMD16<Int8>, _ w1: SIMD16<Int8>) -> Weights { i8_interleave(w0, w1) }

    /// s + w0·x0 + w1·x1 per channel: the taps interleaved, products of adjacent lanes summed.
    @inline(always)
    static func add(
        _ s: (SIMD8<Int32>, SIMD8<Int32>), _ w: Weights, _ x: (SIMD16<Int8>, SIMD16<Int8>)
    ) -> (SIMD8<Int32>, SIMD8<Int32>) {
        let x = i8_interleave(x.0, x.1)
        return (s.0 &+ i8_dotPairs(w.low, x.low), s.1 &+ i8_dotPairs(w.high, x.high))
    }
#endif
}

/// Int8 depthwise convolution, any kernel size, stride, padding and dilation. `input`/`output` point at pixel
/// (0, 0) of their views; only output rows `outputRows` are computed (callers may split a layer by rows).
/// `weights`: depthwiseHWC int8 [KH][KW][C]; `bias`: folded int32 [C] (bias − z_x·Σ_taps w); `multipliers`:
/// m[c] = s_x·s_w[c]/s_y, [C].
public func i8_dwconv(
    input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8, geometry g: ConvGeometry,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, requantization: I8Requantization,
    outputRows: Range<Int>, sdotWeights: UnsafePointer<Int8>? = nil
) {
    let tapCount = g.kernelHeight * g.kernelWidth
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * tapCount) { table in
        let taps = I8DepthwiseTaps(
            offsets: table.baseAddress!, rows: table.baseAddress! + tapCount,
            columns: table.baseAddress! + 2 * tapCount, count: tapCount)
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let t = ky * g.kernelWidth + kx
                taps.rows[t] = ky * g.dilationHeight
                taps.columns[t] = kx * g.dilationWidth
                taps.offsets[t] = (taps.rows[t] * g.inputWidth + taps.columns[t]) * inputPixelStride
            }
        }
        // One specialization of the pixel loops per lane layout.
        @inline(always)
        func rows<L>(_ lanes: I8DepthwiseLanes<L>) {
            i8_dwconvRows(
                lanes, taps: taps, input: input, inputPixelStride: inputPixelStride, inputZeroPoint: inputZeroPoint,
                geometry: g, weights: weights, sdotWeights: sdotWeights ?? weights, bias: bias,
                multipliers: multipliers, output: output,
                outputPixelStride: outputPixelStride, requantization: requantization, outputRows: outputRows)
        }
        let channels = g.inputChannels
        if channels >= 16 && sdotWeights != nil {
            rows(I8DepthwiseLanes<I8DepthwiseLanes16Sdot>())
        } else if channels >= 16 {
            rows(I8DepthwiseLanes<I8DepthwiseLanes16>())
        } else if channels >= 8 {
            rows(I8DepthwiseLanes<I8DepthwiseLanes8>(tail: channels &- 8))
        } else if channels >= 4 {
            rows(I8DepthwiseLanes<I8DepthwiseLanes4>(tail: channels &- 4))
        } else if channels >= 1 {
            rows(I8DepthwiseLanes<I8DepthwiseLanes1>(mid: channels >> 1, tail: channels &- 1))
        }
    }
}

/// Output rows `outputRows` of `i8_dwconv`, every block's channels in `lanes`' layout.
private func i8_dwconvRows<L>(
    _ lanes: I8DepthwiseLanes<L>, taps: I8DepthwiseTaps, input: UnsafePointer<Int8>, inputPixelStride: Int,
    inputZeroPoint: Int8, geometry g: ConvGeometry, weights: UnsafePointer<Int8>, sdotWeights: UnsafePointer<Int8>,
    bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: UnsafeMutablePointer<Int8>,
    outputPixelStride: Int, requantization: I8Requantization, outputRows: Range<Int>
) {
    let round = I8RoundClamp(requantization)
    let interiorRows = f32_interiorOutputs(
        pad: g.padTop, stride: g.strideHeight, dilation: g.dilationHeight, kernelSize: g.kernelHeight,
        inputSize: g.inputHeight, outputSize: g.outputHeight)
    let interiorColumns = f32_interiorOutputs(
        pad: g.padLeft, stride: g.strideWidth, dilation: g.dilationWidth, kernelSize: g.kernelWidth,
        inputSize: g.inputWidth, outputSize: g.outputWidth)
    let channels = g.inputChannels

    @inline(always)
    func pixels(grouped: Bool, clipRows: Bool, clipColumns: Bool, _ y: Int, _ x: Int) {
        let originY = y &* g.strideHeight &- g.padTop, originX = x &* g.strideWidth &- g.padLeft
        let kernel = I8DepthwisePixels(
            grouped: grouped, clipRows: clipRows, clipColumns: clipColumns, input: input,
            inputPixelStride: inputPixelStride,
            inputHeight: g.inputHeight, inputWidth: g.inputWidth, originY: originY, originX: originX,
            pixelStep: g.strideWidth &* inputPixelStride, taps: taps, zeroPoint: inputZeroPoint,
            weights: weights, sdotWeights: sdotWeights, bias: bias, multipliers: multipliers, channels: channels,
            output: output + (y &* g.outputWidth &+ x) &* outputPixelStride,
            outputPixelStride: outputPixelStride, round: round)
        guard lanes.half == 16 else { return kernel.run(channel: 0, lanes: lanes) }
        // A partial last block is the last 16 channels, overlapping the previous block (whose values for the
        // shared channels it recomputes and stores again, bit for bit the same).
        var channel = 0
        while true {
            kernel.run(channel: channel, lanes: lanes)
            channel &+= 16
            if channel >= channels { break }
            if channel &+ 16 > channels { channel = channels &- 16 }
        }
    }

    func borderPixel(_ y: Int, _ x: Int) { pixels(grouped: false, clipRows: true, clipColumns: true, y, x) }

    /// The interior columns of a row, four at a time; `clipRows` for the top and bottom rows.
    @inline(always)
    func interior(_ y: Int, clipRows: Bool) {
        var x = interiorColumns.lowerBound
        while x + I8DepthwisePixels.groupSize <= interiorColumns.upperBound {
            pixels(grouped: true, clipRows: clipRows, clipColumns: false, y, x)
            x += I8DepthwisePixels.groupSize
        }
        while x < interiorColumns.upperBound {
            pixels(grouped: false, clipRows: clipRows, clipColumns: false, y, x)
            x += 1
        }
    }

    for y in outputRows {
        for x in 0..<interiorColumns.lowerBound { borderPixel(y, x) }
        if interiorRows.contains(y) {
            interior(y, clipRows: false)
        } else {
            interior(y, clipRows: true)
        }
        for x in interiorColumns.upperBound..<g.outputWidth { borderPixel(y, x) }
    }
}
