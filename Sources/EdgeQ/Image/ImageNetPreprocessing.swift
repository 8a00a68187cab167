/// ImageNet evaluation preprocessing as torchvision does it on a Pillow image:
/// `Resize(256)` (bilinear), `CenterCrop(224)`, `ToTensor()`, `Normalize(mean, std)`; bit-exact.

/// torchvision's `Resize(shorter)` output size: the shorter side becomes `shorter`, the longer one
/// `int(shorter * long / short)` (truncated, computed in double precision as Python does).
func resizedSize(width: Int, height: Int, shorter: Int) -> (width: Int, height: Int) {
    if width <= height {
        return (shorter, Int(Double(shorter * height) / Double(width)))
    }
    return (Int(Double(shorter * width) / Double(height)), shorter)
}

/// torchvision's centre-crop offset `round((length - crop) / 2)`, with Python's round half to even.
func centerCropOffset(length: Int, crop: Int) -> Int {
    let difference = length - crop
    let half = difference / 2
    return difference % 2 == 1 && half % 2 == 1 ? half + 1 : half
}

/// Resizes so that the shorter side is `to` pixels (torchvision `Resize(to)` with Pillow `BILINEAR`).
public func resizeShorterSideBilinear(_ img: RGBImage, to shorter: Int) -> RGBImage {
    precondition(shorter > 0, "resizeShorterSideBilinear: size must be positive")
    let size = resizedSize(width: img.width, height: img.height, shorter: shorter)
    return resampleBilinear(img, width: size.width, height: size.height, window: (0, 0, size.width, size.height))
}

/// The centred `width` x `height` part of `img` (torchvision `CenterCrop`); the crop must fit in the image.
public func centerCrop(_ img: RGBImage, width: Int, height: Int) -> RGBImage {
    precondition(width > 0 && height > 0 && width <= img.width && height <= img.height, "centerCrop: crop too large")
    let left = centerCropOffset(length: img.width, crop: width)
    let top = centerCropOffset(length: img.height, crop: height)
    var pixels = [UInt8]()
    pixels.reserveCapacity(width * height * 3)
    for y in top..<(top + height) {
        let rowStart = (y * img.width + left) * 3
        pixels.append(contentsOf: img.pixels[rowStart..<(rowStart + width * 3)])
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// The model input for `img`: NHWC float32 [1, size, size, 3].
///
/// An image that is already `size` x `size` is used as it is (the prepared evaluation sets); any other is
/// resized so its shorter side is `256 * size / 224` and centre-cropped, without computing the parts of the
/// resized image that the crop drops. Then per channel `(u8 / 255 - mean) / std` in float32, the operations
/// in that order with a true division, as the NumPy reference computes it.
public func imageNetInputNHWC(_ img: RGBImage, size: Int = 224) -> [Float] {
    precondition(size > 0, "imageNetInputNHWC: size must be positive")
    var image = img
    if img.width != size || img.height != size {
        let resized = resizedSize(width: img.width, height: img.height, shorter: 256 * size / 224)
        let window = (
            x: centerCropOffset(length: resized.width, crop: size),
            y: centerCropOffset(length: resized.height, crop: size), width: size, height: size)
        image = resampleBilinear(img, width: resized.width, height: resized.height, window: window)
    }
    let mean: [Float] = [0.485, 0.456, 0.406]
    let std: [Float] = [0.229, 0.224, 0.225]
    // Every channel maps 256 possible bytes, so a table computes each distinct value once.
    var table = [Float](repeating: 0, count: 3 * 256)
    for channel in 0..<3 {
        for value in 0..<256 {
            table[channel * 256 + value] = (Float(value) / 255 - mean[channel]) / std[channel]
        }
    }
    return [Float](unsafeUninitializedCapacity: size * size * 3) { out, initialized in
        for i in 0..<(size * size * 3) {
            out[i] = table[(i % 3) * 256 + Int(image.pixels[i])]
        }
        initialized = size * size * 3
    }
}
