/// What the decoded components are, as libjpeg decides it (`JPEGStream.colorTransform`).
enum JPEGColorTransform {
    case grayscale
    case yCbCr
    case rgb
}

/// Brings every component to full resolution and interleaves them as RGB: the libjpeg-turbo output stage
/// (jdsample.c with `do_fancy_upsampling`, then jdcolor.c), to the bit.
func jpegConvertToRGB(frame: JPEGFrame, buffers: JPEGBuffers, colorTransform: JPEGColorTransform) -> RGBImage {
    let width = frame.width
    let height = frame.height
    var planes: [(samples: UnsafePointer<UInt8>, stride: Int)] = []
    var upsampledPlanes: [UnsafeMutablePointer<UInt8>] = []
    defer { for plane in upsampledPlanes { plane.deallocate() } }
    for component in frame.components {
        let samples = UnsafePointer(buffers.samples + component.planeOffset)
        let horizontalFactor = frame.maxHorizontalSampling / component.horizontalSampling
        let verticalFactor = frame.maxVerticalSampling / component.verticalSampling
        if horizontalFactor == 1 && verticalFactor == 1 {
            planes.append((samples, component.stride))
            continue
        }
        let stride = component.width * horizontalFactor
        let upsampled = UnsafeMutablePointer<UInt8>.allocate(capacity: stride * component.height * verticalFactor)
        upsampledPlanes.append(upsampled)
        jpegUpsample(
            samples, stride: component.stride, width: component.width, height: component.height,
            horizontalFactor: horizontalFactor, verticalFactor: verticalFactor, into: upsampled)
        planes.append((UnsafePointer(upsampled), stride))
    }

    let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { out, initialized in
        for y in 0..<height {
            let row = out.baseAddress! + y * width * 3
            let first = planes[0].samples + y * planes[0].stride
            switch colorTransform {
            case .grayscale:
                for x in 0..<width {
                    row[3 * x] = first[x]
                    row[3 * x + 1] = first[x]
                    row[3 * x + 2] = first[x]
                }
            case .rgb:
                let second = planes[1].samples + y * planes[1].stride
                let third = planes[2].samples + y * planes[2].stride
                for x in 0..<width {
                    row[3 * x] = first[x]
                    row[3 * x + 1] = second[x]
                    row[3 * x + 2] = third[x]
                }
            case .yCbCr:
                yCbCrRowToRGB(
                    y: first, cb: planes[1].samples + y * planes[1].stride,
                    cr: planes[2].samples + y * planes[2].stride, width: width, into: row)
            }
        }
        initialized = width * height * 3
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// jdcolor.c `ycc_rgb_convert`: JFIF YCbCr->RGB with 16 fractional bits, the constants
/// FIX(1.40200), FIX(0.34414), FIX(0.71414), FIX(1.77200) and rounding by ONE_HALF, clamped to 0...255.
/// libjpeg folds the same integer expressions into tables; computing them per pixel gives identical values.
@inline(__always)
private func yCbCrRowToRGB(
    y: UnsafePointer<UInt8>, cb: UnsafePointer<UInt8>, cr: UnsafePointer<UInt8>, width: Int,
    into row: UnsafeMutablePointer<UInt8>
) {
    @inline(__always) func clamp(_ value: Int32) -> UInt8 { UInt8(truncatingIfNeeded: min(max(value, 0), 255)) }
    let oneHalf: Int32 = 1 << 15
    for x in 0..<width {
        let luma = Int32(y[x])
        let blue = Int32(cb[x]) - 128
        let red = Int32(cr[x]) - 128
        row[3 * x] = clamp(luma + ((91881 * red + oneHalf) >> 16))
        row[3 * x + 1] = clamp(luma + ((-22554 * blue - 46802 * red + oneHalf) >> 16))
        row[3 * x + 2] = clamp(luma + ((116130 * blue + oneHalf) >> 16))
    }
}

/// Upsamples a `width` x `height` plane by integer factors into `output`, which has
/// `width * horizontalFactor` columns and `height * verticalFactor` rows.
///
/// libjpeg-turbo's choice of method (jinit_upsampler): the triangle ("fancy") filters for 2x1, 1x2 and 2x2,
/// except that 2x1 and 2x2 fall back to replication when the plane is at most 2 samples wide; replication
/// for every other ratio. Edges repeat the outermost sample, as libjpeg's context rows do.
func jpegUpsample(
    _ input: UnsafePointer<UInt8>, stride: Int, width: Int, height: Int, horizontalFactor: Int,
    verticalFactor: Int, into output: UnsafeMutablePointer<UInt8>
) {
    let outputStride = width * horizontalFactor
    let fancy =
        (horizontalFactor == 1 && verticalFactor == 2)
        || (horizontalFactor == 2 && verticalFactor <= 2 && width > 2)
    for outputRow in 0..<(height * verticalFactor) {
        let out = output + outputRow * outputStride
        let row = outputRow / verticalFactor
        guard fancy else {
            let source = input + row * stride
            for x in 0..<outputStride { out[x] = source[x / horizontalFactor] }
            continue
        }
        let nearest = input + row * stride
        if verticalFactor == 1 {
            // h2v1: each output is 3/4 of the nearer input plus 1/4 of the further one; the biases 1 and 2
            // alternate so that halves round up and down equally often.
            var previous = Int32(nearest[0])
            for x in 0..<width {
                let current = Int32(nearest[x])
                let next = x + 1 < width ? Int32(nearest[x + 1]) : current
                out[2 * x] = UInt8(truncatingIfNeeded: (3 * current + previous + 1) >> 2)
                out[2 * x + 1] = UInt8(truncatingIfNeeded: (3 * current + next + 2) >> 2)
                previous = current
            }
            continue
        }
        // Vertical step: the upper output row of each pair leans on the row above, the lower on the row below.
        let isUpper = outputRow % 2 == 0
        let neighbourRow = isUpper ? max(row - 1, 0) : min(row + 1, height - 1)
        let neighbour = input + neighbourRow * stride
        if horizontalFactor == 1 {
            let bias: Int32 = isUpper ? 1 : 2
            for x in 0..<width {
                out[x] = UInt8(truncatingIfNeeded: (3 * Int32(nearest[x]) + Int32(neighbour[x]) + bias) >> 2)
            }
            continue
        }
        // h2v2: the same 3:1 weights on column sums of the vertical step (9/16, 3/16, 3/16, 1/16 overall).
        @inline(__always) func columnSum(_ x: Int) -> Int32 { 3 * Int32(nearest[x]) + Int32(neighbour[x]) }
        var previous = columnSum(0)
        var current = previous
        for x in 0..<width {
            let next = x + 1 < width ? columnSum(x + 1) : current
            out[2 * x] = UInt8(truncatingIfNeeded: (3 * current + previous + 8) >> 4)
            out[2 * x + 1] = UInt8(truncatingIfNeeded: (3 * current + next + 7) >> 4)
            previous = current
            current = next
        }
    }
}
