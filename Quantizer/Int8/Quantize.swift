import EdgeQ
import EdgeQCalibration
import Foundation

/// Where the activation ranges come from.
public enum RangeSource {
    /// Calibrate: run the float model over these image files and choose each tensor's range with `method`.
    /// With `skipBad`, an image that does not decode is skipped with a warning instead of stopping.
    case images([String], method: RangeMethod, skipBad: Bool)
    /// A range table written by an earlier run (and perhaps edited): a tensor without a line stays float32.
    case table(RangeTable)
}

public struct QuantizationResult {
    public var model: ImportedModel
    /// The ranges used, one line per calibrated tensor.
    public var table: RangeTable
    /// What binarization chose and measured, when asked for.
    public var binarization: BinarizationReport?
}

/// Quantizes an ONNX float model to int8 (QUANTIZATION.md beside the int8 kernels): calibration or a range
/// table gives every activation tensor a range; weights become int8 per output channel (or per tensor).
/// `report` receives progress lines and warnings.
public func quantizeONNX(
    _ bytes: [UInt8], ranges source: RangeSource, options: QuantizationOptions,
    report: (String) -> Void, progress: (_ stage: String, _ done: Int, _ total: Int) -> Void
) throws(EdgeQError) -> QuantizationResult {
    var (graph, producer) = try importONNXGraph(bytes)
    _ = try graph.resolveBinaryLayers(options.binarization.layers)  // a bad --binary fails before calibrating
    if options.crossLayerEqualization {
        report("cross-layer equalization: " + String(graph.equalizeCrossLayer()) + " pairs of layers equalized")
    }
    let inputSize = channelsLast(graph.tensors[graph.inputs[0]].dims)[1]
    let table: RangeTable
    var calibration: CalibrationInputs? = nil
    switch source {
    case .table(let given):
        let known = Set(graph.tensors.map(\.name))
        for entry in given.entries where !known.contains(entry.name) {
            throw EdgeQError(
                .invalidInput, "the range table names tensor '" + entry.name + "', which the model does not have")
        }
        table = given
    case .images(let images, let method, let skipBad):
        let float = graph.emit(producer: producer)
        calibration = try CalibrationInputs(images, size: inputSize, skipBad: skipBad, report: report)
        let statistics = try collectStatistics(float, calibration: calibration!, progress: { progress("calibrate", $0, $1) })
        // The logits keep their whole range: clipping them would clip exactly the winning class.
        let logits = Set(float.graph.outputs.map { float.graph.tensors[$0].name })
        var entries: [RangeTable.Entry] = []
        for tensor in float.graph.tensors where statistics[tensor.name] != nil {
            let chosen = logits.contains(tensor.name) ? RangeMethod.minmax : method
            do {
                let range = try chosen.range(for: statistics[tensor.name]!)
                entries.append(RangeTable.Entry(name: tensor.name, range: range, method: chosen.description))
            } catch {
                throw EdgeQError(.invalidInput, "tensor '" + tensor.name + "': " + error.description)
            }
        }
        if options.rangeSearchImages > 0 {
            let inputs = try calibration!.inputs(first: options.rangeSearchImages)
            entries = try graph.searchRanges(entries, statistics: statistics, inputs: inputs, producer: producer,
                                             options: options, progress: progress)
        }
        do { table = try RangeTable(entries: entries) } catch {
            throw EdgeQError(.invalidInput, error.description)
        }
    }
    for name in options.keepFloat where !graph.nodes.contains(where: { globMatches(pattern: Array(name.utf8), name: Array($0.name.utf8)) }) {
        throw EdgeQError(.invalidArgument, "--keep-float '" + name + "' matches no layer of the model")
    }
    var binarization: BinarizationReport? = nil
    if options.binarization.isRequested {
        // The calibration images, checked already when they calibrated the ranges; else (--table-in) the folder's.
        let images = calibration?.paths ?? options.binarization.calibrationImages
        guard !images.isEmpty else {
            throw EdgeQError(.invalidArgument, "binarization measures on calibration images: give --calib DIR")
        }
        let source: CalibrationInputs
        if let calibration { source = calibration } else {
            source = try CalibrationInputs(
                Array(images.prefix(options.binarization.images)), size: inputSize, skipBad: false, report: report)
        }
        let inputs = try source.inputs(first: options.binarization.images)
        binarization = try graph.applyBinarization(
            options.binarization, quantization: options, ranges: table.ranges, producer: producer, inputs: inputs,
            report: report, progress: progress)
    }
    let plan = QuantizationPlan(graph, ranges: table.ranges, options: options)
    if options.biasCorrection {
        guard let calibration else {
            throw EdgeQError(.invalidArgument, "bias correction measures the model on calibration images: give --calib")
        }
        try graph.correctBiases(plan: plan, producer: producer, calibration: calibration, progress: progress)
    }
    let model = graph.emit(producer: producer + ", int8 by edgeq quantize", quantization: plan,
                           packBinaryActivations: options.packBinaryActivations)
    return QuantizationResult(model: model, table: table, binarization: binarization)
}

/// The calibration images, decoded and preprocessed to the model's input one at a time (so that hundreds of
/// them never sit in memory together).
struct CalibrationInputs {
    private(set) var paths: [String]
    let size: Int

    /// Checks that at least one image decodes; with `skipBad`, images that do not decode are dropped with a
    /// warning, otherwise the first one stops everything.
    init(_ images: [String], size: Int, skipBad: Bool, report: (String) -> Void) throws(EdgeQError) {
        guard !images.isEmpty else { throw EdgeQError(.invalidInput, "no calibration images") }
        self.size = size
        paths = []
        for path in images {
            do throws(EdgeQError) {
                _ = try Self.decode(path)
                paths.append(path)
            } catch {
                guard skipBad else {
                    throw EdgeQError(error.kind, path + ": " + error.message + " (--skip-bad skips such images)")
                }
                report("warning: skipping " + path + ": " + error.message)
            }
        }
        guard !paths.isEmpty else {
            throw EdgeQError(.invalidInput, "none of the " + String(images.count) + " calibration images could be decoded")
        }
    }

    private static func decode(_ path: String) throws(EdgeQError) -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EdgeQError(.io, "cannot read '" + path + "'")
        }
        return try decodeImage([UInt8](data))
    }

    /// One image's model input: NHWC floats.
    func input(_ index: Int) throws(EdgeQError) -> [Float] {
        imageNetInputNHWC(try Self.decode(paths[index]), size: size)
    }

    /// The model inputs of the first `count` images (all by default), decoded once for passes that run the model
    /// over them many times.
    func inputs(first count: Int = .max) throws(EdgeQError) -> [[Float]] {
        var inputs: [[Float]] = []
        for n in paths.indices.prefix(count) { inputs.append(try input(n)) }
        return inputs
    }

    /// Runs `interpreter` on each image's model input, then `body` with the image's path; `progress` gets
    /// (images done, images).
    func forEach(
        into interpreter: Interpreter, progress: (Int, Int) -> Void,
        _ body: (String) throws(EdgeQError) -> Void
    ) throws(EdgeQError) {
        for n in paths.indices {
            interpreter.run(try input(n))
            try body(paths[n])
            progress(n + 1, paths.count)
        }
    }
}

extension Interpreter {
    /// Copies `input` (NHWC floats) into the model's input and runs it.
    func run(_ input: [Float]) {
        let destination = self.input()
        for i in input.indices { destination[i] = input[i] }
        invoke()
    }
}

/// Runs the float model over the calibration images and gathers statistics of every activation tensor, by name.
func collectStatistics(
    _ float: ImportedModel, calibration: CalibrationInputs, progress: (Int, Int) -> Void
) throws(EdgeQError) -> [String: ActivationStatistics] {
    let model = try Model(bytes: serializeEQM(float.graph, weights: float.weights)).observingEveryActivation()
    let observed = model.graph
    let interpreter = try Interpreter(model: model)
    var statistics = [ActivationStatistics](repeating: ActivationStatistics(), count: observed.outputs.count)
    try calibration.forEach(into: interpreter, progress: progress) { path throws(EdgeQError) in
        for i in observed.outputs.indices {
            let values = interpreter.output(i)
            do throws(CalibrationError) {
                try values.withUnsafeBufferPointer { buffer throws(CalibrationError) in try statistics[i].observe(buffer) }
            } catch {
                throw EdgeQError(.invalidInput, path + ": tensor '" + observed.tensors[observed.outputs[i]].name
                    + "': " + error.description)
            }
        }
    }
    var byName: [String: ActivationStatistics] = [:]
    for (i, t) in observed.outputs.enumerated() { byName[observed.tensors[t].name] = statistics[i] }
    return byName
}

/// The image files (JPEG, PPM, PGM) of a folder, sorted by name, at most `limit`.
public func calibrationImages(in directory: String, limit: Int?) throws(EdgeQError) -> [String] {
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
        throw EdgeQError(.io, "cannot list calibration folder '" + directory + "'")
    }
    let extensions: Set<String> = ["jpg", "jpeg", "ppm", "pgm"]
    let images = names.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
    guard !images.isEmpty else {
        throw EdgeQError(.invalidInput, "calibration folder '" + directory + "' has no JPEG or PPM images")
    }
    return images.prefix(limit ?? images.count).map { directory + "/" + $0 }
}
