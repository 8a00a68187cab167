/// One Huffman decoding table (JPEG DHT), in the canonical form of ITU T.81 Annex C / F.2.2.3.
///
/// Codes up to `lookupBits` long are resolved by one table look-up on the next bits of the stream; longer
/// codes walk `maxCode` per length as in the standard's DECODE procedure. The arrays live in raw memory
/// because the entropy decoder reads them for every coefficient.
final class JPEGHuffmanTable {
    static let lookupBits = 9

    /// Indexed by the next `lookupBits` bits: `symbol << 8 | codeLength`, or 0 when the code is longer.
    let lookup: UnsafeMutablePointer<UInt16>
    /// `maxCode[length]`: the largest code of that length (1...16), -1 when the length has no codes.
    let maxCode: UnsafeMutablePointer<Int32>
    /// `symbols[code + symbolOffset[length]]` is the symbol of a `length`-bit code.
    let symbolOffset: UnsafeMutablePointer<Int32>
    let symbols: UnsafeMutablePointer<UInt8>

    /// `counts[i]`: number of codes of length i + 1; `symbols` in code order (the DHT payload).
    /// Rejects tables whose code lengths over-subscribe the code space, as libjpeg does.
    static func make(counts: [Int], symbols: [UInt8], name: String) throws(EdgeQError) -> JPEGHuffmanTable {
        var codes = [Int32](repeating: 0, count: symbols.count)
        var maxCode = [Int32](repeating: -1, count: 17)
        var symbolOffset = [Int32](repeating: 0, count: 17)
        var code: Int32 = 0
        var index = 0
        for length in 1...16 {
            let count = counts[length - 1]
            if count > 0 {
                symbolOffset[length] = Int32(index) - code
                for _ in 0..<count {
                    codes[index] = code
                    index += 1
                    code += 1
                }
                maxCode[length] = code - 1
            }
            // The all-ones code of each length is reserved (T.81 C.2), so `code` must still fit in `length` bits.
            guard code < 1 << length else {
                throw EdgeQError(.invalidImage, "JPEG corrupt: \(name) has more codes of length \(length) than fit")
            }
            code <<= 1
        }
        return JPEGHuffmanTable(codes: codes, counts: counts, symbols: symbols, maxCode: maxCode,
                                symbolOffset: symbolOffset)
    }

    private init(codes: [Int32], counts: [Int], symbols: [UInt8], maxCode: [Int32], symbolOffset: [Int32]) {
        let lookupSize = 1 << JPEGHuffmanTable.lookupBits
        lookup = .allocate(capacity: lookupSize)
        lookup.initialize(repeating: 0, count: lookupSize)
        self.maxCode = .allocate(capacity: 17)
        self.symbolOffset = .allocate(capacity: 17)
        self.symbols = .allocate(capacity: 256)
        self.symbols.initialize(repeating: 0, count: 256)
        for length in 0...16 {
            self.maxCode[length] = maxCode[length]
            self.symbolOffset[length] = symbolOffset[length]
        }
        var index = 0
        for length in 1...16 {
            for _ in 0..<counts[length - 1] {
                self.symbols[index] = symbols[index]
                if length <= JPEGHuffmanTable.lookupBits {
                    // Every bit pattern that starts with this code resolves to it.
                    let shift = JPEGHuffmanTable.lookupBits - length
                    let first = Int(codes[index]) << shift
                    let entry = UInt16(symbols[index]) << 8 | UInt16(length)
                    for pattern in first..<(first + (1 << shift)) { lookup[pattern] = entry }
                }
                index += 1
            }
        }
    }

    deinit {
        lookup.deallocate()
        maxCode.deallocate()
        symbolOffset.deallocate()
        symbols.deallocate()
    }
}

/// Reads the entropy-coded segment of a scan: removes 0xFF00 byte stuffing and stops at the next marker.
///
/// Past a marker or the end of the data it supplies zero bits, because the decoder may look ahead further
/// than the last code; `overran` tells when such made-up bits were actually consumed.
struct JPEGBitReader {
    let data: UnsafeBufferPointer<UInt8>
    /// Next byte to load; once `markerReached`, the 0xFF of the marker (or `data.count`).
    private(set) var position: Int
    /// Unconsumed bits, most significant first.
    private var bits: UInt64 = 0
    private var bitCount = 0
    private var markerReached = false
    /// How many of the trailing bits in `bits` were made up after the marker / end of data.
    private var paddingBits = 0

    init(data: UnsafeBufferPointer<UInt8>, position: Int) {
        self.data = data
        self.position = position
    }

    /// Decoding has consumed bits that are not in the file: the scan is truncated or cut by a marker.
    var overran: Bool { bitCount < paddingBits }

    /// The error for a scan that needs more data than its entropy-coded segment holds.
    func endOfDataError() -> EdgeQError {
        guard let marker = jpegFindMarker(data, from: position) else {
            return EdgeQError(.invalidImage, "JPEG truncated: data ends inside scan at byte \(data.count)")
        }
        return EdgeQError(
            .invalidImage,
            "JPEG corrupt: scan data cut short by marker \(jpegMarkerName(data[marker + 1])) at byte \(marker)")
    }

    private mutating func refill() {
        while bitCount <= 56 {
            var byte: UInt8 = 0
            if markerReached {
                paddingBits += 8
            } else if position + 1 < data.count && data[position] == 0xFF && data[position + 1] == 0 {
                byte = 0xFF  // stuffed
                position += 2
            } else if position < data.count && data[position] != 0xFF {
                byte = data[position]
                position += 1
            } else {
                // A marker, or an 0xFF / the end of the file where the data was cut.
                markerReached = true
                paddingBits += 8
            }
            bits |= UInt64(byte) << UInt64(56 - bitCount)
            bitCount += 8
        }
    }

    @inline(__always)
    private mutating func consume(_ count: Int) {
        bits <<= UInt64(count)
        bitCount -= count
    }

    /// The next Huffman-coded symbol.
    @inline(__always)
    mutating func decodeSymbol(_ table: JPEGHuffmanTable) throws(EdgeQError) -> Int {
        // 32 bits cover the longest code (16) plus the largest magnitude that follows it (15).
        if bitCount < 32 { refill() }
        let entry = table.lookup[Int(truncatingIfNeeded: bits >> UInt64(64 - JPEGHuffmanTable.lookupBits))]
        if entry != 0 {
            consume(Int(entry & 0xFF))
            return Int(entry >> 8)
        }
        for length in (JPEGHuffmanTable.lookupBits + 1)...16 {
            let code = Int32(truncatingIfNeeded: bits >> UInt64(64 - length))
            if code <= table.maxCode[length] {
                consume(length)
                return Int(table.symbols[Int(code + table.symbolOffset[length])])
            }
        }
        if markerReached && bitCount - paddingBits < 16 { throw endOfDataError() }
        throw EdgeQError(.invalidImage, "JPEG corrupt: invalid Huffman code before byte \(position)")
    }

    /// The signed value of the next `size` bits (1...15) as coded in T.81 F.2.2.1 (EXTEND).
    @inline(__always)
    mutating func receiveExtended(_ size: Int) -> Int32 {
        let value = Int32(truncatingIfNeeded: bits >> UInt64(64 - size))
        consume(size)
        return value < (1 << (size - 1)) ? value - (1 << size) + 1 : value
    }

    /// Skips to the restart marker that must follow a restart interval and resets the bit buffer.
    mutating func restart(expecting number: Int) throws(EdgeQError) {
        guard let markerPosition = jpegFindMarker(data, from: position) else {
            throw EdgeQError(
                .invalidImage,
                "JPEG truncated: data ends inside scan at byte \(data.count), before restart marker RST\(number)")
        }
        let code = data[markerPosition + 1]
        guard code == 0xD0 + UInt8(number) else {
            throw EdgeQError(
                .invalidImage,
                "JPEG corrupt: expected restart marker RST\(number) at byte \(markerPosition), "
                    + "found \(jpegMarkerName(code))")
        }
        position = markerPosition + 2
        bits = 0
        bitCount = 0
        paddingBits = 0
        markerReached = false
    }
}

/// Position of the next marker (0xFF followed by a code other than 0x00 stuffing or 0xFF fill) at or after
/// `start`; nil if the data ends first.
func jpegFindMarker(_ data: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
    var position = start
    while position + 1 < data.count {
        if data[position] == 0xFF && data[position + 1] != 0 && data[position + 1] != 0xFF {
            return position
        }
        position += 1
    }
    return nil
}

/// "SOF2", "RST3", "APP14", "0xFFC8" ... for error messages.
func jpegMarkerName(_ code: UInt8) -> String {
    switch code {
    case 0xC0...0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF: return "SOF\(code - 0xC0)"
    case 0xC4: return "DHT"
    case 0xCC: return "DAC"
    case 0xD0...0xD7: return "RST\(code - 0xD0)"
    case 0xD8: return "SOI"
    case 0xD9: return "EOI"
    case 0xDA: return "SOS"
    case 0xDB: return "DQT"
    case 0xDC: return "DNL"
    case 0xDD: return "DRI"
    case 0xE0...0xEF: return "APP\(code - 0xE0)"
    case 0xFE: return "COM"
    default: return "0xFF" + hexDigits(code)
    }
}

extension JPEGBitReader {
    /// Decodes one 8x8 block of a sequential scan (T.81 F.2.2) into `coefficients`, natural order.
    /// `predictor` is the component's previous DC value.
    @inline(__always)
    mutating func decodeBlock(
        into coefficients: UnsafeMutablePointer<Int16>, dc: JPEGHuffmanTable, ac: JPEGHuffmanTable,
        predictor: inout Int32
    ) throws(EdgeQError) {
        coefficients.update(repeating: 0, count: 64)
        let dcSize = try decodeSymbol(dc)
        if dcSize != 0 { predictor = predictor &+ receiveExtended(dcSize) }
        // libjpeg stores the DC value in a 16-bit JCOEF the same way.
        coefficients[0] = Int16(truncatingIfNeeded: predictor)
        var k = 1
        while k < 64 {
            let symbol = try decodeSymbol(ac)
            let run = symbol >> 4
            let size = symbol & 15
            if size == 0 {
                if run != 15 { break }  // end of block
                k += 16  // sixteen zeros
                continue
            }
            k += run
            guard k < 64 else {
                throw EdgeQError(.invalidImage, "JPEG corrupt: AC coefficients run past the end of a block")
            }
            coefficients[Int(jpegNaturalOrder[k])] = Int16(truncatingIfNeeded: receiveExtended(size))
            k += 1
        }
    }
}

/// Position in the 8x8 block (row-major) of the k-th coefficient in zigzag order (T.81 figure 5).
let jpegNaturalOrder: [UInt8] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]
