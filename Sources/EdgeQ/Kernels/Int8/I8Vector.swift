// Helpers shared by the int8 kernels: vector loads and stores of int8 views, lane conversions, and the vector
// form of the one requantization rule (QUANTIZATION.md). Lane conversions are written as lane loops, which
// LLVM turns into single vector instructions (vpmovsxbd, vcvtdq2ps, pack/shuffle; sxtl, scvtf, xtn on NEON);
// the generic SIMD initializers (`init(truncatingIfNeeded:)`) stayed out-of-line calls.

/// Where requantized values land: `q = clamp(r + zeroPoint, lo, hi)` for the rounded real r. A fused ReLU
/// or ReLU6 is a narrower [lo, hi] (QUANTIZATION.md).
public struct I8Requantization: Equatable {
    public var zeroPoint: Int32
    public var lo: Int32
    public var hi: Int32

    public init(zeroPoint: Int32, lo: Int32 = -128, hi: Int32 = 127) {
        precondition(-128 <= lo && lo <= hi && hi <= 127, "I8Requantization: bounds outside int8")
        self.zeroPoint = zeroPoint
        self.lo = lo
        self.hi = hi
    }
}

/// 1.5 * 2^23: for |x| <= 2^22, x + magic is exactly magic + roundNearestEven(x) (the sum's ulp is 1, and the
/// float add rounds half to even), so its bit pattern minus magic's is that integer. One add replaces a
/// float-to-int conversion, which LLVM emits as a checked scalar loop for Swift's trapping Int32(Float).
let i8RoundingMagic: Float = 12_582_912
/// Its bit pattern (a literal: `Float.bitPattern` is not inlined across the library boundary on every target).
let i8RoundingMagicBits: Int32 = 0x4B40_0000

/// The vector form of `ref_i8_round_clamp` for one I8Requantization, its constants computed once per kernel
/// call (recomputed in a loop they cost a conversion and a broadcast per vector): clamp to [lo − z, hi − z]
/// (integers, so clamping before rounding equals clamping after; NaN fails `lower < x` and becomes lower,
/// i.e. lo), round half to even with the magic add, add z.
struct I8RoundClamp {
    let lower: SIMD16<Float>
    let upper: SIMD16<Float>
    let offset: SIMD16<Int32>   // z − magic's bit pattern

    init(_ r: I8Requantization) {
        lower = SIMD16(repeating: Float(r.lo &- r.zeroPoint))
        upper = SIMD16(repeating: Float(r.hi &- r.zeroPoint))
        offset = SIMD16(repeating: r.zeroPoint &- i8RoundingMagicBits)
    }

    /// The int8 results, still in int32 lanes (values in [lo, hi]).
    @inline(always)
    func wide(_ x: SIMD16<Float>) -> SIMD16<Int32> {
        var y = lower.replacing(with: x, where: lower .< x)
        y = y.replacing(with: upper, where: upper .< y)
        return unsafeBitCast(y + i8RoundingMagic, to: SIMD16<Int32>.self) &+ offset
    }

    @inline(always)
    func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Int8> { i8_narrow(wide(x)) }
}

/// Lanes 0..<count from `p` (count <= 16), zero beyond; a partial vector reads only `count` bytes, so the last
/// channels of a view never read past its end.
@inline(always)
func i8_load(_ p: UnsafePointer<Int8>, count: Int = 16) -> SIMD16<Int8> {
    if count == 16 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int8>.self) }
    var v = SIMD16<Int8>()
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// Stores lanes 0..<count to `p`; nothing past `count` is written.
@inline(always)
func i8_store(_ v: SIMD16<Int8>, to p: UnsafeMutablePointer<Int8>, count: Int = 16) {
    if count == 16 {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Int8>.self)
    } else {
        for i in 0..<count { p[i] = v[i] }
    }
}

/// Lanes 0..<count of 16 consecutive values of type T, zero beyond (the per-channel bias and multipliers
/// of a channel block, which are padded to 16 in GEMM layouts but not in depthwise ones).
@inline(always)
func i8_loadLanes<T: SIMDScalar>(_ p: UnsafePointer<T>, count: Int) -> SIMD16<T> {
    if count == 16 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD16<T>.self) }
    var v = SIMD16<T>()
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(always)
func i8_widen<T: FixedWidthInteger & SIMDScalar>(_ v: SIMD16<T>) -> SIMD16<Int32> {
    var r = SIMD16<Int32>()
    for i in 0..<16 { r[i] = Int32(v[i]) }
    return r
}

/// Int8 -> Int16 lanes (sxtl on NEON).
@inline(always)
func i8_widen16(_ v: SIMD16<Int8>) -> SIMD16<Int16> {
    var r = SIMD16<Int16>()
    for i in 0..<16 { r[i] = Int16(v[i]) }
    return r
}

/// Int32 -> Int8 lanes, for values already in [-128, 127]. The clamp changes nothing but makes the pattern
/// LLVM lowers to saturating packs (vpackssdw + vpacksswb on AVX2; smin/smax + uzp1 on NEON). LLVM's choice
/// for these lane loops depends on the surroundings: a plain truncation, `evenHalf` of bitcasts, or joining two
/// 8-lane byte picks were each partly scalarized (byte extracts and inserts) in some kernel; this spelling was
/// the fastest for the depthwise and elementwise kernels, the 8-lane one below for the GEMM's pixel halves.
@inline(always)
func i8_narrow(_ v: SIMD16<Int32>) -> SIMD16<Int8> {
    var r = SIMD16<Int8>()
    for i in 0..<16 { r[i] = Int8(truncatingIfNeeded: min(max(v[i], -128), 127)) }
    return r
}

/// The same for 8 lanes, as the low byte of each lane (a shuffle within one AVX2 register; packs of the
/// halves of a 16-lane result were partly scalarized).
@inline(always)
func i8_narrow(_ v: SIMD8<Int32>) -> SIMD8<Int8> {
    let bytes = unsafeBitCast(v, to: SIMD32<Int8>.self)
    var r = SIMD8<Int8>()
    for i in 0..<8 { r[i] = bytes[4 &* i] }
    return r
}

/// Int32 -> Float, round to nearest even (exact below 2^24), as Swift's Float(Int32).
@inline(always)
func i8_float(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}

/// Lane i = w[2i]·x[2i] + w[2i+1]·x[2i+1]: products of adjacent lane pairs, summed. Written as
/// widen-multiply-add-adjacent, the shape LLVM matches to one vpmaddwd on AVX2 (after vpmovsxbw of int8
/// operands; int16 operands loaded from memory go in directly). Exact: both operands hold int8-range values.
@inline(always)
func i8_dotPairs<T: FixedWidthInteger & SIMDScalar>(_ w: SIMD16<Int8>, _ x: SIMD16<T>) -> SIMD8<Int32> {
    let products = i8_widen(w) &* i8_widen(x)
    var pairs = SIMD8<Int32>()
    for i in 0..<8 { pairs[i] = products[2 &* i] &+ products[2 &* i &+ 1] }
    return pairs
}

/// Lanes 0..<8 of `a` and `b` interleaved (a0 b0 a1 b1 ...), and lanes 8..<16: the operands of `i8_dotPairs`
/// that sum two taps of 16 channels.
@inline(always)
func i8_interleave(_ a: SIMD16<Int8>, _ b: SIMD16<Int8>) -> (low: SIMD16<Int8>, high: SIMD16<Int8>) {
    var low = SIMD16<Int8>(), high = SIMD16<Int8>()
    for i in 0..<8 {
        low[2 &* i] = a[i]
        low[2 &* i &+ 1] = b[i]
        high[2 &* i] = a[8 &+ i]
        high[2 &* i &+ 1] = b[8 &+ i]
    }
    return (low, high)
}

/// A computation independent per channel, run with 16 channels in the lanes (int8 views are narrow, so one
/// width serves every kernel). A protocol rather than a closure: the depthwise kernel, whose body nests local
/// functions, ran 10x slower through a closure-taking helper (it was not specialized).
protocol I8ChannelBlockKernel {
    /// Processes channels `channel ..< channel + count`, count <= 16.
    func run(channel: Int, count: Int)
}

extension I8ChannelBlockKernel {
    /// Only the last block may be partial, so `count` is the constant 16 in the main loop.
    @inline(always)
    func forEachChannelBlock(_ channels: Int) {
        var channel = 0
        while channel + 16 <= channels {
            run(channel: channel, count: 16)
            channel += 16
        }
        if channel < channels { run(channel: channel, count: channels - channel) }
    }
}
