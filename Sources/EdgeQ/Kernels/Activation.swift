/// An activation fused into the kernel that produces a tensor (or run on its own by `f32_activation`).
/// Stored in the model file as `kind` plus two float parameters (see FORMAT.md).
public struct Activation: Equatable {
    public enum Kind: UInt8 {
        case none = 0
        case relu = 1
        case clip = 2          // min(max(x, a), b); ReLU6 is clip(0, 6)
        case hardSigmoid = 3   // max(0, min(1, a*x + b)); PyTorch's is a = 1/6, b = 1/2
        case hardSwish = 4     // x * hardSigmoid(x) with a = 1/6, b = 1/2
        case sigmoid = 5       // 1 / (1 + exp(-x))
    }

    public var kind: Kind
    public var a: Float
    public var b: Float

    public init(_ kind: Kind, _ a: Float = 0, _ b: Float = 0) {
        self.kind = kind
        self.a = a
        self.b = b
    }

    public static let none = Activation(.none)
    public static let relu = Activation(.relu)
    public static let relu6 = Activation(.clip, 0, 6)
    public static let hardSigmoid = Activation(.hardSigmoid, 1.0 / 6.0, 0.5)
    public static let hardSwish = Activation(.hardSwish, 1.0 / 6.0, 0.5)
    public static let sigmoid = Activation(.sigmoid)

    /// The scalar definition every SIMD path must match.
    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch kind {
        case .none: return x
        case .relu: return x > 0 ? x : 0
        case .clip: return min(max(x, a), b)
        case .hardSigmoid: return max(0, min(1, a * x + b))
        case .hardSwish: return x * max(0, min(1, a * x + b))
        case .sigmoid: return 1 / (1 + _exp(-x))
        }
    }

    /// Lane-wise `apply`, for the SIMD kernels. Comparisons keep the operand order of the scalar definition
    /// (and of Swift.min/max), so results match it bit for bit, NaN and signed zeros included.
    /// `@inline(always)` (SE-0496), not `@inline(__always)`: the latter is only a hint for a function this size,
    /// and the optimizer declined it in kernel epilogues, leaving a call per vector.
    @inline(always)
    public func apply<V: FloatVector>(_ x: V) -> V {
        switch kind {
        case .none: return x
        case .relu: return V().replacing(with: x, where: V() .< x)
        case .clip:
            let lower = V(repeating: a), upper = V(repeating: b)
            let y = x.replacing(with: lower, where: x .<= lower)   // max(x, a)
            return y.replacing(with: upper, where: upper .< y)      // min(_, b)
        case .hardSigmoid, .hardSwish:
            let y = x * a + b, one = V(repeating: 1)
            let upper = one.replacing(with: y, where: y .< one)            // min(1, y)
            let unit = V().replacing(with: upper, where: V() .<= upper)    // max(0, _)
            return kind == .hardSwish ? x * unit : unit
        case .sigmoid: return Activation.sigmoid(x)
        }
    }

    /// Out of line so that inlining `apply` into every kernel epilogue does not copy this scalar lane loop.
    @inline(never) @usableFromInline
    static func sigmoid<V: FloatVector>(_ x: V) -> V {
        var y = x
        for i in y.indices { y[i] = 1 / (1 + _exp(-x[i])) }
        return y
    }
}

/// The Float SIMD vectors the kernels compute with. The requirements are witnessed by the concrete types'
/// comparisons, which are LLVM vector compares; the `SIMD` protocol's generic comparisons (and `clamped`,
/// `pointwiseMin`/`pointwiseMax`) specialize to scalar lane loops or out-of-line calls, which made kernel
/// epilogues slower than their arithmetic.
public protocol FloatVector: SIMD where Scalar == Float {
    static func .< (a: Self, b: Self) -> SIMDMask<MaskStorage>
    static func .<= (a: Self, b: Self) -> SIMDMask<MaskStorage>
}

extension SIMD2: FloatVector where Scalar == Float {}
extension SIMD4: FloatVector where Scalar == Float {}
extension SIMD8: FloatVector where Scalar == Float {}
extension SIMD16: FloatVector where Scalar == Float {}
extension SIMD32: FloatVector where Scalar == Float {}

/// `expf` without Foundation (Embedded Swift has no Glibc module): range reduction to 2^k * e^r with
/// |r| <= ln2/2 and a degree-6 polynomial; relative error below 2e-7 over the float range.
@inline(__always)
public func _exp(_ x: Float) -> Float {
    if x > 88.72 { return .infinity }
    if x < -103.97 { return 0 }
    if x.isNaN { return x }  // Int32(k) below would trap
    let k = (x * 1.442695041).rounded(.toNearestOrEven)
    let r = x - k * 0.693145751953125 - k * 1.428606765330187e-06
    var p: Float = 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    // 2^k split in two steps so that k down to -149 (subnormal results) stays representable.
    let ki = Int32(k)
    let half = ki / 2
    return p * Float(sign: .plus, exponent: Int(half), significand: 1)
        * Float(sign: .plus, exponent: Int(ki - half), significand: 1)
}
