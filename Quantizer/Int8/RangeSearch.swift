import EdgeQ
import EdgeQCalibration

// Range search: the range methods judge each tensor alone (how much of its own histogram a range clips or
// rounds), but what matters is how the error a range causes travels to the logits. Starting from the ranges of
// the chosen method, each calibrated tensor in turn, in execution order, tries the ranges the other methods give
// it, and keeps the one with the least squared error of the int8 model's logits against float's over the
// search images (a subset of the calibration images); later tensors are searched with the earlier choices in
// place. Greedy coordinate descent, as in the layer-wise range searches of TensorRT's and AIMET's tooling,
// measured end to end instead of layer by layer.

/// Alternative methods each tensor tries besides the one it starts with.
let rangeSearchCandidates: [RangeMethod] = [.minmax, .percentile(99.9), .percentile(99.999), .mse]

extension ImportGraph {
    /// Improves `entries` (one per calibrated tensor, in graph order) by the search above. `statistics` are the
    /// calibration statistics the candidate ranges come from; `inputs` the search images' model inputs.
    func searchRanges(
        _ entries: [RangeTable.Entry], statistics: [String: ActivationStatistics], inputs: [[Float]],
        producer: String, options: QuantizationOptions, progress: (String, Int, Int) -> Void
    ) throws(EdgeQError) -> [RangeTable.Entry] {
        let comparison = try LogitComparison(self, producer: producer, inputs: inputs)
        func logitError(_ entries: [RangeTable.Entry]) throws(EdgeQError) -> Double {
            var ranges: [String: ActivationRange] = [:]
            for entry in entries { ranges[entry.name] = entry.range }
            return try comparison.measure(self, ranges: ranges, options: options).noise
        }
        var best = entries
        var bestError = try logitError(best)
        for (i, entry) in entries.enumerated() {
            guard let tensorStatistics = statistics[entry.name] else { continue }
            for method in rangeSearchCandidates where method.description != entry.method {
                guard let range = try? method.range(for: tensorStatistics), range != entry.range else { continue }
                var trial = best
                trial[i] = RangeTable.Entry(name: entry.name, range: range, method: method.description + " (searched)")
                let error = try logitError(trial)
                if error < bestError {
                    best = trial
                    bestError = error
                }
            }
            progress("range search", i + 1, entries.count)
        }
        return best
    }
}
