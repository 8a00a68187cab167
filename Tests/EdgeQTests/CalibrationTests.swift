import EdgeQ
import Foundation
import XCTest
@testable import EdgeQCalibration

/// Activation statistics, range methods, quantization parameters and the range table. Expected answers are
/// computed here from the raw samples (sorted quantiles, bins recounted, values actually quantized), not from
/// the histogram under test.
final class CalibrationTests: XCTestCase {
    // MARK: range methods on data with known answers

    func testMinmaxIsTheObservedBoundsOfUniformData() throws {
        var rng = SplitMix64(seed: 1)
        let twoSided = (0..<200_000).map { _ in rng.float(in: -2...3) }
        XCTAssertEqual(try RangeMethod.minmax.range(for: observed(twoSided)),
                       ActivationRange(lo: twoSided.min()!, hi: twoSided.max()!))
        // A tensor above 0 still gets a range holding 0.
        let positive = (0..<200_000).map { _ in rng.float(in: 0.5...4) }
        XCTAssertEqual(try RangeMethod.minmax.range(for: observed(positive)),
                       ActivationRange(lo: 0, hi: positive.max()!))
    }

    func testPercentileClipsTheOutliersOfAGaussian() throws {
        var rng = SplitMix64(seed: 2)
        let gaussian = (0..<1_000_000).map { _ in rng.gaussian() }
        // 20 outliers at each end: fewer than the 50 that 99.99% drops from each end.
        let twoSided = gaussian + Array(repeating: 100, count: 20) + Array(repeating: -80, count: 20)
        let statistics = try observed(twoSided)
        let range = try RangeMethod.percentile(99.99).range(for: statistics)
        let sorted = twoSided.sorted(), dropped = Double(sorted.count) * 0.0001 / 2
        let binWidth = Float(statistics.histogram!.binWidth)
        XCTAssertEqual(range.lo, sorted[Int(dropped)], accuracy: binWidth)
        XCTAssertEqual(range.hi, sorted[sorted.count - 1 - Int(dropped)], accuracy: binWidth)
        XCTAssert(range.lo > -6 && range.hi < 6, "outliers not clipped: \(range)")

        // Post-ReLU: nothing below 0, so the upper tail loses all of the 0.01%.
        let relu = gaussian.map { max($0, 0) } + Array(repeating: 100, count: 20)
        let reluStatistics = try observed(relu)
        let reluRange = try RangeMethod.percentile(99.99).range(for: reluStatistics)
        let reluSorted = relu.sorted()
        XCTAssertEqual(reluRange.lo, 0)
        XCTAssertEqual(reluRange.hi, reluSorted[reluSorted.count - 1 - Int(Double(relu.count) * 0.0001)],
                       accuracy: Float(reluStatistics.histogram!.binWidth))
        // 100% keeps everything.
        XCTAssertEqual(try RangeMethod.percentile(100).range(for: statistics),
                       try RangeMethod.minmax.range(for: statistics))
    }

    func testEntropyAndMSEClipTheTailsOfALaplacian() throws {
        var rng = SplitMix64(seed: 3)
        let laplace = (0..<1_000_000).map { _ in rng.laplace() }
        let statistics = try observed(laplace)
        let minmax = try RangeMethod.minmax.range(for: statistics)
        for method in [RangeMethod.entropy, .mse] {
            let range = try method.range(for: statistics)
            XCTAssert(minmax.lo < range.lo && range.lo < 0 && 0 < range.hi && range.hi < minmax.hi,
                      "\(method) \(range) not strictly inside (min, 0) × (0, max) = \(minmax)")
        }
        let mse = try RangeMethod.mse.range(for: statistics)
        XCTAssertLessThan(quantizationMSE(laplace, mse), quantizationMSE(laplace, minmax))
        // The continuous optimum for Laplace(1) on 255 steps over [−α, α]: minimise 2e^−α + (2α/255)²/12
        // (clipped tails plus rounding), α ≈ 9.9 (Banner et al., ACIQ).
        let alpha = minimise { 2 * exp(-$0) + pow(2 * $0 / 255, 2) / 12 }
        XCTAssertEqual(Double(mse.hi), alpha, accuracy: 0.75)
        XCTAssertEqual(Double(-mse.lo), alpha, accuracy: 0.75)

        // One-sided (|Laplace|, as after ReLU): lo stays 0.
        let magnitudes = laplace.map(abs)
        let oneSided = try observed(magnitudes)
        let oneSidedMax = try RangeMethod.minmax.range(for: oneSided).hi
        for method in [RangeMethod.entropy, .mse] {
            let range = try method.range(for: oneSided)
            XCTAssert(range.lo == 0 && range.hi > 0 && range.hi < oneSidedMax, "\(method) \(range)")
        }
        XCTAssertLessThan(quantizationMSE(magnitudes, try RangeMethod.mse.range(for: oneSided)),
                          quantizationMSE(magnitudes, ActivationRange(lo: 0, hi: oneSidedMax)))
    }

    func testDeadAndSingleValueTensorsGetValidRanges() throws {
        let allZero = try observed(Array(repeating: 0, count: 10_000), batchSize: 1000)
        XCTAssertNil(allZero.histogram)
        let cases: [(values: [Float], expected: ClosedRange<Float>)] = [
            (Array(repeating: 0, count: 10_000), 0...ActivationRange.minimumWidth),
            (Array(repeating: 3.5, count: 10_000), 0...3.5),
            (Array(repeating: -2, count: 10_000), -2...0),
            (Array(repeating: 1e-9, count: 100), 0...ActivationRange.minimumWidth),
        ]
        for (values, expected) in cases {
            let statistics = try observed(values, batchSize: 999)
            for method in allMethods {
                let range = try method.range(for: statistics)
                XCTAssert(range.lo <= 0 && range.hi >= 0 && range.lo < range.hi, "\(method) \(range)")
                XCTAssert(expected.contains(range.lo) && expected.contains(range.hi), "\(method) \(range)")
            }
            XCTAssertEqual(try RangeMethod.minmax.range(for: statistics),
                           ActivationRange(lo: expected.lowerBound, hi: expected.upperBound))
        }
    }

    // MARK: the histogram

    func testRebinningKeepsCountsAndExtremaExact() throws {
        var rng = SplitMix64(seed: 4)
        var statistics = ActivationStatistics()
        var all: [Float] = []
        // Zeros first (before any bin exists), then ranges that grow up, down, and by a lot at once; odd sizes
        // exercise the loops' tails.
        let batches: [(count: Int, range: ClosedRange<Float>)] = [
            (1001, 0...0), (7, 0...1), (10_003, 0...1), (5001, -3...0.5), (3, 0...1000), (20_000, -1e-3...1e-3),
            (777, -5e4...2), (12_345, -1...1),
        ]
        var previousBinsPerUnit: Float?
        for (count, range) in batches {
            let batch = (0..<count).map { _ in range == 0...0 ? 0 : rng.float(in: range) }
            try batch.withUnsafeBufferPointer { try statistics.observe($0) }
            all += batch
            XCTAssertEqual(statistics.count, all.count)
            XCTAssertEqual(statistics.min, all.min()!)
            XCTAssertEqual(statistics.max, all.max()!)
            XCTAssertEqual(statistics.zeroCount, all.filter { $0 == 0 }.count)
            guard let histogram = statistics.histogram else { continue }
            XCTAssertEqual(histogram.counts.reduce(0, +), all.count)
            // Exactly the histogram of every value counted at the current width.
            let u = histogram.binsPerUnit
            var recount = [Int](repeating: 0, count: histogram.counts.count)
            for x in all { recount[Int((x * u).rounded(.down)) - histogram.firstBin] += 1 }
            XCTAssertEqual(histogram.counts, recount)
            XCTAssertGreaterThanOrEqual(histogram.counts.count, statistics.binCount / 2 - 1)
            XCTAssertLessThanOrEqual(histogram.counts.count, statistics.binCount)
            // The width only ever doubles.
            if let previous = previousBinsPerUnit {
                XCTAssert(previous >= u && (previous / u).significandBitPattern == 0, "\(previous) → \(u)")
            }
            previousBinsPerUnit = u
        }
    }

    func testObserveRejectsNaNAndInfinity() {
        for bad in [Float.nan, .infinity, -.infinity] {
            for position in [3, 17] {  // in the SIMD body and in the tail
                var values = [Float](repeating: 1, count: 19)
                values[position] = bad
                var statistics = ActivationStatistics()
                XCTAssertThrowsError(try values.withUnsafeBufferPointer { try statistics.observe($0) }) {
                    XCTAssert("\($0)".contains("NaN or infinite"), "\($0)")
                }
                XCTAssertEqual(statistics.count, 0)
            }
        }
    }

    func testNothingObservedAndBadPercentilesThrow() throws {
        XCTAssertThrowsError(try RangeMethod.mse.range(for: ActivationStatistics())) {
            XCTAssert("\($0)".contains("no values observed"), "\($0)")
        }
        let statistics = try observed([1, 2, 3])
        for percentile in [0, -1, 100.5, .nan] {
            XCTAssertThrowsError(try RangeMethod.percentile(percentile).range(for: statistics)) {
                XCTAssert("\($0)".contains("(0, 100]"), "\($0)")
            }
        }
    }

    /// Exact zeros (half of a post-ReLU tensor) cost nothing on any grid, so they must not move the entropy range:
    /// the same nonzero values with and without a spike of zeros give the same range, within a bin.
    func testEntropyRangeIgnoresExactZeros() throws {
        var rng = SplitMix64(seed: 11)
        let nonzero = (0..<40_000).map { _ in min(abs(rng.gaussian()) * 1.5, 6) }
        let plain = try RangeMethod.entropy.range(for: try observed(nonzero))
        let withZeros = try observed(nonzero + [Float](repeating: 0, count: 60_000))
        let spiked = try RangeMethod.entropy.range(for: withZeros)
        XCTAssertEqual(spiked.hi, plain.hi, accuracy: 2 / withZeros.binsPerUnit + 1e-6)
        XCTAssertGreaterThan(spiked.hi, 3)
    }

    /// The prefix-sum forms of the two searches against the definitions, written out bin by bin.
    func testEntropyAndMSECostsMatchTheirDefinitions() throws {
        var rng = SplitMix64(seed: 5)
        // Gaps of empty bins, and an exact-zero spike, as in real activations.
        let values = (0..<60_000).map { _ -> Float in
            let x = rng.gaussian() * 2 + 1
            return abs(x) < 0.05 ? 0 : (x > 3 && x < 3.5 ? 3.5 : x)
        }
        let statistics = try observed(values)
        let histogram = statistics.histogram!
        let entropy = EntropySearch(histogram, zeroCount: statistics.zeroCount)
        var nonzeroCounts = histogram.counts
        nonzeroCounts[histogram.zeroBin] -= statistics.zeroCount
        let mse = SquaredErrorSearch(histogram, zeroCount: statistics.zeroCount)
        let n = histogram.counts.count, zero = histogram.zeroBin
        for window in [(0, n), (0, 300), (zero - 100, n - 7), (zero, zero + 256), (zero - 256, zero), (13, n - 1000)] {
            let window = BinWindow(lowerBin: window.0, upperBin: window.1)
            let divergence = try XCTUnwrap(entropy.divergence(window))
            XCTAssertEqual(divergence, referenceDivergence(nonzeroCounts, window), accuracy: 1e-9)
            let expected = referenceSquaredError(histogram, zeroCount: statistics.zeroCount, window)
            XCTAssertEqual(mse.expectedSquaredError(window), expected, accuracy: expected * 1e-9)
        }
    }

    // MARK: quantization parameters

    func testQuantizationParametersFollowQuantizationMD() {
        for (lo, hi) in [(Float(-1), Float(3)), (0, 6), (-4, 0), (-0.3, 0.7), (-1e-3, 250), (-7.25, 7.25)] {
            let (scale, zeroPoint) = quantizationParameters(lo: lo, hi: hi)
            XCTAssertEqual(scale, Float((Double(hi) - Double(lo)) / 255))
            XCTAssertEqual(zeroPoint, Int32((-128 - Double(lo) / Double(scale)).rounded()))
            // 0 is the level q = z; the grid's range moved by less than half a step.
            let nudgedLo = scale * Float(-128 - zeroPoint), nudgedHi = scale * Float(127 - zeroPoint)
            XCTAssertLessThanOrEqual(abs(nudgedLo - lo), scale / 2 * 1.0001, "[\(lo), \(hi)]")
            XCTAssertLessThanOrEqual(abs(nudgedHi - hi), scale / 2 * 1.0001, "[\(lo), \(hi)]")
        }
        XCTAssertEqual(quantizationParameters(lo: 0, hi: 6).zeroPoint, -128)
        XCTAssertEqual(quantizationParameters(lo: -4, hi: 0).zeroPoint, 127)
    }

    // MARK: the range table

    func testRangeTableRoundTripsExactly() throws {
        let awkward: [(String, Float, Float)] = [
            ("input", -2.117904, 2.64), ("features.0/conv 1/Relu6", 0, 6), ("a b.c/d", -Float.ulpOfOne, 1.0 / 3),
            ("tiny", -1e-6, Float(1e-6).nextUp), ("huge", -Float.greatestFiniteMagnitude / 2, 3.4e38),
            ("negative only", -0.1 - 0.2, -0.0), ("ünïcode ✓", -5e-5, 123456.79),
        ]
        let entries = try awkward.map { name, lo, hi in
            RangeTable.Entry(name: name, range: ActivationRange(lo: lo, hi: hi), method: "percentile 99.99")
        }
        let table = try RangeTable(entries: entries)
        let text = table.text
        XCTAssert(text.hasPrefix("tensor\tlo\thi\tmethod\n"), text)
        let read = try RangeTable(parsing: text)
        XCTAssertEqual(read.entries.map(\.name), entries.map(\.name))
        XCTAssertEqual(read.entries.map(\.range.lo.bitPattern), entries.map(\.range.lo.bitPattern))
        XCTAssertEqual(read.entries.map(\.range.hi.bitPattern), entries.map(\.range.hi.bitPattern))
        XCTAssertEqual(read, table)
        XCTAssertEqual(read.text, text)
        XCTAssertEqual(read.ranges["a b.c/d"], ActivationRange(lo: -Float.ulpOfOne, hi: 1.0 / 3))

        // Comments, empty lines, CRLF and hand-written floats.
        let edited = "# from edgeq calibrate\r\ntensor\tlo\thi\tmethod\r\n\r\n"
            + "# conv1 clipped by hand\r\nconv1\t-1\t2.5e0\tmanual\r\n"
        XCTAssertEqual(try RangeTable(parsing: edited).ranges, ["conv1": ActivationRange(lo: -1, hi: 2.5)])
    }

    func testRangeTableErrorsNameTheirLine() {
        let header = RangeTable.header + "\n"
        let cases: [(text: String, line: Int, message: String)] = [
            ("", 1, "expected the header"),
            ("# only a comment\n", 1, "expected the header"),
            ("# comment\ntensor lo hi method\nx\t0\t1\tm\n", 2, "expected the header"),
            (header + "x\t0\t1\n", 2, "expected 4 tab-separated columns"),
            (header + "x\t0\t1\tm\textra\n", 2, "found 5"),
            (header + "# c\n\nx\t0\t1\tm\n\tlo\t1\tm\n", 5, "empty tensor name"),
            (header + "x\tzero\t1\tm\n", 2, "lo is not a number: \"zero\""),
            (header + "x\t0\t1.0f\tm\n", 2, "hi is not a number: \"1.0f\""),
            (header + "x\t-1\t 1\tm\n", 2, "hi is not a number"),
            (header + "x\tnan\t1\tm\n", 2, "not a finite number"),
            (header + "x\t0\tinf\tm\n", 2, "not a finite number"),
            (header + "x\t0.5\t1\tm\n", 2, "lo 0.5 is above 0"),
            (header + "x\t-1\t-0.5\tm\n", 2, "hi -0.5 is below 0"),
            (header + "x\t0\t0\tm\n", 2, "lo 0.0 is not below hi 0.0"),
            (header + "x\t-1e-7\t1e-7\tm\n", 2, "narrower than"),
            (header + "a\t0\t1\tm\nb\t0\t1\tm\n# c\na\t-1\t1\tm\n", 5, "tensor \"a\" appears twice (first on line 2)"),
        ]
        for (text, line, message) in cases {
            XCTAssertThrowsError(try RangeTable(parsing: text), String(reflecting: text)) { error in
                let error = error as! CalibrationError
                XCTAssertEqual(error.line, line, String(reflecting: text))
                XCTAssert(error.description.hasPrefix("line \(line): "), error.description)
                XCTAssert(error.description.contains(message), "\(error) lacks \(message)")
            }
        }
    }

    func testRangeTableRefusesNamesThatCannotBeReadBack() {
        let range = ActivationRange(lo: 0, hi: 1)
        for (names, method, message) in [
            ([""], "m", "empty tensor name"), (["a\tb"], "m", "tab or a line break"), (["a\nb"], "m", "tab"),
            (["#a"], "m", "cannot start with '#'"), (["a", "a"], "m", "appears twice"), (["a"], "x\ty", "method"),
        ] {
            let entries = names.map { RangeTable.Entry(name: $0, range: range, method: method) }
            XCTAssertThrowsError(try RangeTable(entries: entries)) {
                XCTAssert("\($0)".contains(message), "\($0) lacks \(message)")
            }
        }
    }

    // MARK: speed

    /// Not a pass/fail test: prints how long `observe` takes on one MobileNetV2 image's worth of activations.
    func testObserveThroughput() throws {
        var rng = SplitMix64(seed: 6)
        // Post-ReLU-like: half exact zeros.
        let values = (0..<6_000_000).map { _ -> Float in
            let x = rng.float(in: -1...1)
            return x < 0 ? 0 : x * 6
        }
        var statistics = ActivationStatistics()
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            try values.withUnsafeBufferPointer { try statistics.observe($0) }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        print(String(format: "observe: 6M values in %.1f ms, %.2f ns per value", best * 1e3, best / 6e6 * 1e9))
        XCTAssertEqual(statistics.count, 3 * values.count)
    }

    // MARK: helpers

    private let allMethods: [RangeMethod] = [.minmax, .percentile(99.99), .entropy, .mse]

    private func observed(_ values: [Float], batchSize: Int = 100_003) throws -> ActivationStatistics {
        var statistics = ActivationStatistics()
        for start in stride(from: 0, to: values.count, by: batchSize) {
            try values[start..<min(start + batchSize, values.count)].withUnsafeBufferPointer {
                try statistics.observe($0)
            }
        }
        return statistics
    }

    /// Mean squared error of quantizing `samples` to the int8 grid of `range` (QUANTIZATION.md).
    private func quantizationMSE(_ samples: [Float], _ range: ActivationRange) -> Double {
        let (scale, zeroPoint) = quantizationParameters(lo: range.lo, hi: range.hi)
        var sum = 0.0
        for x in samples {
            let q = min(127, max(-128, (x / scale).rounded(.toNearestOrEven) + Float(zeroPoint)))
            let error = Double(x) - Double(scale) * Double(q - Float(zeroPoint))
            sum += error * error
        }
        return sum / Double(samples.count)
    }

    /// The minimum of a unimodal function on (0, 100), by golden-section search.
    private func minimise(_ f: (Double) -> Double) -> Double {
        var (a, b) = (0.0, 100.0)
        let ratio = (sqrt(5) - 1) / 2
        for _ in 0..<200 {
            let (c, d) = (b - ratio * (b - a), a + ratio * (b - a))
            if f(c) < f(d) { b = d } else { a = c }
        }
        return (a + b) / 2
    }

    /// KL(P‖Q) as described in RangeMethod+Entropy.swift, built as whole arrays like MXNet's version.
    private func referenceDivergence(_ counts: [Int], _ window: BinWindow) -> Double {
        let (a, b) = (window.lowerBin, window.upperBin), width = b - a, levels = 256, eps = 1e-4
        var p = counts[a..<b].map(Double.init)
        p[0] += Double(counts[..<a].reduce(0, +))
        p[width - 1] += Double(counts[b...].reduce(0, +))
        var q = [Double](repeating: 0, count: width)
        for m in 0..<levels {
            let bins = (m * width / levels)..<((m + 1) * width / levels)
            let count = bins.reduce(0.0) { $0 + Double(counts[a + $1]) }
            let nonzero = bins.filter { p[$0] != 0 }.count
            for j in bins where p[j] != 0 { q[j] = count / Double(nonzero) }
        }
        func smoothed(_ d: [Double]) -> [Double] {
            let zeros = d.filter { $0 == 0 }.count
            let giveBack = eps * Double(zeros) / Double(d.count - zeros)
            return d.map { $0 == 0 ? eps : $0 - giveBack }
        }
        let (ps, qs) = (smoothed(p), smoothed(q))
        let (pSum, qSum) = (ps.reduce(0, +), qs.reduce(0, +))
        return zip(ps, qs).reduce(0) { $0 + ($1.0 / pSum) * log(($1.0 / pSum) / ($1.1 / qSum)) }
    }

    /// E(window) as described in RangeMethod+MSE.swift, bin by bin (bin units).
    private func referenceSquaredError(_ histogram: Histogram, zeroCount: Int, _ window: BinWindow) -> Double {
        let lo = Double(window.lowerBin), hi = Double(window.upperBin), step = (hi - lo) / 255
        var sum = 0.0
        for (j, count) in histogram.counts.enumerated() {
            let n = Double(j == histogram.zeroBin ? count - zeroCount : count), centre = Double(j) + 0.5
            if j < window.lowerBin {
                sum += n * ((centre - lo) * (centre - lo) + 1.0 / 12)
            } else if j >= window.upperBin {
                sum += n * ((centre - hi) * (centre - hi) + 1.0 / 12)
            } else {
                sum += n * step * step / 12
            }
        }
        return sum
    }
}

private extension SplitMix64 {
    /// Uniform in (0, 1), never 0 or 1.
    mutating func open01() -> Double { (Double(next() >> 11) + 0.5) * 0x1p-53 }

    /// Standard normal (Box–Muller).
    mutating func gaussian() -> Float { Float((-2 * log(open01())).squareRoot() * cos(2 * .pi * open01())) }

    /// Laplace with scale 1 (inverse CDF).
    mutating func laplace() -> Float {
        let u = open01() - 0.5
        return Float(u < 0 ? log(1 + 2 * u) : -log(1 - 2 * u))
    }
}
