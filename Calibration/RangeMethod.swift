/// How a calibrated range is chosen from a tensor's statistics. Every method returns a valid `ActivationRange`
/// (0 inside, hi > lo) within [min(min, 0), max(max, 0)], or the ±1e-6 of a dead tensor; README.md compares them.
public enum RangeMethod: Equatable, Sendable, CustomStringConvertible {
    /// The observed min and max.
    case minmax
    /// Clips the tails so that `percentile` percent of the values stay inside, e.g. 99.99: a tensor with values
    /// on both sides of 0 loses (100 − percentile)/2 percent at each end; a tensor with values on one side only
    /// (post-ReLU) loses all of it at the far end.
    case percentile(Double)
    /// TensorRT's entropy calibration adapted to the asymmetric grid: the range whose 256-level quantization of
    /// the histogram has the least KL divergence from the clipped histogram (RangeMethod+Entropy.swift).
    case entropy
    /// The range with the least expected squared error, clipping plus rounding (RangeMethod+MSE.swift).
    case mse

    /// The name written in the range table's method column.
    public var description: String {
        switch self {
        case .minmax: return "minmax"
        case .percentile(let percentile): return "percentile \(percentile)"
        case .entropy: return "entropy"
        case .mse: return "mse"
        }
    }

    /// The range for a tensor with these statistics. Throws when nothing was observed, or for a percentile
    /// outside (0, 100].
    public func range(for statistics: ActivationStatistics) throws(CalibrationError) -> ActivationRange {
        guard statistics.count > 0 else { throw CalibrationError("no values observed: no range to choose from") }
        if case .percentile(let percentile) = self, !(percentile > 0 && percentile <= 100) {
            throw CalibrationError("the percentile must be in (0, 100], got \(percentile)")
        }
        // Every value seen was 0: any range holding 0 quantizes the tensor exactly.
        guard let histogram = statistics.histogram else { return ActivationRange(covering: 0, 0) }
        let (lo, hi): (Double, Double)
        switch self {
        case .minmax:
            (lo, hi) = (Double(statistics.min), Double(statistics.max))
        case .percentile(let percentile):
            (lo, hi) = histogram.percentileRange(percentile, min: statistics.min, max: statistics.max)
        case .entropy:
            let window = EntropySearch(histogram, zeroCount: statistics.zeroCount).bestWindow()
            (lo, hi) = (histogram.lowerEdge(window.lowerBin), histogram.lowerEdge(window.upperBin))
        case .mse:
            let window = SquaredErrorSearch(histogram, zeroCount: statistics.zeroCount).bestWindow()
            (lo, hi) = (histogram.lowerEdge(window.lowerBin), histogram.lowerEdge(window.upperBin))
        }
        // Bin edges and interpolated percentiles can lie past the values by up to a bin.
        return ActivationRange(
            covering: Swift.max(Float(lo), statistics.min), Swift.min(Float(hi), statistics.max))
    }
}

/// A range given as histogram bin edges: [lowerEdge(lowerBin), lowerEdge(upperBin)], with
/// lowerBin ≤ zeroBin ≤ upperBin so that it holds 0.
struct BinWindow: Equatable {
    var lowerBin: Int
    var upperBin: Int
}

extension Histogram {
    func percentileRange(_ percentile: Double, min: Float, max: Float) -> (lo: Double, hi: Double) {
        let total = Double(counts.reduce(0, +))
        let clipped = total * (100 - percentile) / 100
        if min >= 0 { return (0, value(atRank: total - clipped)) }
        if max <= 0 { return (value(atRank: clipped), 0) }
        return (value(atRank: clipped / 2), value(atRank: total - clipped / 2))
    }

    /// The value with `rank` counted values below it, assuming the values of a bin spread evenly over it.
    func value(atRank rank: Double) -> Double {
        var below = 0.0
        for (j, count) in counts.enumerated() where count > 0 {
            if below + Double(count) >= rank { return lowerEdge(j) + binWidth * (rank - below) / Double(count) }
            below += Double(count)
        }
        return lowerEdge(counts.count)
    }
}
