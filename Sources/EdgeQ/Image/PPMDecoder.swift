/// Binary Netpbm images: P6 (RGB) and P5 (grayscale, replicated to RGB), maxval 1...255.
///
/// A maxval below 255 is rescaled as Pillow does (`min(255, round(v / maxval * 255))` in double precision with
/// round-half-even), so the result matches `Image.open(path).convert("RGB")`. 16-bit files (maxval > 255) are
/// rejected. Bytes after the first image (multi-image files) are ignored.
public enum PPMDecoder {
    public static func decode(_ bytes: [UInt8]) throws(EdgeQError) -> RGBImage {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P"),
            bytes[1] == UInt8(ascii: "6") || bytes[1] == UInt8(ascii: "5")
        else {
            throw EdgeQError(.invalidImage, "PPM: missing P6/P5 signature: " + describeSignature(bytes))
        }
        let channels = bytes[1] == UInt8(ascii: "6") ? 3 : 1
        var header = HeaderReader(bytes: bytes)
        let width = try header.readNumber("width")
        let height = try header.readNumber("height")
        let maxval = try header.readNumber("maxval")
        guard width > 0, height > 0 else {
            throw EdgeQError(.invalidImage, "PPM: zero image size \(width)x\(height)")
        }
        guard width <= maxImageDimension, height <= maxImageDimension else {
            throw EdgeQError(
                .invalidImage, "PPM: size \(width)x\(height) exceeds the \(maxImageDimension) pixel limit")
        }
        guard maxval > 0 else { throw EdgeQError(.invalidImage, "PPM: maxval 0") }
        guard maxval <= 255 else {
            throw EdgeQError(.unsupported, "PPM: 16-bit samples (maxval \(maxval)) are not supported")
        }
        // Exactly one whitespace byte separates maxval from the samples.
        guard header.position < bytes.count, isWhitespace(bytes[header.position]) else {
            throw EdgeQError(.invalidImage, "PPM: no whitespace after maxval at byte \(header.position)")
        }
        let start = header.position + 1
        let sampleCount = width * height * channels
        guard bytes.count - start >= sampleCount else {
            throw EdgeQError(
                .invalidImage,
                "PPM truncated: \(width)x\(height) needs \(sampleCount) bytes of samples, "
                    + "file has \(bytes.count - start)")
        }
        let levels = scaledLevels(maxval: maxval)
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { out, initialized in
            bytes.withUnsafeBufferPointer { input in
                levels.withUnsafeBufferPointer { level in
                    if channels == 3 {
                        for i in 0..<sampleCount { out[i] = level[Int(input[start + i])] }
                    } else {
                        for i in 0..<sampleCount {
                            let value = level[Int(input[start + i])]
                            out[3 * i] = value
                            out[3 * i + 1] = value
                            out[3 * i + 2] = value
                        }
                    }
                }
            }
            initialized = width * height * 3
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Output level for each possible input byte; identity for maxval 255. Samples above maxval saturate to 255.
    static func scaledLevels(maxval: Int) -> [UInt8] {
        var levels = [UInt8](repeating: 255, count: 256)
        for value in 0...maxval {
            let scaled = (Double(value) / Double(maxval) * 255).rounded(.toNearestOrEven)
            levels[value] = UInt8(min(scaled, 255))
        }
        return levels
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// Reads the ASCII header fields: decimal numbers separated by whitespace and `#` comments.
    private struct HeaderReader {
        let bytes: [UInt8]
        var position = 2

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func readNumber(_ field: String) throws(EdgeQError) -> Int {
            while position < bytes.count {
                let byte = bytes[position]
                if PPMDecoder.isWhitespace(byte) {
                    position += 1
                } else if byte == UInt8(ascii: "#") {
                    while position < bytes.count && bytes[position] != 0x0A && bytes[position] != 0x0D {
                        position += 1
                    }
                } else {
                    break
                }
            }
            guard position < bytes.count else {
                throw EdgeQError(.invalidImage, "PPM truncated: header ends before the \(field)")
            }
            let first = position
            var value = 0
            while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
                // Saturates (every field is rejected far below this) so a long digit run cannot overflow Int.
                value = min(value * 10 + Int(bytes[position] - UInt8(ascii: "0")), 99_999_999)
                position += 1
            }
            guard position > first else {
                throw EdgeQError(
                    .invalidImage,
                    "PPM: bad header: expected the \(field) at byte \(first), found \(hexByte(bytes[first]))")
            }
            return value
        }
    }
}
