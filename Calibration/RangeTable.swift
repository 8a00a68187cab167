/// The calibrated ranges as a plain text table that a person can read and edit between calibration and
/// quantization (as ncnn's ncnn2table output sits between calibration and ncnn2int8):
///
///     tensor<TAB>lo<TAB>hi<TAB>method
///     conv1/relu<TAB>0.0<TAB>5.9921875<TAB>entropy
///
/// The first line is that header; then one line per tensor. Only tabs separate columns, so names may hold spaces,
/// dots and slashes. Floats are Swift's shortest representation that reads back to the same float32, so a table
/// written and read back gives the same bits. Lines starting with `#` are comments; empty lines are skipped. The
/// method column says how the range was chosen (any text); only lo and hi are used.
public struct RangeTable: Equatable, Sendable {
    public static let header = "tensor\tlo\thi\tmethod"

    public struct Entry: Equatable, Sendable {
        public var name: String
        public var range: ActivationRange
        public var method: String

        public init(name: String, range: ActivationRange, method: String) {
            self.name = name
            self.range = range
            self.method = method
        }
    }

    /// The entries in table order.
    public let entries: [Entry]

    /// A table of these entries; throws when one could not be written and read back: a name that is empty, holds
    /// a tab or a line break, starts with `#` or repeats, or a method with a tab or a line break.
    public init(entries: [Entry]) throws(CalibrationError) {
        var seen = Set<String>()
        for entry in entries {
            if let problem = Self.problem(name: entry.name) ?? Self.problem(method: entry.method) {
                throw CalibrationError("tensor \(String(reflecting: entry.name)): \(problem)")
            }
            guard seen.insert(entry.name).inserted else {
                throw CalibrationError("tensor \(String(reflecting: entry.name)) appears twice")
            }
        }
        self.entries = entries
    }

    /// Parses a table; every error names its line.
    public init(parsing text: String) throws(CalibrationError) {
        var entries: [Entry] = []
        var lineOfName: [String: Int] = [:]
        var headerSeen = false
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let lineNumber = index + 1
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard headerSeen else {
                guard line == Self.header else {
                    let expected = String(reflecting: Self.header), found = String(reflecting: String(line))
                    throw CalibrationError(line: lineNumber, "expected the header \(expected), found \(found)")
                }
                headerSeen = true
                continue
            }
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard columns.count == 4 else {
                throw CalibrationError(
                    line: lineNumber,
                    "expected 4 tab-separated columns (tensor, lo, hi, method), found \(columns.count)")
            }
            let name = columns[0]
            if let problem = Self.problem(name: name) { throw CalibrationError(line: lineNumber, problem) }
            if let first = lineOfName[name] {
                throw CalibrationError(
                    line: lineNumber, "tensor \(String(reflecting: name)) appears twice (first on line \(first))")
            }
            guard let lo = Float(columns[1]) else {
                throw CalibrationError(line: lineNumber, "lo is not a number: \(String(reflecting: columns[1]))")
            }
            guard let hi = Float(columns[2]) else {
                throw CalibrationError(line: lineNumber, "hi is not a number: \(String(reflecting: columns[2]))")
            }
            if let problem = ActivationRange.problem(lo: lo, hi: hi) {
                throw CalibrationError(line: lineNumber, "tensor \(String(reflecting: name)): \(problem)")
            }
            lineOfName[name] = lineNumber
            entries.append(Entry(name: name, range: ActivationRange(lo: lo, hi: hi), method: columns[3]))
        }
        guard headerSeen else {
            throw CalibrationError(line: 1, "empty range table: expected the header \(String(reflecting: Self.header))")
        }
        self.entries = entries
    }

    /// The table as text: the header, then one line per entry, each ending with a line break.
    public var text: String {
        var text = Self.header + "\n"
        for entry in entries {
            text += "\(entry.name)\t\(entry.range.lo.description)\t\(entry.range.hi.description)\t\(entry.method)\n"
        }
        return text
    }

    /// Tensor name → range.
    public var ranges: [String: ActivationRange] {
        Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.range) })
    }

    private static func problem(name: String) -> String? {
        if name.isEmpty { return "empty tensor name" }
        if name.hasPrefix("#") { return "a tensor name cannot start with '#' (the line would be a comment)" }
        if name.contains(where: { $0 == "\t" || $0.isNewline }) {
            return "a tensor name cannot hold a tab or a line break"
        }
        return nil
    }

    private static func problem(method: String) -> String? {
        method.contains(where: { $0 == "\t" || $0.isNewline }) ? "a method cannot hold a tab or a line break" : nil
    }
}
