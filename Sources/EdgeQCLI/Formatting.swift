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

/// The width of a name column: its longest entry and two spaces, at least `minimum` (ONNX exporters write node
/// names such as `/blocks/blocks.6/blocks.6.4/ghost2/primary_conv/primary_conv.0/Conv`).
public func columnWidth(_ names: [String], minimum: Int) -> Int {
    max(minimum, (names.map { $0.count }.max() ?? 0) + 2)
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

/// 10·log10(ratio) without Foundation: ln of the significand in [1, 2) by the series of
/// 2·atanh((m − 1)/(m + 1)), which converges fast there (|z| ≤ 1/3).
public func decibels(_ ratio: Double) -> Double {
    guard ratio > 0 else { return ratio == 0 ? -.infinity : .nan }
    guard ratio.isFinite else { return ratio }
    let m = ratio.significand
    let z = (m - 1) / (m + 1)
    var term = z
    var sum = 0.0
    var k = 1.0
    while abs(term) > 1e-18 {
        sum += term / k
        term *= z * z
        k += 2
    }
    let ln2 = 0.6931471805599453
    let ln = 2 * sum + Double(ratio.exponent) * ln2
    return 10 * ln / 2.302585092994046
}

/// A JSON number; infinities (a model identical to the reference has infinite SQNR) become null.
public func jsonNumber(_ value: Double) -> String { value.isFinite ? String(value) : "null" }
