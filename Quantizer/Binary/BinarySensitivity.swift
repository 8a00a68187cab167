import EdgeQ
import EdgeQCalibration
import Foundation

/// Logits of the float model on fixed inputs, and how close a quantized version of the graph comes to them.
struct LogitComparison {
    struct Measure {
        /// Percent of inputs whose top-1 class is float's.
        var agreement: Double
        /// Σ float², Σ (quantized − float)² over every logit of every input.
        var signal: Double
        var noise: Double

        var sqnrDecibels: Double { noise > 0 ? 10 * log10(signal / noise) : .infinity }
    }

    let inputs: [[Float]]
    let reference: [[Float]]
    let producer: String

    init(_ graph: ImportGraph, producer: String, inputs: [[Float]]) throws(EdgeQError) {
        let float = try Interpreter(model: try Model(importGraph: graph, producer: producer, quantization: nil))
        self.inputs = inputs
        self.producer = producer
        reference = inputs.map { input in
            float.run(input)
            return float.output()
        }
    }

    /// `graph` quantized with `ranges` (QuantizationPlan) against float.
    func measure(
        _ graph: ImportGraph, ranges: [String: ActivationRange], options: QuantizationOptions
    ) throws(EdgeQError) -> Measure {
        let plan = QuantizationPlan(graph, ranges: ranges, options: options)
        let interpreter = try Interpreter(model: try Model(importGraph: graph, producer: producer, quantization: plan))
        var result = Measure(agreement: 0, signal: 0, noise: 0)
        for (input, expected) in zip(inputs, reference) {
            interpreter.run(input)
            let logits = interpreter.output()
            for (y, e) in zip(logits, expected) {
                result.signal += Double(e) * Double(e)
                result.noise += Double(y - e) * Double(y - e)
            }
            if logits.indices.max(by: { logits[$0] < logits[$1] }) == expected.indices.max(by: { expected[$0] < expected[$1] }) {
                result.agreement += 100 / Double(inputs.count)
            }
        }
        return result
    }
}

extension Model {
    /// The EdgeQ model of an import graph, through the file format as `edgeq quantize` writes it.
    convenience init(importGraph graph: ImportGraph, producer: String, quantization plan: QuantizationPlan?)
        throws(EdgeQError)
    {
        let model = graph.emit(producer: producer, quantization: plan)
        try self.init(bytes: serializeEQM(model.graph, weights: model.weights))
    }
}

/// One line of the sensitivity table: a candidate convolution binarized alone, the rest as the int8 plan.
public struct BinarySensitivity {
    /// The candidate's number (`--binary` takes it) and node name.
    public var number: Int
    public var layer: String
    public var macs: Int
    /// Top-1 agreement with float (percent) and logit SQNR, on the binarization images.
    public var agreement: Double
    public var sqnrDecibels: Double
    /// Agreement points lost against the int8 model.
    public var drop: Double

    static let csvHeader = "number,layer,macs,agreement_percent,drop_points,logit_sqnr_db"

    var csvLine: String {
        [String(number), layer, String(macs), String(agreement), String(drop), String(sqnrDecibels)]
            .joined(separator: ",")
    }
}

/// The binarization `edgeq quantize` ended up with.
public struct BinarizationReport {
    /// Binarized node names, in execution order.
    public var layers: [String] = []
    public var macs = 0
    /// Every candidate alone, least sensitive first (empty when not measured).
    public var sensitivity: [BinarySensitivity] = []
    /// The int8 model's and the binarized model's measures on the binarization images.
    public var int8Agreement = 0.0, agreement = 0.0, sqnrDecibels = 0.0

    /// The table as CSV, one line per candidate.
    public var sensitivityCSV: String {
        ([BinarySensitivity.csvHeader] + sensitivity.map(\.csvLine)).joined(separator: "\n") + "\n"
    }
}

extension ImportGraph {
    /// Binarizes what `options` selects (explicit layers, or the automatic plan under its budget), measuring on
    /// `inputs` (model inputs of calibration images) with the int8 plan of `ranges` around the binary layers.
    mutating func applyBinarization(
        _ options: BinarizationOptions, quantization: QuantizationOptions, ranges: [String: ActivationRange],
        producer: String, inputs: [[Float]], report: (String) -> Void, progress: (String, Int, Int) -> Void
    ) throws(EdgeQError) -> BinarizationReport {
        if options.budget != nil && !options.layers.isEmpty {
            throw EdgeQError(.invalidArgument, "--binary auto chooses the layers itself: give auto or layers, not both")
        }
        let candidates = binaryCandidates()
        let explicit = try resolveBinaryLayers(options.layers)
        let measured = Array(Set(candidates + explicit)).sorted()
        let names = measured.map { tensors[nodes[$0].inputs[0]].name }
        let scales = try measureBinaryInputScales(
            emit(producer: producer), names, channels: measured.map { tensors[nodes[$0].inputs[0]].dims[1] },
            mode: options.input, inputs: inputs)
        let comparison = try LogitComparison(self, producer: producer, inputs: inputs)
        func measure(_ layers: [Int]) throws(EdgeQError) -> LogitComparison.Measure {
            var trial = self
            trial.binarizeLayers(layers, scales: scales, options: options)
            return try comparison.measure(trial, ranges: ranges, options: quantization)
        }
        let int8 = try measure([])
        var result = BinarizationReport()
        result.int8Agreement = int8.agreement
        if options.budget != nil || options.measureSensitivity {
            for (number, index) in candidates.enumerated() {
                let alone = try measure([index])
                result.sensitivity.append(BinarySensitivity(
                    number: number, layer: nodes[index].name, macs: convolutionMACs(index), agreement: alone.agreement,
                    sqnrDecibels: alone.sqnrDecibels, drop: int8.agreement - alone.agreement))
                progress("binary sensitivity", number + 1, candidates.count)
            }
            // Least sensitive first by logit SQNR: agreement on a few dozen images moves in steps of several
            // points and ties most layers.
            result.sensitivity.sort { $0.sqnrDecibels > $1.sqnrDecibels }
        }
        var chosen = explicit
        var last = int8
        if let budget = options.budget {
            // Greedy: each candidate in order of sensitivity joins if the model with it stays within the budget.
            for (step, line) in result.sensitivity.enumerated() {
                let index = candidates[line.number]
                let trial = try measure(chosen + [index])
                if int8.agreement - trial.agreement <= budget {
                    chosen.append(index)
                    last = trial
                    report("binary auto: + " + line.layer + " (agreement " + String(trial.agreement) + " %)")
                }
                progress("binary auto plan", step + 1, result.sensitivity.count)
            }
        } else if !chosen.isEmpty {
            last = try measure(chosen)
        }
        chosen.sort()
        result.layers = chosen.map { nodes[$0].name }
        result.macs = chosen.map(convolutionMACs).reduce(0, +)
        result.agreement = last.agreement
        result.sqnrDecibels = last.sqnrDecibels
        binarizeLayers(chosen, scales: scales, options: options)
        return result
    }
}
