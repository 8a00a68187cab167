import CEdgeQPlatform
import EdgeQ

/// File, clock and console services through the C shim, identical on the host and the device.
public enum Platform {
    public static func readFile(_ path: String) throws(EdgeQError) -> AlignedBuffer {
        let size = eq_file_size(path)
        guard size >= 0 else { throw EdgeQError(.io, "cannot read '" + path + "': " + lastError()) }
        let buffer = AlignedBuffer(count: Int(size))
        guard eq_read_file(path, buffer.base, size) == 0 else {
            throw EdgeQError(.io, "cannot read '" + path + "': " + lastError())
        }
        return buffer
    }

    public static func readBytes(_ path: String) throws(EdgeQError) -> [UInt8] {
        let buffer = try readFile(path)
        return Array(buffer.bytes)
    }

    /// Temp file beside `path`, then rename: nothing half-written is ever left at `path`.
    public static func writeFileAtomically<T>(_ path: String, _ contents: [T]) throws(EdgeQError) {
        let status = contents.withUnsafeBytes { eq_write_file_atomic(path, $0.baseAddress, Int64($0.count)) }
        guard status == 0 else { throw EdgeQError(.io, "cannot write '" + path + "': " + lastError()) }
    }

    public static func isDirectory(_ path: String) -> Bool { eq_is_directory(path) != 0 }

    public static func nanoseconds() -> UInt64 { eq_monotonic_ns() }

    public static func peakMemoryKiB() -> Int { Int(eq_peak_rss_kib()) }

    public static func print(_ text: String) { write(text + "\n", toError: false) }

    public static func printError(_ text: String) { write(text + "\n", toError: true) }

    public static func write(_ text: String, toError: Bool) {
        var copy = text
        copy.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                if toError { eq_write_stderr(chars.baseAddress, chars.count) } else {
                    eq_write_stdout(chars.baseAddress, chars.count)
                }
            }
        }
    }

    public static var stderrIsTerminal: Bool { eq_stderr_is_terminal() != 0 }

    public static func parseDouble(_ text: String) -> Double? {
        var value = 0.0
        return eq_parse_double(text, &value) == 0 ? value : nil
    }

    private static func lastError() -> String { String(cString: eq_last_error()) }
}
