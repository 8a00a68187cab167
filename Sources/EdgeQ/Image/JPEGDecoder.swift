/// Baseline sequential JPEG decoder (SOF0, and SOF1 with 8-bit samples; Huffman coding; restart markers;
/// one or several scans), made to give the same pixels as Pillow / libjpeg-turbo with default settings:
/// the islow IDCT (`JPEGIDCT`), fancy chroma upsampling and fixed-point YCbCr->RGB (`JPEGColor.swift`).
///
/// Grayscale files are replicated to RGB; three-component files are YCbCr unless an Adobe APP14 marker
/// (transform 0) or component ids 'R','G','B' say RGB, exactly as libjpeg decides. Progressive,
/// lossless, hierarchical, arithmetic-coded, 12-bit and 4-component files throw `.unsupported`; corrupt or
/// truncated data throws `.invalidImage` (libjpeg would often only warn and fill in gray).
public enum JPEGDecoder {
    public static func decode(_ bytes: [UInt8]) throws(EdgeQError) -> RGBImage {
        try bytes.withUnsafeBufferPointer { (data) throws(EdgeQError) -> RGBImage in
            var stream = JPEGStream(data: data)
            return try stream.decode()
        }
    }
}

/// A component as declared by the frame header, with the geometry of its sample plane.
struct JPEGComponent {
    let id: UInt8
    let horizontalSampling: Int
    let verticalSampling: Int
    let quantTable: Int
    /// Samples of this component inside the image (libjpeg's "downsampled" width and height).
    let width: Int
    let height: Int
    /// The plane covers whole MCUs, so it holds every block an interleaved scan codes, padding included.
    let stride: Int
    let rows: Int
    let planeOffset: Int
    var scanned = false
}

struct JPEGFrame {
    let width: Int
    let height: Int
    var components: [JPEGComponent]
    let maxHorizontalSampling: Int
    let maxVerticalSampling: Int
    /// The MCU grid of interleaved scans.
    let mcusWide: Int
    let mcusHigh: Int
}

/// Memory of one decode, allocated once the frame header is known.
final class JPEGBuffers {
    /// All component planes, one after another (`JPEGComponent.planeOffset`).
    let samples: UnsafeMutablePointer<UInt8>
    /// 64 dequantization multipliers per component, natural order, fixed at the component's first scan
    /// (a later DQT only affects components not yet scanned, as in libjpeg).
    let quant: UnsafeMutablePointer<Int32>
    let coefficients: UnsafeMutablePointer<Int16>
    let idctWorkspace: UnsafeMutablePointer<Int32>

    init(sampleCount: Int, componentCount: Int) {
        samples = .allocate(capacity: sampleCount)
        samples.initialize(repeating: 0, count: sampleCount)
        quant = .allocate(capacity: 64 * componentCount)
        quant.initialize(repeating: 0, count: 64 * componentCount)
        coefficients = .allocate(capacity: 64)
        coefficients.initialize(repeating: 0, count: 64)
        idctWorkspace = .allocate(capacity: 64)
        idctWorkspace.initialize(repeating: 0, count: 64)
    }

    deinit {
        samples.deallocate()
        quant.deallocate()
        coefficients.deallocate()
        idctWorkspace.deallocate()
    }
}

/// Bounds-checked reading of one marker segment's payload.
struct JPEGSegment {
    let data: UnsafeBufferPointer<UInt8>
    let name: String
    /// Byte offset of the marker, for messages.
    let markerPosition: Int
    var position: Int
    let end: Int

    var remaining: Int { end - position }

    mutating func byte() throws(EdgeQError) -> Int {
        guard position < end else {
            throw EdgeQError(.invalidImage, "JPEG corrupt: \(name) segment at byte \(markerPosition) is too short")
        }
        position += 1
        return Int(data[position - 1])
    }

    mutating func uint16() throws(EdgeQError) -> Int {
        let high = try byte()
        return high << 8 | (try byte())
    }

    func startsWith(_ signature: [UInt8]) -> Bool {
        guard remaining >= signature.count else { return false }
        for i in 0..<signature.count where data[position + i] != signature[i] { return false }
        return true
    }

    func invalid(_ problem: String) -> EdgeQError {
        EdgeQError(.invalidImage, "JPEG corrupt: \(name) at byte \(markerPosition): " + problem)
    }
}

/// The marker-level parser: tables, frame header, then one decode per scan, then color conversion.
struct JPEGStream {
    let data: UnsafeBufferPointer<UInt8>
    var position = 2
    /// Natural order; empty until defined by a DQT segment.
    var quantTables: [[Int32]] = [[], [], [], []]
    var dcTables: [JPEGHuffmanTable?] = [nil, nil, nil, nil]
    var acTables: [JPEGHuffmanTable?] = [nil, nil, nil, nil]
    var restartInterval = 0
    var sawJFIF = false
    /// The transform byte of an Adobe APP14 marker, -1 without one.
    var adobeTransform = -1
    var frame: JPEGFrame?
    var buffers: JPEGBuffers?

    init(data: UnsafeBufferPointer<UInt8>) { self.data = data }

    mutating func decode() throws(EdgeQError) -> RGBImage {
        guard data.count >= 2, data[0] == 0xFF, data[1] == 0xD8 else {
            throw EdgeQError(.invalidImage, "not a JPEG: no SOI marker at the start")
        }
        markers: while let next = try nextMarker() {
            let (marker, markerPosition) = next
            switch marker {
            case 0xD9:  // EOI
                break markers
            case 0xD0...0xD7, 0x01:
                continue  // parameterless RSTn / TEM outside a scan: libjpeg skips them too
            case 0xD8:
                throw EdgeQError(.invalidImage, "JPEG corrupt: second SOI marker at byte \(markerPosition)")
            case 0xC2:
                throw EdgeQError(.unsupported, "progressive JPEG (SOF2) is not supported; re-save as baseline")
            case 0xC3:
                throw EdgeQError(.unsupported, "lossless JPEG (SOF3) is not supported")
            case 0xC5...0xC7, 0xDE, 0xDF:
                throw EdgeQError(.unsupported, "hierarchical JPEG (\(jpegMarkerName(marker))) is not supported")
            case 0xC9...0xCB, 0xCD...0xCF:
                throw EdgeQError(
                    .unsupported,
                    "arithmetic-coded JPEG (\(jpegMarkerName(marker))) is not supported; re-save with Huffman coding")
            default:
                break
            }
            var segment = try readSegment(marker: marker, at: markerPosition)
            switch marker {
            case 0xC0, 0xC1: try readFrame(&segment)
            case 0xC4: try readHuffmanTables(&segment)
            case 0xDB: try readQuantTables(&segment)
            case 0xDD:
                guard segment.remaining == 2 else { throw segment.invalid("length must be 4") }
                restartInterval = try segment.uint16()
            case 0xDA: try decodeScan(&segment)
            case 0xE0:
                // libjpeg counts a JFIF marker only with its full 14-byte header.
                if segment.remaining >= 14 && segment.startsWith([0x4A, 0x46, 0x49, 0x46, 0]) { sawJFIF = true }
            case 0xEE:
                if segment.remaining >= 12 && segment.startsWith([0x41, 0x64, 0x6F, 0x62, 0x65]) {
                    adobeTransform = Int(data[segment.position + 11])
                }
            case 0xE1...0xED, 0xEF, 0xFE, 0xCC, 0xDC:
                break  // other APPn, COM, DAC, DNL: nothing a baseline decode needs
            default:
                throw EdgeQError(
                    .invalidImage, "JPEG corrupt: unknown marker \(jpegMarkerName(marker)) at byte \(markerPosition)")
            }
        }
        guard let frame, let buffers else {
            throw EdgeQError(.invalidImage, "JPEG truncated: no frame header (SOF0/SOF1) before byte \(position)")
        }
        for component in frame.components where !component.scanned {
            throw EdgeQError(
                .invalidImage, "JPEG truncated: no scan data for component \(component.id) before byte \(position)")
        }
        return jpegConvertToRGB(frame: frame, buffers: buffers, colorTransform: colorTransform(frame))
    }

    /// The next marker code and its offset, skipping 0xFF fill bytes; nil at the end of the data.
    mutating func nextMarker() throws(EdgeQError) -> (UInt8, Int)? {
        guard position < data.count else { return nil }
        guard data[position] == 0xFF else {
            throw EdgeQError(
                .invalidImage, "JPEG corrupt: expected a marker at byte \(position), found \(hexByte(data[position]))")
        }
        let markerPosition = position
        while position < data.count && data[position] == 0xFF { position += 1 }
        guard position < data.count else { return nil }
        let code = data[position]
        position += 1
        guard code != 0 else {
            throw EdgeQError(.invalidImage, "JPEG corrupt: 0xFF00 outside scan data at byte \(markerPosition)")
        }
        return (code, markerPosition)
    }

    mutating func readSegment(marker: UInt8, at markerPosition: Int) throws(EdgeQError) -> JPEGSegment {
        let name = jpegMarkerName(marker)
        guard data.count - position >= 2 else {
            throw EdgeQError(
                .invalidImage, "JPEG truncated: data ends inside the \(name) header at byte \(markerPosition)")
        }
        let length = Int(data[position]) << 8 | Int(data[position + 1])
        guard length >= 2 else {
            throw EdgeQError(.invalidImage, "JPEG corrupt: \(name) at byte \(markerPosition) has length \(length)")
        }
        guard data.count - position >= length else {
            throw EdgeQError(
                .invalidImage,
                "JPEG truncated: \(name) segment at byte \(markerPosition) needs \(length) bytes, "
                    + "\(data.count - position) remain")
        }
        let segment = JPEGSegment(
            data: data, name: name, markerPosition: markerPosition, position: position + 2, end: position + length)
        position += length
        return segment
    }

    mutating func readFrame(_ segment: inout JPEGSegment) throws(EdgeQError) {
        guard frame == nil else { throw segment.invalid("second frame header") }
        let precision = try segment.byte()
        let height = try segment.uint16()
        let width = try segment.uint16()
        let count = try segment.byte()
        guard precision == 8 else {
            guard precision == 12 || precision == 16 else { throw segment.invalid("sample precision \(precision)") }
            throw EdgeQError(.unsupported, "\(precision)-bit JPEG is not supported (only 8-bit samples)")
        }
        guard width > 0, height > 0 else {
            throw EdgeQError(
                .invalidImage, "JPEG corrupt: image size \(width)x\(height) (a height set by DNL is not supported)")
        }
        guard width <= maxImageDimension, height <= maxImageDimension else {
            throw EdgeQError(
                .invalidImage, "JPEG: image size \(width)x\(height) exceeds the \(maxImageDimension) pixel limit")
        }
        switch count {
        case 1, 3: break
        case 4: throw EdgeQError(.unsupported, "4-component (CMYK/YCCK) JPEG is not supported")
        case 0: throw segment.invalid("frame has no components")
        default: throw EdgeQError(.unsupported, "\(count)-component JPEG is not supported")
        }
        guard segment.remaining == 3 * count else { throw segment.invalid("length does not match \(count) components") }

        var declared: [(id: UInt8, h: Int, v: Int, table: Int)] = []
        for _ in 0..<count {
            let id = UInt8(try segment.byte())
            let sampling = try segment.byte()
            let table = try segment.byte()
            let h = sampling >> 4
            let v = sampling & 15
            guard (1...4).contains(h), (1...4).contains(v) else {
                throw segment.invalid("component \(id) has sampling factors \(h)x\(v) (each must be 1...4)")
            }
            guard table <= 3 else {
                throw segment.invalid("component \(id) uses quantization table \(table) (0...3)")
            }
            guard !declared.contains(where: { $0.id == id }) else {
                throw segment.invalid("component id \(id) repeats")
            }
            declared.append((id, h, v, table))
        }
        var maxH = 1
        var maxV = 1
        for c in declared {
            maxH = max(maxH, c.h)
            maxV = max(maxV, c.v)
        }
        for c in declared where maxH % c.h != 0 || maxV % c.v != 0 {
            throw EdgeQError(
                .unsupported,
                "JPEG chroma sampling \(c.h)x\(c.v) of component \(c.id) is not an integer fraction of \(maxH)x\(maxV)")
        }

        let mcusWide = (width + 8 * maxH - 1) / (8 * maxH)
        let mcusHigh = (height + 8 * maxV - 1) / (8 * maxV)
        var components: [JPEGComponent] = []
        var sampleCount = 0
        var minimumBlocks = 0
        for c in declared {
            let component = JPEGComponent(
                id: c.id, horizontalSampling: c.h, verticalSampling: c.v, quantTable: c.table,
                width: (width * c.h + maxH - 1) / maxH, height: (height * c.v + maxV - 1) / maxV,
                stride: mcusWide * c.h * 8, rows: mcusHigh * c.v * 8, planeOffset: sampleCount)
            sampleCount += component.stride * component.rows
            minimumBlocks += ((component.width + 7) / 8) * ((component.height + 7) / 8)
            components.append(component)
        }
        // Every block takes at least 2 bits (a DC code and an end-of-block code), so a header that promises
        // more blocks than the rest of the file can hold is refused before allocating its planes.
        let bytesLeft = data.count - segment.end
        guard bytesLeft >= (minimumBlocks + 3) / 4 else {
            throw EdgeQError(
                .invalidImage,
                "JPEG truncated: a \(width)x\(height) image needs at least \((minimumBlocks + 3) / 4) bytes of scan "
                    + "data, \(bytesLeft) remain")
        }
        frame = JPEGFrame(
            width: width, height: height, components: components, maxHorizontalSampling: maxH,
            maxVerticalSampling: maxV, mcusWide: mcusWide, mcusHigh: mcusHigh)
        buffers = JPEGBuffers(sampleCount: sampleCount, componentCount: count)
    }

    mutating func readHuffmanTables(_ segment: inout JPEGSegment) throws(EdgeQError) {
        while segment.remaining > 0 {
            let info = try segment.byte()
            let isAC = info >> 4
            let index = info & 15
            guard isAC <= 1 else { throw segment.invalid("Huffman table class \(isAC) (must be 0 or 1)") }
            guard index <= 3 else { throw segment.invalid("Huffman table index \(index) out of range 0...3") }
            var counts = [Int](repeating: 0, count: 16)
            for i in 0..<16 { counts[i] = try segment.byte() }
            let total = counts.reduce(0, +)
            guard total <= 256 else { throw segment.invalid("Huffman table with \(total) codes (at most 256)") }
            var symbols = [UInt8](repeating: 0, count: total)
            for i in 0..<total { symbols[i] = UInt8(try segment.byte()) }
            let name = (isAC == 1 ? "AC" : "DC") + " Huffman table \(index)"
            if isAC == 0, let bad = symbols.first(where: { $0 > 15 }) {
                throw segment.invalid(name + " has symbol \(bad) (DC magnitude categories are 0...15)")
            }
            let table = try JPEGHuffmanTable.make(counts: counts, symbols: symbols, name: name)
            if isAC == 1 { acTables[index] = table } else { dcTables[index] = table }
        }
    }

    mutating func readQuantTables(_ segment: inout JPEGSegment) throws(EdgeQError) {
        while segment.remaining > 0 {
            let info = try segment.byte()
            let precision = info >> 4
            let index = info & 15
            guard precision <= 1 else { throw segment.invalid("quantization table precision \(precision)") }
            guard index <= 3 else { throw segment.invalid("quantization table index \(index) out of range 0...3") }
            var table = [Int32](repeating: 0, count: 64)
            for k in 0..<64 {
                table[Int(jpegNaturalOrder[k])] = Int32(precision == 0 ? try segment.byte() : try segment.uint16())
            }
            quantTables[index] = table
        }
    }

    /// How the three components map to RGB: libjpeg's guess in `default_decompress_parms`.
    func colorTransform(_ frame: JPEGFrame) -> JPEGColorTransform {
        if frame.components.count == 1 { return .grayscale }
        if sawJFIF { return .yCbCr }
        if adobeTransform >= 0 { return adobeTransform == 0 ? .rgb : .yCbCr }
        let ids = frame.components.map { $0.id }
        return ids == [0x52, 0x47, 0x42] ? .rgb : .yCbCr  // 'R', 'G', 'B'
    }

    mutating func decodeScan(_ segment: inout JPEGSegment) throws(EdgeQError) {
        guard var frame, let buffers else { throw segment.invalid("scan before the frame header (SOF)") }
        let count = try segment.byte()
        guard count >= 1, count <= frame.components.count, segment.remaining == 2 * count + 3 else {
            throw segment.invalid("bad scan header for \(count) components")
        }
        var scanComponents: [JPEGScanComponent] = []
        var scanned: [Int] = []
        var blocksPerMCU = 0
        for _ in 0..<count {
            let id = try segment.byte()
            let tables = try segment.byte()
            guard let index = frame.components.firstIndex(where: { Int($0.id) == id }) else {
                throw segment.invalid("scan refers to component \(id), which the frame does not declare")
            }
            let component = frame.components[index]
            guard !component.scanned, !scanned.contains(index) else {
                throw segment.invalid("component \(id) appears in two scans")
            }
            let dcIndex = tables >> 4
            let acIndex = tables & 15
            guard dcIndex <= 3, acIndex <= 3 else {
                throw segment.invalid("Huffman table index \(dcIndex)/\(acIndex) out of range 0...3")
            }
            guard let dc = dcTables[dcIndex] else {
                throw segment.invalid("component \(id) uses DC Huffman table \(dcIndex), which was never defined")
            }
            guard let ac = acTables[acIndex] else {
                throw segment.invalid("component \(id) uses AC Huffman table \(acIndex), which was never defined")
            }
            let quant = quantTables[component.quantTable]
            guard !quant.isEmpty else {
                throw segment.invalid(
                    "component \(id) uses quantization table \(component.quantTable), which was never defined")
            }
            let latched = buffers.quant + 64 * index
            for i in 0..<64 { latched[i] = quant[i] }
            // A scan of one component codes single blocks in raster order (T.81 A.2.2), whatever its sampling.
            let blocksWide = count == 1 ? 1 : component.horizontalSampling
            let blocksHigh = count == 1 ? 1 : component.verticalSampling
            blocksPerMCU += blocksWide * blocksHigh
            scanComponents.append(
                JPEGScanComponent(
                    samples: buffers.samples + component.planeOffset, stride: component.stride, quant: latched,
                    dc: dc, ac: ac, blocksWide: blocksWide, blocksHigh: blocksHigh))
            scanned.append(index)
        }
        // Spectral selection and successive approximation: libjpeg only warns when a sequential scan does not
        // say 0, 63, 0, 0, and decodes it as a full scan; so do we.
        _ = try segment.uint16()
        _ = try segment.byte()
        guard blocksPerMCU <= 10 else {
            throw segment.invalid("an MCU of \(blocksPerMCU) blocks exceeds the limit of 10")
        }

        let mcusWide: Int
        let mcusHigh: Int
        if count == 1 {
            let component = frame.components[scanned[0]]
            mcusWide = (component.width + 7) / 8
            mcusHigh = (component.height + 7) / 8
        } else {
            mcusWide = frame.mcusWide
            mcusHigh = frame.mcusHigh
        }
        var scan = JPEGScanDecoder(
            reader: JPEGBitReader(data: data, position: position), components: scanComponents,
            mcusWide: mcusWide, mcusHigh: mcusHigh, restartInterval: restartInterval,
            coefficients: buffers.coefficients, workspace: buffers.idctWorkspace)
        try scan.run()
        position = jpegFindMarker(data, from: scan.reader.position) ?? data.count
        for index in scanned { frame.components[index].scanned = true }
        self.frame = frame
    }
}

/// One component of a scan, with everything its blocks need.
struct JPEGScanComponent {
    let samples: UnsafeMutablePointer<UInt8>
    let stride: Int
    let quant: UnsafePointer<Int32>
    let dc: JPEGHuffmanTable
    let ac: JPEGHuffmanTable
    /// Blocks of this component in one MCU.
    let blocksWide: Int
    let blocksHigh: Int
    var predictor: Int32 = 0
}

/// Entropy decoding of one scan, with each block transformed into its plane as soon as it is decoded.
struct JPEGScanDecoder {
    var reader: JPEGBitReader
    var components: [JPEGScanComponent]
    let mcusWide: Int
    let mcusHigh: Int
    let restartInterval: Int
    let coefficients: UnsafeMutablePointer<Int16>
    let workspace: UnsafeMutablePointer<Int32>

    mutating func run() throws(EdgeQError) {
        var restarts = 0
        for mcu in 0..<(mcusWide * mcusHigh) {
            if restartInterval > 0 && mcu > 0 && mcu % restartInterval == 0 {
                try reader.restart(expecting: restarts & 7)
                restarts += 1
                for i in components.indices { components[i].predictor = 0 }
            }
            let mcuRow = mcu / mcusWide
            let mcuColumn = mcu - mcuRow * mcusWide
            for i in components.indices {
                let component = components[i]
                for blockRow in 0..<component.blocksHigh {
                    let row = (mcuRow * component.blocksHigh + blockRow) * 8
                    for blockColumn in 0..<component.blocksWide {
                        let column = (mcuColumn * component.blocksWide + blockColumn) * 8
                        try reader.decodeBlock(
                            into: coefficients, dc: component.dc, ac: component.ac,
                            predictor: &components[i].predictor)
                        JPEGIDCT.inverse(
                            coefficients: coefficients, quant: component.quant, workspace: workspace,
                            output: component.samples + row * component.stride + column, stride: component.stride)
                    }
                }
            }
            if reader.overran { throw reader.endOfDataError() }
        }
    }
}
