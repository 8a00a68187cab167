// What calibration remembers about one activation tensor: count, exact min and max, the number of exact zeros,
// and a histogram fine enough for the percentile, entropy and MSE range methods.
//
// The histogram (README.md has the longer story). Bins are global: value x falls in bin k = floor(x · u), where
// u is the number of bins per unit, so bin k is [k/u, (k+1)/u) and 0 is always the edge between bins −1 and 0
// (a post-ReLU tensor has nothing below 0). A window of `binCount` consecutive bins is stored, placed over
// [min(min, 0), max(max, 0)]. When a new batch falls outside the window, u is halved until that span fits,
// each halving merging bins 2k and 2k+1 into bin k, and the window moves to start at the lowest value's bin.
// Because u only ever halves (exact in binary floating point), floor(x·u/2) = floor(floor(x·u)/2) and the
// merged histogram is exactly the one that counting every value at the new width would give: counts, min and max
// stay exact, only the resolution drops. The values always span more than half the window (less one bin), so
// the default 4096 bins leave at least 2047 bins over the data, against TensorRT's 2048 over |x|.
// (ONNX Runtime instead widens its histogram with new bins of the same width, so the bin count grows without
// bound; PyTorch's HistogramObserver re-spreads old counts by interpolation, which is not exact.)
//
// `observe` runs on every value of every calibration image, so it does two passes without allocating: SIMD
// min/max (which also catches NaN and infinities), then one multiply, floor and increment per value. The
// increments go round-robin to four copies of the window: with a single copy, the exact zeros of a post-ReLU
// tensor would all increment one counter, each increment waiting for the previous store.

/// Running statistics of one activation tensor over a calibration set.
public struct ActivationStatistics: Sendable {
    public static let defaultBinCount = 4096
    /// Copies of the window that `observe` increments in turn (see the top of this file).
    private static let lanes = 4

    /// Bins in the window; the values always span at least `binCount/2 − 1` of them (unless their whole span
    /// is below about 1e-27, where the bins per unit stop growing at 2^100).
    public let binCount: Int
    /// Values observed.
    public private(set) var count = 0
    /// The smallest value observed (+∞ before any).
    public private(set) var min = Float.infinity
    /// The largest value observed (−∞ before any).
    public private(set) var max = -Float.infinity
    /// Values observed that were exactly 0 (±0): 0 is always exactly representable, so the MSE method does not
    /// charge these any rounding error.
    public private(set) var zeroCount = 0
    /// Bins per unit of x: x falls in bin floor(x · binsPerUnit). 0 until a value other than 0 is observed.
    public private(set) var binsPerUnit: Float = 0
    /// The global bin number of the window's first bin.
    private var windowStart = 0
    /// `lanes` copies of the window's counts, one after the other; a bin's count is the sum over the copies.
    private var laneCounts: [Int]

    public init(binCount: Int = defaultBinCount) {
        // The entropy method needs windows of 256 bins (one per int8 level) inside the data.
        precondition(binCount >= 1024, "ActivationStatistics needs at least 1024 bins, got \(binCount)")
        self.binCount = binCount
        laneCounts = [Int](repeating: 0, count: Self.lanes * binCount)
    }

    /// Adds the values of one occurrence of the tensor (for example one calibration image's activations).
    /// Throws when a value is NaN or infinite: such a value has no place in an int8 range and means the float
    /// model or its input is broken.
    public mutating func observe(_ values: UnsafeBufferPointer<Float>) throws(CalibrationError) {
        guard !values.isEmpty else { return }
        let batch = Self.extrema(values)
        guard batch.allFinite else {
            throw CalibrationError("an activation has NaN or infinite values; calibration needs finite values")
        }
        min = Swift.min(min, batch.min)
        max = Swift.max(max, batch.max)
        count += values.count
        if binsPerUnit == 0 {
            guard batch.min != 0 || batch.max != 0 else {
                zeroCount += values.count
                return
            }
            // The first values other than 0: size the bins so that the span, 0 included, takes all but 2 of them
            // (flooring both ends can add one bin each). The cap keeps x·u finite for spans that are subnormal.
            let span = Double(Swift.max(max, 0)) - Double(Swift.min(min, 0))
            binsPerUnit = Swift.min(Float(Double(binCount - 2) / span), 0x1p100)
            let (first, _) = fittingBins()
            windowStart = first
            // The values seen before were all 0; their bin is the one starting at 0.
            laneCounts[-windowStart] = zeroCount
        } else {
            let (first, last) = dataBins(binsPerUnit)
            if first < Float(windowStart) || last >= Float(windowStart + binCount) { regrow() }
        }
        accumulate(values)
    }

    /// The global bins holding min(min, 0) and max(max, 0) at `binsPerUnit`, as floats: at a width too fine
    /// for the values they may be beyond the range of Int, or infinite.
    private func dataBins(_ binsPerUnit: Float) -> (first: Float, last: Float) {
        ((Swift.min(min, 0) * binsPerUnit).rounded(.down), (Swift.max(max, 0) * binsPerUnit).rounded(.down))
    }

    /// Halves `binsPerUnit` until the values fit in the window; returns their first global bin and the number
    /// of halvings.
    private mutating func fittingBins() -> (first: Int, halvings: Int) {
        var halvings = 0
        while true {
            let (first, last) = dataBins(binsPerUnit)
            if last - first < Float(binCount) { return (Int(first), halvings) }
            binsPerUnit *= 0.5
            halvings += 1
        }
    }

    /// Coarsens the bins as needed to cover every value seen so far and moves the window to start at the lowest.
    private mutating func regrow() {
        let old = histogramWindow()
        let oldStart = windowStart
        let (first, halvings) = fittingBins()
        windowStart = first
        laneCounts = [Int](repeating: 0, count: laneCounts.count)
        for (j, count) in old.enumerated() where count != 0 {
            // Arithmetic shift floors negative bin numbers too: bins 2k and 2k+1 merge into bin k.
            laneCounts[((oldStart + j) >> halvings) - windowStart] += count
        }
    }

    /// The window's counts, the lanes summed.
    private func histogramWindow() -> [Int] {
        (0..<binCount).map { j in (0..<Self.lanes).reduce(0) { $0 + laneCounts[$1 * binCount + j] } }
    }

    /// Counts every value into its bin; the window covers them all (see `observe`): the bin of x is
    /// floor(x·u), as in `dataBins`, and x ↦ floor(x·u) is monotonic, so values between the batch's min and
    /// max land between the bins of those two, which are in the window.
    private mutating func accumulate(_ values: UnsafeBufferPointer<Float>) {
        let binsPerUnit = binsPerUnit, binCount = binCount, offset = -windowStart
        var zeros = 0
        laneCounts.withUnsafeMutableBufferPointer { lanes in
            let lane0 = lanes.baseAddress! + offset, lane1 = lane0 + binCount
            let lane2 = lane1 + binCount, lane3 = lane2 + binCount
            let n = values.count
            var i = 0
            while i + 4 <= n {
                let x0 = values[i], x1 = values[i + 1], x2 = values[i + 2], x3 = values[i + 3]
                lane0[Self.bin(x0, binsPerUnit)] &+= 1
                lane1[Self.bin(x1, binsPerUnit)] &+= 1
                lane2[Self.bin(x2, binsPerUnit)] &+= 1
                lane3[Self.bin(x3, binsPerUnit)] &+= 1
                zeros += (x0 == 0 ? 1 : 0) + (x1 == 0 ? 1 : 0) + (x2 == 0 ? 1 : 0) + (x3 == 0 ? 1 : 0)
                i += 4
            }
            while i < n {
                lane0[Self.bin(values[i], binsPerUnit)] &+= 1
                zeros += values[i] == 0 ? 1 : 0
                i += 1
            }
        }
        zeroCount += zeros
    }

    /// floor(x · binsPerUnit), which is within the window (so far from Int's limits). Truncation and a
    /// correction below 0 give exactly the floor; `rounded(.down)` would be a call to floorf on x86_64 before
    /// SSE4.1, the baseline Swift compiles for.
    @inline(__always)
    private static func bin(_ x: Float, _ binsPerUnit: Float) -> Int {
        let scaled = x * binsPerUnit
        let truncated = Int(scaled)
        return truncated &- (Float(truncated) > scaled ? 1 : 0)
    }

    /// Min and max of `values`, and whether all are finite. (`replace(with:where:)` keeps the loop in SIMD
    /// registers where `pointwiseMin` does not; x − x is 0 for finite x and NaN for NaN and ±∞.)
    private static func extrema(_ values: UnsafeBufferPointer<Float>) -> (min: Float, max: Float, allFinite: Bool) {
        typealias Vector = SIMD8<Float>
        let raw = UnsafeRawPointer(values.baseAddress!)
        var lo = Vector(repeating: .infinity), hi = Vector(repeating: -.infinity), notFinite = Vector()
        var i = 0
        while i + Vector.scalarCount <= values.count {
            let v = raw.loadUnaligned(fromByteOffset: i * MemoryLayout<Float>.stride, as: Vector.self)
            lo.replace(with: v, where: v .< lo)
            hi.replace(with: v, where: v .> hi)
            notFinite += v - v
            i += Vector.scalarCount
        }
        var minimum = lo.min(), maximum = hi.max(), allFinite = notFinite.sum() == 0
        while i < values.count {
            let x = values[i]
            minimum = Swift.min(minimum, x)
            maximum = Swift.max(maximum, x)
            allFinite = allFinite && x.isFinite
            i += 1
        }
        return (minimum, maximum, allFinite)
    }

    /// The histogram of the values seen, over the bins from the one holding min(min, 0) to the one holding
    /// max(max, 0); nil while no value other than 0 has been seen.
    public var histogram: Histogram? {
        guard binsPerUnit != 0 else { return nil }
        let (first, last) = dataBins(binsPerUnit)
        let window = histogramWindow()
        return Histogram(
            firstBin: Int(first), binsPerUnit: binsPerUnit,
            counts: Array(window[(Int(first) - windowStart)...(Int(last) - windowStart)]))
    }
}

/// A histogram with bins of equal width whose edges are the multiples of the width, so that 0 is an edge.
public struct Histogram: Equatable, Sendable {
    /// The global number of `counts[0]`'s bin: `counts[j]` counts the values x with floor(x · binsPerUnit) =
    /// firstBin + j, the bin [lowerEdge(j), lowerEdge(j + 1)).
    public let firstBin: Int
    public let binsPerUnit: Float
    public let counts: [Int]

    public var binWidth: Double { 1 / Double(binsPerUnit) }

    /// The index in `counts` of the bin whose lower edge is 0 (it holds the exact zeros).
    public var zeroBin: Int { -firstBin }

    public func lowerEdge(_ j: Int) -> Double { Double(firstBin + j) / Double(binsPerUnit) }
}
