import Foundation
import XCTest

@testable import EdgeQ

/// Image decoding and ImageNet preprocessing against Pillow (libjpeg-turbo): the fixtures in
/// `Fixtures/images` come from `Fixtures/make_jpeg_fixtures.py`, the real images from `../shared`.
final class ImageTests: XCTestCase {
    // MARK: - JPEG and PPM decoding against Pillow

    /// Every layout decodes exactly as Pillow does, including 4:2:0, 4:2:2 and 4:4:0, because the chroma
    /// upsampling is libjpeg-turbo's fancy upsampling rather than an approximation of it.
    func testFixturesDecodeBitExactWithPillow() throws {
        let names = [
            "q444_37x23.jpg", "q422_37x23.jpg", "q420_37x23.jpg", "q420_80x60.jpg", "s440_37x23.jpg",
            "s411_37x23.jpg", "q420_4x3.jpg", "q422_3x5.jpg", "q444_1x1.jpg", "gray_37x23.jpg",
            "q420_restart_61x45.jpg", "rgb_adobe_33x17.jpg", "q420_scans_37x23.jpg", "q444_16bit_quant_37x23.jpg",
            "maxval100_5x3.ppm", "gray_7x4.pgm",
        ]
        for name in names {
            let image = try decodeImage(fixture(name))
            let expected = try fixture((name as NSString).deletingPathExtension + ".rgb")
            let difference = pixelDifference(image.pixels, expected)
            print("\(name): \(image.width)x\(image.height), max diff \(difference.max), \(difference.count) differ")
            XCTAssertEqual(image.pixels.count, expected.count, name)
            XCTAssertEqual(difference.max, 0, name)
        }
    }

    /// The 8 reference images of `../shared/models/reference`: decoded pixels equal Pillow's `.rgb8`, and the
    /// model input equals the NumPy `.input.f32` to the bit.
    func testReferenceImagesMatchPillowAndNumPy() throws {
        let inputs = try TestData.shared("models/reference/inputs")
        let stems = try FileManager.default.contentsOfDirectory(atPath: inputs.path)
            .filter { $0.hasSuffix(".rgb8") }.map { String($0.dropLast(5)) }.sorted()
        XCTAssertEqual(stems.count, 8)
        for stem in stems {
            let jpeg = try TestData.shared("imagenet/eval/\(stem).JPEG")
            let image = try decodeImage([UInt8](Data(contentsOf: jpeg)))
            let expected = [UInt8](try Data(contentsOf: inputs.appendingPathComponent(stem + ".rgb8")))
            let difference = pixelDifference(image.pixels, expected)
            print("\(stem): max pixel diff \(difference.max), \(difference.count) of \(expected.count) differ")
            XCTAssertEqual(image.width, 224, stem)
            XCTAssertEqual(image.height, 224, stem)
            XCTAssertEqual(difference.max, 0, stem)

            let nhwc = imageNetInputNHWC(image)
            let reference = try TestData.floats(inputs.appendingPathComponent(stem + ".input.f32"))
            XCTAssertEqual(reference.count, 3 * 224 * 224, stem)
            var mismatches = 0
            for channel in 0..<3 {
                for pixel in 0..<(224 * 224) where
                    nhwc[pixel * 3 + channel].bitPattern != reference[channel * 224 * 224 + pixel].bitPattern
                {
                    mismatches += 1
                }
            }
            XCTAssertEqual(mismatches, 0, "\(stem): model input values differing from .input.f32")
        }
    }

    /// Cutting only the EOI marker off still leaves every MCU: such files decode (as with Pillow).
    func testMissingEOIStillDecodes() throws {
        let bytes = try fixture("q420_37x23.jpg")
        XCTAssertEqual(Array(bytes.suffix(2)), [0xFF, 0xD9])
        let image = try decodeImage(Array(bytes.dropLast(2)))
        XCTAssertEqual(image.pixels, try fixture("q420_37x23.rgb"))
    }

    // MARK: - Resizing and cropping against Pillow

    func testResizeMatchesPillowBilinear() throws {
        let shrunk = resizeShorterSideBilinear(noiseImage(width: 45, height: 31, seed: 11), to: 13)
        XCTAssertEqual([shrunk.width, shrunk.height], [18, 13])
        XCTAssertEqual(pixelDifference(shrunk.pixels, try fixture("resize_45x31_to_13.rgb")).max, 0)

        let enlarged = resizeShorterSideBilinear(noiseImage(width: 20, height: 14, seed: 12), to: 33)
        XCTAssertEqual([enlarged.width, enlarged.height], [47, 33])
        XCTAssertEqual(pixelDifference(enlarged.pixels, try fixture("resize_20x14_to_33.rgb")).max, 0)

        // Pillow's pass order: vertical first for these two, horizontal first on the boundary case.
        let tall = resizeShorterSideBilinear(noiseImage(width: 20, height: 50, seed: 16), to: 13)
        XCTAssertEqual([tall.width, tall.height], [13, 32])
        XCTAssertEqual(pixelDifference(tall.pixels, try fixture("resize_20x50_to_13.rgb")).max, 0)
        let mixed = resampleBilinear(noiseImage(width: 40, height: 30, seed: 13), width: 57, height: 17,
                                     window: (0, 0, 57, 17))
        XCTAssertEqual(pixelDifference(mixed.pixels, try fixture("resize_40x30_to_57x17.rgb")).max, 0)
        let boundary = resampleBilinear(noiseImage(width: 40, height: 30, seed: 17), width: 35, height: 20,
                                        window: (0, 0, 35, 20))
        XCTAssertEqual(pixelDifference(boundary.pixels, try fixture("resize_40x30_to_35x20.rgb")).max, 0)
    }

    /// ImageNet-sized cases (Pillow results stored as FNV-1a hashes): a 300x200 and a 500x375 image made
    /// into a PPM, decoded, resized to shorter side 256 and centre-cropped; the fused `imageNetInputNHWC`
    /// gives exactly the normalised crop.
    func testImageNetPipelineMatchesPillow() throws {
        let lines = String(decoding: try fixture("resize_expectations.txt"), as: UTF8.self)
            .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(lines.count, 2)
        for fields in lines {
            // noise WxH seed S: resize WxH HASH crop224 HASH
            let size = fields[1].split(separator: "x").map { Int($0)! }
            let seed = UInt32(fields[3].dropLast())!
            let noise = noiseImage(width: size[0], height: size[1], seed: seed)
            var ppm = Array("P6\n# EdgeQ test image\n\(size[0]) \(size[1])\n255\n".utf8)
            ppm += noise.pixels
            let decoded = try decodeImage(ppm)
            XCTAssertEqual(decoded, noise)

            let resized = resizeShorterSideBilinear(decoded, to: 256)
            XCTAssertEqual("\(resized.width)x\(resized.height)", fields[5])
            XCTAssertEqual(hexHash(resized.pixels), fields[6], "resize of \(fields[1])")
            let cropped = centerCrop(resized, width: 224, height: 224)
            XCTAssertEqual(hexHash(cropped.pixels), fields[8], "crop of \(fields[1])")

            let input = imageNetInputNHWC(decoded)
            let expected = imageNetInputNHWC(cropped)
            XCTAssertEqual(input.map(\.bitPattern), expected.map(\.bitPattern), "fused resize+crop of \(fields[1])")
        }
    }

    func testResizeAndCropGeometryFollowsTorchvision() {
        XCTAssertTrue(resizedSize(width: 500, height: 375, shorter: 256) == (341, 256))
        XCTAssertTrue(resizedSize(width: 375, height: 500, shorter: 256) == (256, 341))
        XCTAssertTrue(resizedSize(width: 300, height: 300, shorter: 256) == (256, 256))
        // round() halves go to the even neighbour: 58.5 -> 58, 59.5 -> 60.
        XCTAssertEqual(centerCropOffset(length: 341, crop: 224), 58)
        XCTAssertEqual(centerCropOffset(length: 343, crop: 224), 60)
        XCTAssertEqual(centerCropOffset(length: 256, crop: 224), 16)
        XCTAssertEqual(centerCropOffset(length: 224, crop: 224), 0)

        let image = noiseImage(width: 7, height: 4, seed: 1)
        let crop = centerCrop(image, width: 4, height: 2)  // left round(1.5) = 2, top 1
        XCTAssertEqual(Array(crop.pixels[0..<3]), Array(image.pixels[(1 * 7 + 2) * 3..<(1 * 7 + 2) * 3 + 3]))
    }

    // MARK: - Rejected and corrupt input

    func testUnsupportedJPEGModesAreNamed() throws {
        try assertImageError(.unsupported, "progressive JPEG (SOF2)", try fixture("progressive_37x23.jpg"))
        try assertImageError(.unsupported, "arithmetic-coded JPEG (SOF9)", try fixture("arithmetic_37x23.jpg"))
        let baseline = try fixture("q444_37x23.jpg")
        let sof = try markerOffset(0xC0, in: baseline)
        var lossless = baseline
        lossless[sof + 1] = 0xC3
        try assertImageError(.unsupported, "lossless JPEG (SOF3)", lossless)
        var twelveBit = baseline
        twelveBit[sof + 1] = 0xC1
        twelveBit[sof + 4] = 12
        try assertImageError(.unsupported, "12-bit JPEG", twelveBit)
        // SOI, then a frame header with four components (Adobe CMYK).
        let cmyk: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC0, 0, 20, 8, 0, 16, 0, 16, 4,
                             1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0] + [UInt8](repeating: 0, count: 64)
        try assertImageError(.unsupported, "4-component (CMYK/YCCK)", cmyk)
    }

    func testNonImagesAreNamed() throws {
        try assertImageError(.invalidImage, "not a JPEG or PPM image: unknown signature 0x25 0x50 0x44 0x46",
                             Array("%PDF-1.4\n1 0 obj\n".utf8))
        try assertImageError(.invalidImage, "not a JPEG or PPM image", Array("hello, world\n".utf8))
        try assertImageError(.invalidImage, "not a JPEG or PPM image: empty file", [])
        try assertImageError(.unsupported, "P3", Array("P3\n1 1\n255\n0 0 0\n".utf8))
        var generator = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let count = Int.random(in: 0...300, using: &generator)
            let random = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try assertImageError(.invalidImage, "", random)
            try assertImageError(.invalidImage, "", [0xFF, 0xD8] + random)
        }
    }

    func testTruncatedJPEGIsInvalid() throws {
        let bytes = try fixture("q420_80x60.jpg")
        let sos = try markerOffset(0xDA, in: bytes)
        try assertImageError(.invalidImage, "no frame header", Array(bytes.prefix(2)))
        try assertImageError(.invalidImage, "JPEG truncated", Array(bytes.prefix(25)))  // inside DQT
        try assertImageError(.invalidImage, "JPEG truncated", Array(bytes.prefix(sos + 5)))  // inside SOS
        try assertImageError(.invalidImage, "JPEG truncated: data ends inside scan at byte \(sos + 200)",
                             Array(bytes.prefix(sos + 200)))
        try assertImageError(.invalidImage, "JPEG truncated: data ends", Array(bytes.prefix(bytes.count - 30)))
        // Cut and closed with an EOI, as some broken writers do.
        try assertImageError(.invalidImage, "cut short by marker EOI", Array(bytes.prefix(sos + 300)) + [0xFF, 0xD9])
    }

    func testCorruptJPEGHeadersAreInvalid() throws {
        let bytes = try fixture("q420_37x23.jpg")
        let sof = try markerOffset(0xC0, in: bytes)
        let sos = try markerOffset(0xDA, in: bytes)

        var zeroHeight = bytes
        zeroHeight[sof + 5] = 0
        zeroHeight[sof + 6] = 0
        try assertImageError(.invalidImage, "image size 37x0", zeroHeight)

        var tooWide = bytes
        tooWide[sof + 7] = 0x4E  // 20000
        tooWide[sof + 8] = 0x20
        try assertImageError(.invalidImage, "exceeds the 16384 pixel limit", tooWide)

        // A 16000x16000 claim in a 1 KB file is refused before its planes are allocated.
        var huge = bytes
        huge[sof + 5] = 0x3E
        huge[sof + 6] = 0x80
        huge[sof + 7] = 0x3E
        huge[sof + 8] = 0x80
        try assertImageError(.invalidImage, "a 16000x16000 image needs at least", huge)

        var tableIndex = bytes
        tableIndex[sos + 6] = 0x55  // first component: DC table 5, AC table 5
        try assertImageError(.invalidImage, "Huffman table index 5/5 out of range", tableIndex)

        var noTables = bytes
        while let dht = try? markerOffset(0xC4, in: noTables) {
            let length = Int(noTables[dht + 2]) << 8 | Int(noTables[dht + 3])
            noTables.removeSubrange(dht..<(dht + 2 + length))
        }
        try assertImageError(.invalidImage, "DC Huffman table 0, which was never defined", noTables)

        var sampling = bytes
        sampling[sof + 11] = 0x50  // luma 5x0
        try assertImageError(.invalidImage, "sampling factors 5x0", sampling)
    }

    func testCorruptScanDataIsInvalid() throws {
        let bytes = try fixture("q420_37x23.jpg")
        let sos = try markerOffset(0xDA, in: bytes)
        let dataStart = sos + 2 + (Int(bytes[sos + 2]) << 8 | Int(bytes[sos + 3]))
        // Stuffed 0xFF bytes give a run of 1 bits, which is no code: the all-ones code is reserved.
        var allOnes = Array(bytes[..<dataStart])
        for _ in 0..<64 { allOnes += [0xFF, 0x00] }
        try assertImageError(.invalidImage, "invalid Huffman code", allOnes + [0xFF, 0xD9])

        let restart = try fixture("q420_restart_61x45.jpg")
        var wrongRestart = restart
        let rst0 = try markerOffset(0xD0, in: restart)
        wrongRestart[rst0 + 1] = 0xD3
        try assertImageError(.invalidImage, "expected restart marker RST0", wrongRestart)
    }

    /// Every prefix and thousands of corruptions of the fixtures: each one decodes or throws (typed throws
    /// guarantee an EdgeQError), never crashes or hangs.
    func testMutatedJPEGsNeverCrash() throws {
        var generator = SplitMix64(seed: 42)
        for name in ["q420_37x23.jpg", "q420_restart_61x45.jpg", "s411_37x23.jpg", "q420_scans_37x23.jpg"] {
            let bytes = try fixture(name)
            for length in 0..<bytes.count { _ = try? decodeImage(Array(bytes.prefix(length))) }
            for _ in 0..<2000 {
                var mutated = bytes
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let index = Int.random(in: 2..<mutated.count, using: &generator)
                    mutated[index] = UInt8.random(in: 0...255, using: &generator)
                }
                if let image = try? decodeImage(mutated) {
                    XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
                }
            }
        }
    }

    func testBadPPMsAreInvalid() throws {
        try assertImageError(.invalidImage, "PPM: bad header: expected the height", Array("P6\n12 x\n255\n".utf8))
        try assertImageError(.invalidImage, "PPM truncated: header ends before the maxval", Array("P6 4 4".utf8))
        try assertImageError(.invalidImage, "PPM truncated: 2x2 needs 12 bytes of samples, file has 5",
                             Array("P6 2 2 255\n".utf8) + [1, 2, 3, 4, 5])
        let sixteenBit = Array("P5 2 2 65535\n".utf8) + [UInt8](repeating: 0, count: 8)
        try assertImageError(.unsupported, "16-bit samples (maxval 65535)", sixteenBit)
        try assertImageError(.invalidImage, "zero image size 0x3", Array("P5 0 3 255\n".utf8))
        try assertImageError(.invalidImage, "maxval 0", Array("P5 1 1 0\n\0".utf8))
    }

    // MARK: - Helpers

    private func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: TestData.fixture("images/" + name)))
    }

    /// Largest absolute difference and number of differing bytes (all of them if the sizes differ).
    private func pixelDifference(_ a: [UInt8], _ b: [UInt8]) -> (max: Int, count: Int) {
        guard a.count == b.count else { return (255, max(a.count, b.count)) }
        var largest = 0
        var count = 0
        for i in 0..<a.count where a[i] != b[i] {
            largest = max(largest, abs(Int(a[i]) - Int(b[i])))
            count += 1
        }
        return (largest, count)
    }

    /// Offset of the first `0xFF code` marker of a JPEG.
    private func markerOffset(_ code: UInt8, in bytes: [UInt8]) throws -> Int {
        for i in 0..<(bytes.count - 1) where bytes[i] == 0xFF && bytes[i + 1] == code { return i }
        throw XCTSkip("marker \(code) not in the fixture")
    }

    private func assertImageError(
        _ kind: EdgeQError.Kind, _ message: String, _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        do {
            let image = try decodeImage(bytes)
            XCTFail(
                "decoded a \(image.width)x\(image.height) image, expected \(kind): \(message)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.kind, kind, error.message, file: file, line: line)
            XCTAssertTrue(
                message.isEmpty || error.message.contains(message), "\"\(error.message)\" lacks \"\(message)\"",
                file: file, line: line)
        }
    }

    /// The generator of `noise_image` in make_jpeg_fixtures.py: a 31-bit LCG, one byte per sample.
    private func noiseImage(width: Int, height: Int, seed: UInt32) -> RGBImage {
        var state = seed
        let pixels = (0..<(width * height * 3)).map { _ -> UInt8 in
            state = (state &* 1_103_515_245 &+ 12345) & 0x7FFF_FFFF
            return UInt8(truncatingIfNeeded: state >> 16)
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// 64-bit FNV-1a as 16 hex digits, as make_jpeg_fixtures.py writes it.
    private func hexHash(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
