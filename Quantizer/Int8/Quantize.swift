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
}

/// Quantizes an ONNX float model to int8 (QUANTIZATION.md beside the int8 kernels): calibration or a range
/// table gives every activation tensor a range; weights become int8 per output channel (or per tensor).
/// `report` receives progress lines and warnings.
public func quantizeONNX(
    _ bytes: [UInt8], ranges source: RangeSource, options: QuantizationOptions,
    report: (String) -> Void, progress: (Int, Int) -> Void
) throws(EdgeQError) -> QuantizationResult {
    let (graph, producer) = try importONNXGraph(bytes)
    let table: RangeTable
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
        let statistics = try collectStatistics(float, images: images, skipBad: skipBad, report: report,
                                               progress: progress)
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
        do { table = try RangeTable(entries: entries) } catch {
            throw EdgeQError(.invalidInput, error.description)
        }
    }
    for name in options.keepFloat where !graph.nodes.contains(where: { globMatches(pattern: Array(name.utf8), name: Array($0.name.utf8)) }) {
        throw EdgeQError(.invalidArgument, "--keep-float '" + name + "' matches no layer of the model")
    }
    let plan = QuantizationPlan(graph, ranges: table.ranges, options: options)
    let model = graph.emit(producer: producer + ", int8 by edgeq quantize", quantization: plan)
    return QuantizationResult(model: model, table: table)
}

/// Runs the float model over `images` and gathers statistics of every activation tensor, by name.
func collectStatistics(
    _ float: ImportedModel, images: [String], skipBad: Bool, report: (String) -> Void,
    progress: (Int, Int) -> Void
) throws(EdgeQError) -> [String: ActivationStatistics] {
    guard !images.isEmpty else { throw EdgeQError(.invalidInput, "no calibration images") }
    let model = try Model(bytes: serializeEQM(float.graph, weights: float.weights)).observingEveryActivation()
    let observed = model.graph
    let interpreter = try Interpreter(model: model)
    let size = interpreter.inputShape[1]
    var statistics = [ActivationStatistics](repeating: ActivationStatistics(), count: observed.outputs.count)
    var used = 0
    for (n, path) in images.enumerated() {
        let image: RGBImage
        do throws(EdgeQError) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw EdgeQError(.io, "cannot read '" + path + "'")
            }
            image = try decodeImage([UInt8](data))
        } catch {
            guard skipBad else {
                throw EdgeQError(error.kind, path + ": " + error.message + " (--skip-bad skips such images)")
            }
            report("warning: skipping " + path + ": " + error.message)
            continue
        }
        let pixels = imageNetInputNHWC(image, size: size)
        let input = interpreter.input()
        for i in pixels.indices { input[i] = pixels[i] }
        interpreter.invoke()
        for (i, _) in observed.outputs.enumerated() {
            let values = interpreter.output(i)
            do {
                try values.withUnsafeBufferPointer { buffer throws(CalibrationError) in try statistics[i].observe(buffer) }
            } catch {
                throw EdgeQError(.invalidInput, path + ": tensor '" + observed.tensors[observed.outputs[i]].name
                    + "': " + error.description)
            }
        }
        used += 1
        progress(n + 1, images.count)
    }
    guard used > 0 else { throw EdgeQError(.invalidInput, "none of the " + String(images.count) + " calibration images could be decoded") }
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
