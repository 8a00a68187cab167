// Entropy calibration: TensorRT's KL-divergence search (Szymon Migacz, "8-bit Inference with TensorRT", GTC 2017;
// as in MXNet's quantization.py and ONNX Runtime's calibrate.py), on EdgeQ's asymmetric int8 grid.
//
// For a candidate window of L histogram bins [a, b):
//   P = the window's counts, with everything below the window added to its first bin and everything above it
//       to its last (what clipping does to those values);
//   Q = the window's counts without the clipped ones, merged into 256 buckets of consecutive bins (the 256 int8
//       levels) and spread back evenly over the bins of each bucket where P is not zero (0 where P is 0);
//   both smoothed: every zero entry becomes ε = 1e-4 and the nonzero entries give that mass back evenly, then
//   KL(P‖Q) = Σ p log(p/q) over the normalised distributions. A candidate whose smoothing fails (an entry ≤ 0),
//   or with no mass inside, is skipped, as ONNX Runtime does.
// The window with the least divergence is the range.
//
// Where this differs from the references, and why:
// - TensorRT and ONNX Runtime search symmetric windows [−t, t] (|x| histogram, 128 levels on each side): one
//   threshold. EdgeQ's activations are asymmetric, so both ends move: coordinate descent from the full range,
//   alternately the best upper end for the current lower end and the best lower end for the current upper end,
//   until neither moves. A tensor with no values below 0 (post-ReLU) has a single candidate lower end, 0, and
//   this is TensorRT's one-dimensional search with 256 levels over [0, t].
// - Windows hold at least 256 bins (one per level) and always contain 0, which is a bin edge.
// - Buckets split the window proportionally (bucket m is bins ⌊mL/256⌋ ..< ⌊(m+1)L/256⌋); the references give the
//   remainder of L/levels to the last bucket, which makes it up to twice as wide as the others.
// - Q is 0 where P is 0, as in TensorRT and MXNet (ONNX Runtime spreads Q over those bins too).
// - Exact zeros are left out of the histogram. 0 is an int8 level of every range, so they cost nothing, but
//   kept in they are a spike in the bin at 0 (half of a post-ReLU6 tensor) whose own bucket the search keeps
//   narrow: it chose ranges of about a sixth of MobileNetV2's ReLU6 outputs and lost 40 points of top-1.
import Foundation

struct EntropySearch {
    static let levels = 256
    static let smoothing = 1e-4
    /// Rounds of coordinate descent; the search stops earlier when a round moves neither end.
    static let maximumRounds = 16

    let counts: [Int]
    let zeroBin: Int
    /// below[k]: the number of values in the bins before bin k.
    let below: [Int]
    /// nonzeroBelow[k]: the number of bins before bin k that hold values.
    let nonzeroBelow: [Int]

    /// `zeroCount` of the values in the histogram are exactly 0 (in bin `zeroBin`); the search leaves them out.
    init(_ histogram: Histogram, zeroCount: Int) {
        var counts = histogram.counts
        counts[histogram.zeroBin] -= zeroCount
        self.counts = counts
        zeroBin = histogram.zeroBin
        var below = [0], nonzeroBelow = [0]
        for count in counts {
            below.append(below.last! + count)
            nonzeroBelow.append(nonzeroBelow.last! + (count != 0 ? 1 : 0))
        }
        self.below = below
        self.nonzeroBelow = nonzeroBelow
    }

    func bestWindow() -> BinWindow {
        var window = BinWindow(lowerBin: 0, upperBin: counts.count)
        // A histogram narrower than the grid has nothing to clip: every bin has its own level.
        guard counts.count >= Self.levels else { return window }
        for _ in 0..<Self.maximumRounds {
            let before = window
            let lower = window.lowerBin
            window = best(of: (Swift.max(zeroBin, lower + Self.levels)...counts.count).lazy.map {
                BinWindow(lowerBin: lower, upperBin: $0)
            }) ?? window
            let upper = window.upperBin
            window = best(of: (0...Swift.min(zeroBin, upper - Self.levels)).lazy.map {
                BinWindow(lowerBin: $0, upperBin: upper)
            }) ?? window
            if window == before { break }
        }
        return window
    }

    /// The window with the least divergence (the first of equals), nil when no window has one.
    private func best(of windows: some Sequence<BinWindow>) -> BinWindow? {
        var best: (window: BinWindow, divergence: Double)?
        for window in windows {
            guard let divergence = divergence(window) else { continue }
            if best == nil || divergence < best!.divergence { best = (window, divergence) }
        }
        return best?.window
    }

    /// KL(P‖Q) for the window (see the top of this file); nil when smoothing fails or nothing is inside.
    func divergence(_ window: BinWindow) -> Double? {
        let a = window.lowerBin, b = window.upperBin, width = b - a
        let clippedBelow = below[a], clippedAbove = below.last! - below[b]
        func p(_ bin: Int) -> Int {
            counts[bin] + (bin == a ? clippedBelow : 0) + (bin == b - 1 ? clippedAbove : 0)
        }
        /// Bucket m: its bins, its count without the clipped values, and how many of its bins are nonzero in P.
        func bucket(_ m: Int) -> (bins: Range<Int>, count: Int, nonzero: Int) {
            let start = a + m * width / Self.levels, end = a + (m + 1) * width / Self.levels
            var nonzero = nonzeroBelow[end] - nonzeroBelow[start]
            if start == a && counts[a] == 0 && clippedBelow != 0 { nonzero += 1 }
            if end == b && counts[b - 1] == 0 && clippedAbove != 0 { nonzero += 1 }
            return (start..<end, below[end] - below[start], nonzero)
        }
        // Zero entries of P and Q, for the smoothing. Q is 0 wherever P is, and also over a bucket that only
        // clipped values make nonzero in P.
        var pNonzero = 0, qNonzero = 0
        for m in 0..<Self.levels {
            let (_, count, nonzero) = bucket(m)
            pNonzero += nonzero
            if count != 0 { qNonzero += nonzero }
        }
        guard qNonzero > 0 else { return nil }
        let eps = Self.smoothing
        let pGiveBack = eps * Double(width - pNonzero) / Double(pNonzero)
        let qGiveBack = eps * Double(width - qNonzero) / Double(qNonzero)
        // Smoothing keeps the sums, so these normalise the smoothed distributions.
        let pTotal = Double(below.last!), qTotal = Double(below[b] - below[a])
        var sum = 0.0
        for m in 0..<Self.levels {
            let (bins, count, nonzero) = bucket(m)
            guard nonzero != 0 else { continue }
            let q = count != 0 ? Double(count) / Double(nonzero) - qGiveBack : eps
            for bin in bins {
                let pCount = p(bin)
                guard pCount != 0 else { continue }
                let p = Double(pCount) - pGiveBack
                guard p > 0 && q > 0 else { return nil }
                sum += p * log(p * qTotal / (q * pTotal))
            }
        }
        // The entries where P is 0 are ε in both distributions.
        sum += Double(width - pNonzero) * eps * log(qTotal / pTotal)
        return sum / pTotal
    }
}
