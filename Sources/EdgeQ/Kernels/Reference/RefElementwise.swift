// Scalar references of the per-channel float kernels (see RefConv.swift for the purpose).

private func ref_binary(
    a: UnsafePointer<Float>, aPixelStride: Int, b: UnsafePointer<Float>, bPixelStride: Int,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    activation: Activation, _ operation: (Float, Float) -> Float
) {
    for p in 0..<pixelCount {
        for c in 0..<channels {
            let value = operation(a[p * aPixelStride + c], b[p * bPixelStride + c])
            output[p * outputPixelStride + c] = activation.apply(value)
        }
    }
}

public func ref_add(
    a: UnsafePointer<Float>, aPixelStride: Int, b: UnsafePointer<Float>, bPixelStride: Int,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    activation: Activation
) {
    ref_binary(
        a: a, aPixelStride: aPixelStride, b: b, bPixelStride: bPixelStride, output: output,
        outputPixelStride: outputPixelStride, pixelCount: pixelCount, channels: channels, activation: activation,
        +)
}

public func ref_mul(
    a: UnsafePointer<Float>, aPixelStride: Int, b: UnsafePointer<Float>, bPixelStride: Int,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    activation: Activation
) {
    ref_binary(
        a: a, aPixelStride: aPixelStride, b: b, bPixelStride: bPixelStride, output: output,
        outputPixelStride: outputPixelStride, pixelCount: pixelCount, channels: channels, activation: activation,
        *)
}

public func ref_activation(
    input: UnsafePointer<Float>, inputPixelStride: Int, output: UnsafeMutablePointer<Float>,
    outputPixelStride: Int, pixelCount: Int, channels: Int, activation: Activation
) {
    for p in 0..<pixelCount {
        for c in 0..<channels {
            output[p * outputPixelStride + c] = activation.apply(input[p * inputPixelStride + c])
        }
    }
}

public func ref_copy_channels(
    input: UnsafePointer<Float>, inputPixelStride: Int, output: UnsafeMutablePointer<Float>,
    outputPixelStride: Int, pixelCount: Int, channels: Int
) {
    for p in 0..<pixelCount {
        for c in 0..<channels { output[p * outputPixelStride + c] = input[p * inputPixelStride + c] }
    }
}

public func ref_global_average_pool(
    input: UnsafePointer<Float>, inputPixelStride: Int, pixelCount: Int, channels: Int,
    output: UnsafeMutablePointer<Float>
) {
    for c in 0..<channels {
        var sum: Float = 0
        for p in 0..<pixelCount { sum += input[p * inputPixelStride + c] }
        output[c] = sum / Float(pixelCount)
    }
}
