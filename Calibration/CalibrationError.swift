/// Why calibration could not go on: values that are not finite, a request that cannot be met, or a range table
/// that does not parse (then `line` is the 1-based line of the table, and the description starts with it).
public struct CalibrationError: Error, Equatable, CustomStringConvertible {
    public var line: Int?
    public var message: String

    public init(line: Int? = nil, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}
