/// Number formatting without Foundation (Embedded Swift has no String(format:)).

/// `value` rounded to `decimals` places, e.g. fixed(85.0, 2) == "85.00".
public func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let negative = value < 0
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e18 else { return String(value) }
    let n = UInt64(scaled)
    let whole = n / UInt64(scale)
    var text = (negative && n != 0 ? "-" : "") + String(whole)
    if decimals > 0 {
        var fraction = String(n % UInt64(scale))
        while fraction.count < decimals { fraction = "0" + fraction }
        text += "." + fraction
    }
    return text
}

/// Right-aligns `text` in `width` columns.
public func padLeft(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

/// Left-aligns `text` in `width` columns.
public func padRight(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

/// A JSON string literal.
public func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = Array("0123456789abcdef")
                out += "\\u00" + String(hex[Int(u.value >> 4)]) + String(hex[Int(u.value & 15)])
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

/// Human-readable byte count: "13.4 MB".
public func byteSize(_ bytes: Int) -> String {
    if bytes < 1024 { return String(bytes) + " B" }
    if bytes < 1024 * 1024 { return fixed(Double(bytes) / 1024, 1) + " KiB" }
    return fixed(Double(bytes) / (1024 * 1024), 2) + " MiB"
}

/// Indices of the `k` largest values, largest first (ties: lower index first, as a stable sort gives).
public func topK(_ values: [Float], _ k: Int) -> [Int] {
    var best: [Int] = []
    for i in values.indices {
        var position = best.count
        while position > 0 && values[best[position - 1]] < values[i] { position -= 1 }
        if position < k {
            best.insert(i, at: position)
            if best.count > k { best.removeLast() }
        }
    }
    return best
}
