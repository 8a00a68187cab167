// The MSE method: the range [lo, hi] ∋ 0 that minimises the expected squared error of quantizing the histogram's
// values to the asymmetric int8 grid of that range, s = (hi − lo)/255:
//
//   E(lo, hi) = Σ_{bins below lo} n·((c − lo)² + w²/12)  +  Σ_{bins above hi} n·((c − hi)² + w²/12)
//             + (values inside, exact zeros excepted) · s²/12
//
// with n, c, w a bin's count, centre and width: values spread evenly over a bin have mean squared distance
// (c − t)² + w²/12 to a clipping bound t, and rounding to a grid of step s costs s²/12 on average. Exact zeros cost
// nothing inside the range (0 is a level: quantizationParameters nudges the grid so) and are left out of the
// zero bin's moments. lo and hi run over all the bin edges, lo ≤ 0 ≤ hi (0 is an edge): with prefix sums of
// n, n·c and n·(c² + w²/12) each E is O(1), so the whole grid of candidates is searched, O(bins²) with no
// local minimum to get stuck in. E is taken before the nudge, which moves the grid by less than s/2.
// Everything is in bin units (w = 1), which leaves the argmin unchanged.

struct SquaredErrorSearch {
    let zeroBin: Int
    /// Prefix sums over the bins before bin k (bin units, centre of bin j = j + ½): values that can be clipped
    /// (exact zeros excepted), their sum, and their second moment about 0.
    let count: [Double]
    let firstMoment: [Double]
    let secondMoment: [Double]

    init(_ histogram: Histogram, zeroCount: Int) {
        zeroBin = histogram.zeroBin
        var count = [0.0], firstMoment = [0.0], secondMoment = [0.0]
        for (j, n) in histogram.counts.enumerated() {
            let n = Double(j == zeroBin ? n - zeroCount : n), centre = Double(j) + 0.5
            count.append(count.last! + n)
            firstMoment.append(firstMoment.last! + n * centre)
            secondMoment.append(secondMoment.last! + n * (centre * centre + 1.0 / 12))
        }
        self.count = count
        self.firstMoment = firstMoment
        self.secondMoment = secondMoment
    }

    /// E for the window (bin units): see the top of this file.
    func expectedSquaredError(_ window: BinWindow) -> Double {
        let lo = Double(window.lowerBin), hi = Double(window.upperBin)
        let step = (hi - lo) / 255
        let (a, b, end) = (window.lowerBin, window.upperBin, count.count - 1)
        let clippedBelow = lo * lo * count[a] - 2 * lo * firstMoment[a] + secondMoment[a]
        let clippedAbove = hi * hi * (count[end] - count[b]) - 2 * hi * (firstMoment[end] - firstMoment[b])
            + (secondMoment[end] - secondMoment[b])
        return clippedBelow + clippedAbove + (count[b] - count[a]) * step * step / 12
    }

    func bestWindow() -> BinWindow {
        var best = BinWindow(lowerBin: 0, upperBin: count.count - 1)
        var leastError = expectedSquaredError(best)
        for lowerBin in 0...zeroBin {
            for upperBin in Swift.max(zeroBin, lowerBin + 1)..<count.count {
                let window = BinWindow(lowerBin: lowerBin, upperBin: upperBin)
                let error = expectedSquaredError(window)
                if error < leastError { (best, leastError) = (window, error) }
            }
        }
        return best
    }
}
