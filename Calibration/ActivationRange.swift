/// The calibrated real range [lo, hi] of one activation tensor, the `[a, b]` of QUANTIZATION.md: it contains 0
/// and is at least `minimumWidth` wide, so that the scale (hi − lo)/255 is a positive normal float.
public struct ActivationRange: Equatable, Sendable, CustomStringConvertible {
    /// Narrower ranges are widened to this. Only a dead tensor (every value 0, or all within 1e-6 of 0) gets
    /// here; its int8 grid does not matter, but a zero or subnormal scale would make requantization divide by 0.
    public static let minimumWidth: Float = 1e-6

    public let lo: Float
    public let hi: Float

    /// The range [lo, hi] itself; it must be valid (see `problem(lo:hi:)`).
    public init(lo: Float, hi: Float) {
        if let problem = Self.problem(lo: lo, hi: hi) { preconditionFailure("invalid activation range: \(problem)") }
        self.lo = lo
        self.hi = hi
    }

    /// The smallest range holding [lo, hi] (finite; empty when lo > hi) and 0, when that is valid. A range too
    /// narrow holds values within `minimumWidth` of 0: it becomes ±`minimumWidth` on the sides that have
    /// values (above 0 when none has), exact widths that always pass the check.
    public init(covering lo: Float, _ hi: Float) {
        let lo = min(lo, 0), hi = max(hi, 0)
        if hi - lo >= Self.minimumWidth {
            self.init(lo: lo, hi: hi)
        } else {
            self.init(lo: lo < 0 ? -Self.minimumWidth : 0, hi: hi > 0 || lo == 0 ? Self.minimumWidth : 0)
        }
    }

    /// What is wrong with [lo, hi] as an activation range, or nil when it is valid. The range table reader and
    /// writer report this with the line or tensor in question.
    public static func problem(lo: Float, hi: Float) -> String? {
        if !lo.isFinite { return "lo \(lo) is not a finite number" }
        if !hi.isFinite { return "hi \(hi) is not a finite number" }
        if lo > 0 { return "lo \(lo) is above 0: the range must contain 0" }
        if hi < 0 { return "hi \(hi) is below 0: the range must contain 0" }
        if lo >= hi { return "lo \(lo) is not below hi \(hi)" }
        if hi - lo < minimumWidth { return "the range [\(lo), \(hi)] is narrower than \(minimumWidth)" }
        return nil
    }

    public var description: String { "[\(lo), \(hi)]" }
}

/// The int8 parameters of an activation with calibrated range [lo, hi], by QUANTIZATION.md:
/// `s = (hi − lo)/255` and `z = round(−128 − lo/s)`, with `real = s·(q − z)` for q in [−128, 127].
///
/// The zero point is rounded to an integer (half away from zero, C's `round`, as TFLite does), which nudges the
/// range the grid actually covers to [s·(−128 − z), s·(127 − z)]: the same width, moved by less than s/2, so
/// that the real 0 is exactly the level q = z. Zero padding and ReLU's clamp at 0 are then exact. `z` is
/// computed from the stored float32 `s`, the one the runtime sees, in double precision.
public func quantizationParameters(lo: Float, hi: Float) -> (scale: Float, zeroPoint: Int32) {
    let range = ActivationRange(lo: lo, hi: hi)
    let scale = Float((Double(range.hi) - Double(range.lo)) / 255)
    let zeroPoint = (-128 - Double(range.lo) / Double(scale)).rounded(.toNearestOrAwayFromZero)
    // lo/s lies in [−255, 0] up to the rounding of s, so only that rounding can take z past an end.
    return (scale, Int32(min(127, max(-128, zeroPoint))))
}
