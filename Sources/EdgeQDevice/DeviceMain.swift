import EdgeQ
import EdgeQCLI

/// The device executable's Swift entry, called by the C `main` in Sources/edgeq-device/main.c once it has
/// checked that the CPU has every instruction set feature the binary was compiled for. C owns `main` because
/// Embedded Swift has no `CommandLine`: argv arrives here as C strings.
@_cdecl("edgeq_device_main")
public func edgeqDeviceMain(_ argc: Int32, _ argv: UnsafePointer<UnsafePointer<CChar>?>) -> Int32 {
    var arguments: [String] = []
    for i in 1..<Int(argc) {
        if let argument = argv[i] { arguments.append(String(cString: argument)) }
    }
    return edgeqMain(arguments, commands: runtimeCommands(loader: loadEQM))
}
