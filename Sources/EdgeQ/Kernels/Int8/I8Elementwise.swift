// Per-channel int8 kernels over activation views (`pixelCount` pixels of `channels` values, consecutive pixels
// `pixelStride` elements apart), 16 channels per vector. Views whose pixels are contiguous are processed as one
// pixel of pixelCount * channels values, so narrow tensors still fill whole vectors. Every kernel evaluates
// the float expression its reference (RefInt8Elementwise.swift) states, operation for operation, so results
// are identical bit for bit (no FMA contraction: Swift emits separate multiplies and adds).

/// `q − z` of 16 int8 lanes, as exact floats.
@inline(always)
private func i8_centered(_ q: SIMD16<Int8>, _ zeroPoint: Int32) -> SIMD16<Float> {
    i8_float(i8_widen(q) &- SIMD16(repeating: zeroPoint))
}

/// How a kernel walks a view: a contiguous one as one pixel of pixelCount * channels values, others pixel by
/// pixel; each pixel in blocks of 16 channels. (Plain loops in each kernel: the same walk written as a helper
/// taking a closure made some kernels twice as slow.)
@inline(always)
private func i8_blocks(pixelCount: Int, channels: Int, contiguous: Bool) -> (pixels: Int, width: Int) {
    contiguous ? (1, pixelCount * channels) : (pixelCount, channels)
}

/// Quantized add with rescaling: y = clamp(roundNearestEven(Float(a − z_a)·aMultiplier + Float(b − z_b)·
/// bMultiplier) + z_y, lo, hi), aMultiplier = s_a/s_y and bMultiplier = s_b/s_y (QUANTIZATION.md).
/// bPixelStride == 0 broadcasts b's single pixel to every pixel. The output may alias a or b exactly (in place).
public func i8_add(
    a: UnsafePointer<Int8>, aPixelStride: Int, aZeroPoint: Int8, aMultiplier: Float,
    b: UnsafePointer<Int8>, bPixelStride: Int, bZeroPoint: Int8, bMultiplier: Float,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    requantization: I8Requantization
) {
    let round = I8RoundClamp(requantization)
    let contiguous = aPixelStride == channels && bPixelStride == channels && outputPixelStride == channels
    let za = Int32(aZeroPoint), zb = Int32(bZeroPoint)
    let (pixels, width) = i8_blocks(pixelCount: pixelCount, channels: channels, contiguous: contiguous)
    for pixel in 0..<pixels {
        var channel = 0
        while channel < width {
            let count = min(16, width &- channel)
            let x = i8_load(a + (pixel &* aPixelStride &+ channel), count: count)
            let y = i8_load(b + (pixel &* bPixelStride &+ channel), count: count)
            let sum = i8_centered(x, za) * aMultiplier + i8_centered(y, zb) * bMultiplier
            i8_store(round(sum), to: output + (pixel &* outputPixelStride &+ channel), count: count)
            channel &+= 16
        }
    }
}

/// Channel-wise multiply by a float gate (squeeze-excite): y = clamp(roundNearestEven(Float(x − z_x)·f[c]) + z_y,
/// lo, hi) with f[c] = gate[c]·scaleRatio, scaleRatio = s_x/s_y and `gate` the float SE branch's output [C].
/// f[c] is one float multiply in that order, then one multiply by Float(x − z_x) (QUANTIZATION.md). The output
/// may alias the input exactly.
public func i8_mul_gate(
    input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8,
    gate: UnsafePointer<Float>, scaleRatio: Float,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    requantization: I8Requantization
) {
    let round = I8RoundClamp(requantization)
    let z = Int32(inputZeroPoint)
    var channel = 0
    while channel < channels {
        let count = min(16, channels &- channel)
        let factor = i8_loadLanes(gate + channel, count: count) * scaleRatio
        for pixel in 0..<pixelCount {
            let x = i8_load(input + (pixel &* inputPixelStride &+ channel), count: count)
            i8_store(
                round(i8_centered(x, z) * factor), to: output + (pixel &* outputPixelStride &+ channel),
                count: count)
        }
        channel &+= 16
    }
}

/// Global average pool: y[c] = clamp(roundNearestEven(Float(Σ_p (x[p][c] − z_x))·multiplier) + z_y, lo, hi),
/// multiplier = s_x/(pixelCount·s_y) (QUANTIZATION.md). The sum is exact in int32 (pixelCount < 2^23).
/// `output`: one pixel of `channels` values.
public func i8_global_average_pool(
    input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8, pixelCount: Int, channels: Int,
    multiplier: Float, output: UnsafeMutablePointer<Int8>, requantization: I8Requantization
) {
    let round = I8RoundClamp(requantization)
    let offset = SIMD16<Int32>(repeating: Int32(pixelCount) &* Int32(inputZeroPoint))
    var channel = 0
    while channel < channels {
        let count = min(16, channels &- channel)
        var sum = SIMD16<Int32>()
        var pixel = input + channel
        for _ in 0..<pixelCount {
            sum &+= i8_widen(i8_load(pixel, count: count))
            pixel += inputPixelStride
        }
        i8_store(round(i8_float(sum &- offset) * multiplier), to: output + channel, count: count)
        channel &+= 16
    }
}

/// Float -> int8: y = clamp(roundNearestEven(x / scale) + z, lo, hi). A true division, as ONNX QuantizeLinear
/// defines it (x·(1/scale) rounds twice and differs in the last place for some x); only model inputs are
/// quantized, so its cost does not matter. NaN becomes lo (QUANTIZATION.md).
public func i8_quantize(
    input: UnsafePointer<Float>, inputPixelStride: Int, scale: Float,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    requantization: I8Requantization
) {
    let round = I8RoundClamp(requantization)
    let contiguous = inputPixelStride == channels && outputPixelStride == channels
    let (pixels, width) = i8_blocks(pixelCount: pixelCount, channels: channels, contiguous: contiguous)
    for pixel in 0..<pixels {
        var channel = 0
        while channel < width {
            let count = min(16, width &- channel)
            let x = i8_loadLanes(input + (pixel &* inputPixelStride &+ channel), count: count)
            i8_store(round(x / scale), to: output + (pixel &* outputPixelStride &+ channel), count: count)
            channel &+= 16
        }
    }
}

/// Int8 -> float: y = scale·Float(q − z) (one multiply of an exact integer).
public func i8_dequantize(
    input: UnsafePointer<Int8>, inputPixelStride: Int, zeroPoint: Int8, scale: Float,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, pixelCount: Int, channels: Int
) {
    let contiguous = inputPixelStride == channels && outputPixelStride == channels
    let z = Int32(zeroPoint)
    let (pixels, width) = i8_blocks(pixelCount: pixelCount, channels: channels, contiguous: contiguous)
    for pixel in 0..<pixels {
        var channel = 0
        while channel < width {
            let count = min(16, width &- channel)
            let y = scale * i8_centered(i8_load(input + (pixel &* inputPixelStride &+ channel), count: count), z)
            let destination = output + (pixel &* outputPixelStride &+ channel)
            if count == 16 {
                UnsafeMutableRawPointer(destination).storeBytes(of: y, as: SIMD16<Float>.self)
            } else {
                for i in 0..<count { destination[i] = y[i] }
            }
            channel &+= 16
        }
    }
}

/// Per-tensor rescaling copy (concat/slice of tensors whose scales differ): y = clamp(roundNearestEven(
/// Float(x − z_x)·multiplier) + z_y, lo, hi), multiplier = s_x/s_y. The output may alias the input exactly.
public func i8_requantize(
    input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8, multiplier: Float,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    requantization: I8Requantization
) {
    let round = I8RoundClamp(requantization)
    let contiguous = inputPixelStride == channels && outputPixelStride == channels
    let z = Int32(inputZeroPoint)
    let (pixels, width) = i8_blocks(pixelCount: pixelCount, channels: channels, contiguous: contiguous)
    for pixel in 0..<pixels {
        var channel = 0
        while channel < width {
            let count = min(16, width &- channel)
            let x = i8_load(input + (pixel &* inputPixelStride &+ channel), count: count)
            i8_store(
                round(i8_centered(x, z) * multiplier), to: output + (pixel &* outputPixelStride &+ channel),
                count: count)
            channel &+= 16
        }
    }
}
