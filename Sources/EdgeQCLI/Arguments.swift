import EdgeQ

/// A small command-line parser: positionals, `--flag`, and `--option VALUE` (or `--option=VALUE`).
/// Unknown options are errors, so a typo never silently changes what runs.
public struct Arguments {
    public private(set) var positionals: [String] = []
    private var values: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// `options` take a value; `switches` do not.
    public init(_ arguments: [String], options: [String], switches: [String]) throws(EdgeQError) {
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            i += 1
            guard a.hasPrefix("-") && a.count > 1 else {
                positionals.append(a)
                continue
            }
            var name = a
            var inlineValue: String? = nil
            if let eq = a.firstIndex(of: "=") {
                name = String(a[..<eq])
                inlineValue = String(a[a.index(after: eq)...])
            }
            if switches.contains(name) && inlineValue == nil {
                flags.insert(name)
            } else if options.contains(name) {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard i < arguments.count else {
                        throw EdgeQError(.invalidArgument, "option " + name + " needs a value")
                    }
                    value = arguments[i]
                    i += 1
                }
                values[name, default: []].append(value)
            } else {
                throw EdgeQError(.invalidArgument, "unknown option '" + a + "' (see --help)")
            }
        }
    }

    public func has(_ flag: String) -> Bool { flags.contains(flag) }

    public func value(_ option: String) -> String? { values[option]?.last }

    public func all(_ option: String) -> [String] { values[option] ?? [] }

    public func int(_ option: String, default fallback: Int, range: ClosedRange<Int>) throws(EdgeQError) -> Int {
        guard let text = value(option) else { return fallback }
        guard let v = Int(text), range.contains(v) else {
            throw EdgeQError(
                .invalidArgument,
                option + " takes a whole number from " + String(range.lowerBound) + " to " + String(range.upperBound)
                    + ", got '" + text + "'")
        }
        return v
    }
}
