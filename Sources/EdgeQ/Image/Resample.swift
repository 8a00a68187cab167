/// Pillow's `Image.resize(size, Image.BILINEAR)` for RGB images, bit-exact (libImaging/Resample.c).
///
/// A separable convolution: one pass along each axis, with an 8-bit intermediate image between them. The
/// triangle filter's support is stretched by the scale factor when shrinking, which is what antialiases;
/// weights are normalised to sum 1 in double precision, then rounded to 22-bit fixed point
/// (PRECISION_BITS = 32 - 8 - 2), and each output is `clip8((2^21 + sum(weight * sample)) >> 22)`.
///
/// `window` selects part of the resized image (a crop) and only that part is computed: the result equals
/// resizing the whole image and then cropping, at the cost of the crop alone. Pillow skips a pass whose size
/// does not change; running it instead changes nothing, because its taps are then exactly 1 and 0.
func resampleBilinear(
    _ image: RGBImage, width: Int, height: Int, window: (x: Int, y: Int, width: Int, height: Int)
) -> RGBImage {
    precondition(image.width > 0 && image.height > 0 && width > 0 && height > 0, "resampleBilinear: empty image")
    precondition(
        window.x >= 0 && window.y >= 0 && window.width > 0 && window.height > 0 && window.x + window.width <= width
            && window.y + window.height <= height, "resampleBilinear: window outside the output")
    let columns = BilinearTaps(inputSize: image.width, outputSize: width, outputs: window.x..<(window.x + window.width))
    let rows = BilinearTaps(inputSize: image.height, outputSize: height, outputs: window.y..<(window.y + window.height))
    // The intermediate image is rounded to 8 bits, so the order of the passes changes the result. Pillow 13
    // filters vertically first exactly when the image loses rows and 2 * (width gain) > (height gain): a rule
    // measured on Pillow 13.0.0 (its source was not at hand) over about 7,500 random size pairs, 4,500 of them
    // on the boundary 2 * (width gain) == (height gain), where it filters horizontally first.
    // Either way the first pass computes only the rows or columns that the second one reads.
    if height < image.height && 2 * (width - image.width) > height - image.height {
        let used = columns.inputRange
        let narrowed = filterVertically(image, columns: used, taps: rows, origin: 0)
        return filterHorizontally(narrowed, rows: 0..<narrowed.height, taps: columns, origin: used.lowerBound)
    }
    let used = rows.inputRange
    let narrowed = filterHorizontally(image, rows: used, taps: columns, origin: 0)
    return filterVertically(narrowed, columns: 0..<narrowed.width, taps: rows, origin: used.lowerBound)
}

/// Resamples `rows` of `image` along x; `origin` is the input column that the image's column 0 stands for.
private func filterHorizontally(_ image: RGBImage, rows: Range<Int>, taps: BilinearTaps, origin: Int) -> RGBImage {
    let width = taps.start.count
    let pixels = [UInt8](unsafeUninitializedCapacity: rows.count * width * 3) { out, initialized in
        image.pixels.withUnsafeBufferPointer { input in
            taps.weights.withUnsafeBufferPointer { weights in
                for (outputRow, row) in rows.enumerated() {
                    let inputRow = input.baseAddress! + row * image.width * 3
                    for x in 0..<width {
                        filterPixel(
                            weights.baseAddress! + x * taps.maxTaps, count: taps.count[x],
                            input: inputRow + (taps.start[x] - origin) * 3, step: 3,
                            output: out.baseAddress! + (outputRow * width + x) * 3)
                    }
                }
            }
        }
        initialized = rows.count * width * 3
    }
    return RGBImage(width: width, height: rows.count, pixels: pixels)
}

/// Resamples `columns` of `image` along y; `origin` is the input row that the image's row 0 stands for.
private func filterVertically(_ image: RGBImage, columns: Range<Int>, taps: BilinearTaps, origin: Int) -> RGBImage {
    let height = taps.start.count
    let stride = image.width * 3
    let pixels = [UInt8](unsafeUninitializedCapacity: height * columns.count * 3) { out, initialized in
        image.pixels.withUnsafeBufferPointer { input in
            taps.weights.withUnsafeBufferPointer { weights in
                for y in 0..<height {
                    let inputRow = input.baseAddress! + (taps.start[y] - origin) * stride
                    for (outputColumn, column) in columns.enumerated() {
                        filterPixel(
                            weights.baseAddress! + y * taps.maxTaps, count: taps.count[y],
                            input: inputRow + column * 3, step: stride,
                            output: out.baseAddress! + (y * columns.count + outputColumn) * 3)
                    }
                }
            }
        }
        initialized = height * columns.count * 3
    }
    return RGBImage(width: columns.count, height: height, pixels: pixels)
}

/// One RGB output of either pass: `count` taps along the axis, `step` bytes apart, from `input`.
@inline(__always)
private func filterPixel(
    _ weights: UnsafePointer<Int32>, count: Int, input: UnsafePointer<UInt8>, step: Int,
    output: UnsafeMutablePointer<UInt8>
) {
    var red = BilinearTaps.rounding
    var green = BilinearTaps.rounding
    var blue = BilinearTaps.rounding
    for tap in 0..<count {
        let sample = input + tap * step
        red += Int32(sample[0]) * weights[tap]
        green += Int32(sample[1]) * weights[tap]
        blue += Int32(sample[2]) * weights[tap]
    }
    output[0] = BilinearTaps.clip8(red)
    output[1] = BilinearTaps.clip8(green)
    output[2] = BilinearTaps.clip8(blue)
}

/// The filter taps of one axis for a range of output positions (Pillow's `precompute_coeffs` followed by
/// `normalize_coeffs_8bpc`).
struct BilinearTaps {
    static let precisionBits: Int32 = 22
    static let rounding: Int32 = 1 << (precisionBits - 1)

    /// First input index of each output.
    var start: [Int] = []
    /// Number of taps of each output.
    var count: [Int] = []
    /// `maxTaps` fixed-point weights per output.
    var weights: [Int32]
    let maxTaps: Int

    init(inputSize: Int, outputSize: Int, outputs: Range<Int>) {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = 1.0 * filterScale  // the triangle reaches 1 input pixel, stretched when shrinking
        maxTaps = Int(support.rounded(.up)) * 2 + 1
        weights = [Int32](repeating: 0, count: outputs.count * maxTaps)
        var exact = [Double](repeating: 0, count: maxTaps)
        for output in outputs {
            // The same expressions, in the same order, as Resample.c, so that the doubles round identically.
            let center = (Double(output) + 0.5) * scale
            let first = max(Int(center - support + 0.5), 0)
            let taps = min(Int(center + support + 0.5), inputSize) - first
            var total = 0.0
            for tap in 0..<taps {
                let distance = abs((Double(tap + first) - center + 0.5) * (1.0 / filterScale))
                exact[tap] = distance < 1 ? 1 - distance : 0
                total += exact[tap]
            }
            let base = (output - outputs.lowerBound) * maxTaps
            for tap in 0..<taps {
                let normalised = total != 0 ? exact[tap] / total : exact[tap]
                // Triangle weights are never negative, so Pillow's rounding is always its +0.5 branch.
                weights[base + tap] = Int32(0.5 + normalised * Double(1 << BilinearTaps.precisionBits))
            }
            start.append(first)
            count.append(taps)
        }
    }

    /// The input indices that the taps read.
    var inputRange: Range<Int> { start[0]..<(start[start.count - 1] + count[count.count - 1]) }

    /// Pillow's clip8: drop the fraction bits, saturate to 0...255.
    @inline(__always)
    static func clip8(_ sum: Int32) -> UInt8 {
        UInt8(truncatingIfNeeded: min(max(sum >> precisionBits, 0), 255))
    }
}
