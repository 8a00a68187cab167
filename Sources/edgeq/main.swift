import EdgeQ
import EdgeQCLI
import EdgeQQuantizer

#if canImport(Glibc)
import Glibc
#endif

/// Imports an ONNX file into an in-memory EdgeQ model (the same bytes `edgeq convert` would write).
func convertONNX(_ path: String) throws(EdgeQError) -> [UInt8] {
    let bytes = try Platform.readBytes(path)
    do {
        let imported = try importONNX(bytes)
        return serializeEQM(imported.graph, weights: imported.weights)
    } catch {
        throw EdgeQError(error.kind, path + ": " + error.message)
    }
}

let loader: ModelLoader = { path throws(EdgeQError) in
    path.hasSuffix(".onnx") ? try Model(bytes: try convertONNX(path)) : try loadEQM(path)
}

let convert = Command(
    name: "convert", summary: "convert a float ONNX model to an EdgeQ model file",
    help: """
        Usage: edgeq convert MODEL.onnx -o MODEL.eqm

        Imports the ONNX graph (opsets 11 to 21), folds batch norms, constants and shape computations, fuses
        activations into the layers that produce them, lays the weights out for the kernels and writes a
        float32 .eqm file atomically. The result is loaded and planned once before it is written, so a file
        that is written is a file that runs.
        """,
    run: { arguments throws(EdgeQError) in
        let args = try Arguments(arguments, options: ["-o", "--output"], switches: [])
        guard args.positionals.count == 1, let output = args.value("-o") ?? args.value("--output") else {
            throw EdgeQError(.invalidArgument, "usage: edgeq convert MODEL.onnx -o MODEL.eqm")
        }
        let bytes = try convertONNX(args.positionals[0])
        let interpreter = try Interpreter(model: try Model(bytes: bytes))
        try Platform.writeFileAtomically(output, bytes)
        Platform.print(
            "wrote " + output + ": " + String(bytes.count) + " bytes, " + String(interpreter.model.graph.nodes.count)
                + " layers, arena " + String(interpreter.arenaBytes) + " bytes")
    })

exit(edgeqMain(Array(CommandLine.arguments.dropFirst()), commands: [convert, quantize, demo, microbench] + runtimeCommands(loader: loader)))
