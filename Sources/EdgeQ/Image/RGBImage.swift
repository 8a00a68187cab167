/// An 8-bit RGB image, the common output of every decoder and the input of the preprocessing.
public struct RGBImage: Equatable {
    public var width: Int
    public var height: Int
    /// HWC: row-major, three bytes (R, G, B) per pixel, `width * height * 3` bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3, "RGBImage: pixel count")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Largest width or height any decoder accepts: bounds the memory a file can make us allocate.
public let maxImageDimension = 16384

/// Decodes a JPEG (baseline) or binary PPM/PGM (P6/P5) file, chosen by its signature.
public func decodeImage(_ bytes: [UInt8]) throws(EdgeQError) -> RGBImage {
    if bytes.count >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8 {
        return try JPEGDecoder.decode(bytes)
    }
    if bytes.count >= 2 && bytes[0] == UInt8(ascii: "P") {
        switch bytes[1] {
        case UInt8(ascii: "5"), UInt8(ascii: "6"):
            return try PPMDecoder.decode(bytes)
        case UInt8(ascii: "1"), UInt8(ascii: "2"), UInt8(ascii: "3"), UInt8(ascii: "4"):
            throw EdgeQError(
                .unsupported,
                "plain or bitmap PNM (P\(bytes[1] - UInt8(ascii: "0"))) is not supported; use binary P6 or P5")
        default:
            break
        }
    }
    throw EdgeQError(.invalidImage, "not a JPEG or PPM image: " + describeSignature(bytes))
}

/// "unknown signature 0x25 0x50 0x44 0x46" (at most 4 bytes), or "empty file".
func describeSignature(_ bytes: [UInt8]) -> String {
    if bytes.isEmpty { return "empty file" }
    var text = "unknown signature"
    for byte in bytes.prefix(4) { text += " " + hexByte(byte) }
    return text
}

/// "0x3F": Embedded Swift has no `String(format:)`.
func hexByte(_ byte: UInt8) -> String { "0x" + hexDigits(byte) }

/// The two upper-case hex digits of `byte`.
func hexDigits(_ byte: UInt8) -> String {
    @inline(__always) func digit(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x41 + value - 10 }
    return String(decoding: [digit(byte >> 4), digit(byte & 15)], as: UTF8.self)
}
