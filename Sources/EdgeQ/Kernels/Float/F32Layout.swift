// Layout conversion between ONNX's NCHW (model inputs and outputs) and the runtime's NHWC, batch 1.

/// dst[(y * width + x) * channels + c] = src[(c * height + y) * width + x].
public func nchwToNHWC(
    _ src: UnsafePointer<Float>, channels: Int, height: Int, width: Int, dst: UnsafeMutablePointer<Float>
) {
    let planeSize = height * width
    for c in 0..<channels {
        let plane = src + c * planeSize
        for pixel in 0..<planeSize { dst[pixel * channels + c] = plane[pixel] }
    }
}

/// dst[(c * height + y) * width + x] = src[(y * width + x) * channels + c].
public func nhwcToNCHW(
    _ src: UnsafePointer<Float>, channels: Int, height: Int, width: Int, dst: UnsafeMutablePointer<Float>
) {
    let planeSize = height * width
    for c in 0..<channels {
        let plane = dst + c * planeSize
        for pixel in 0..<planeSize { plane[pixel] = src[pixel * channels + c] }
    }
}
