// Per-channel float kernels over activation views (`pixelCount` pixels of `channels` floats, consecutive pixels
// `pixelStride` floats apart), vectorized over channels. Views whose pixels are contiguous (stride ==
// channels) are processed as one pixel of pixelCount * channels floats, so small channel counts still fill
// whole vectors.

private enum F32BinaryOperation {
    case add
    case multiply
}

private struct F32BinaryPixel: F32ChannelBlockKernel {
    var operation: F32BinaryOperation
    var a: UnsafePointer<Float>
    var b: UnsafePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var activation: Activation

    @inline(always)
    func run<V: FloatVector>(_ vector: V.Type, channel: Int, count: Int) {
        let x = V(loading: a + channel, count: count)
        let y = V(loading: b + channel, count: count)
        let result: V
        switch operation {
        case .add: result = x + y
        case .multiply: result = x * y
        }
        activation.apply(result).store(to: output + channel, count: count)
    }
}

/// The one implementation of `f32_add` and `f32_mul`; `operation` is a constant at each inlined call site.
@inline(always)
private func f32_binary(
    _ operation: F32BinaryOperation,
    a: UnsafePointer<Float>, aPixelStride: Int, b: UnsafePointer<Float>, bPixelStride: Int,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    activation: Activation
) {
    if aPixelStride == channels && bPixelStride == channels && outputPixelStride == channels {
        F32BinaryPixel(operation: operation, a: a, b: b, output: output, activation: activation)
            .forEachChannelBlock(pixelCount * channels)
        return
    }
    for pixel in 0..<pixelCount {
        F32BinaryPixel(
            operation: operation, a: a + pixel * aPixelStride, b: b + pixel * bPixelStride,
            output: output + pixel * outputPixelStride, activation: activation
        ).forEachChannelBlock(channels)
    }
}

/// output = activation(a + b). bPixelStride == 0 broadcasts b's single pixel to every pixel. The output may
/// alias a or b exactly (in place), not partially.
public func f32_add(
    a: UnsafePointer<Float>, aPixelStride: Int, b: UnsafePointer<Float>, bPixelStride: Int,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    activation: Activation
) {
    f32_binary(
        .add, a: a, aPixelStride: aPixelStride, b: b, bPixelStride: bPixelStride, output: output,
        outputPixelStride: outputPixelStride, pixelCount: pixelCount, channels: channels, activation: activation)
}

/// output = activation(a * b); bPixelStride == 0 broadcasts b (the squeeze-excite channel scale). Aliasing as
/// for `f32_add`.
public func f32_mul(
    a: UnsafePointer<Float>, aPixelStride: Int, b: UnsafePointer<Float>, bPixelStride: Int,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    activation: Activation
) {
    f32_binary(
        .multiply, a: a, aPixelStride: aPixelStride, b: b, bPixelStride: bPixelStride, output: output,
        outputPixelStride: outputPixelStride, pixelCount: pixelCount, channels: channels, activation: activation)
}

private struct F32ActivationPixel: F32ChannelBlockKernel {
    var input: UnsafePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var activation: Activation

    @inline(always)
    func run<V: FloatVector>(_ vector: V.Type, channel: Int, count: Int) {
        activation.apply(V(loading: input + channel, count: count)).store(to: output + channel, count: count)
    }
}

/// output = activation(input); input == output (same view) is allowed.
public func f32_activation(
    input: UnsafePointer<Float>, inputPixelStride: Int, output: UnsafeMutablePointer<Float>,
    outputPixelStride: Int, pixelCount: Int, channels: Int, activation: Activation
) {
    if inputPixelStride == channels && outputPixelStride == channels {
        F32ActivationPixel(input: input, output: output, activation: activation)
            .forEachChannelBlock(pixelCount * channels)
        return
    }
    for pixel in 0..<pixelCount {
        F32ActivationPixel(
            input: input + pixel * inputPixelStride, output: output + pixel * outputPixelStride,
            activation: activation
        ).forEachChannelBlock(channels)
    }
}

/// Copies a view into another (concat into a channel slice, or a slice out of a wider tensor).
public func f32_copy_channels(
    input: UnsafePointer<Float>, inputPixelStride: Int, output: UnsafeMutablePointer<Float>,
    outputPixelStride: Int, pixelCount: Int, channels: Int
) {
    if inputPixelStride == channels && outputPixelStride == channels {
        output.update(from: input, count: pixelCount * channels)
        return
    }
    for pixel in 0..<pixelCount {
        (output + pixel * outputPixelStride).update(from: input + pixel * inputPixelStride, count: channels)
    }
}

private struct F32ChannelMean: F32ChannelBlockKernel {
    var input: UnsafePointer<Float>
    var inputPixelStride: Int
    var pixelCount: Int
    var output: UnsafeMutablePointer<Float>

    @inline(always)
    func run<V: FloatVector>(_ vector: V.Type, channel: Int, count: Int) {
        var sum = V()
        var pixel = input + channel
        for _ in 0..<pixelCount {
            sum += V(loading: pixel, count: count)
            pixel += inputPixelStride
        }
        (sum / Float(pixelCount)).store(to: output + channel, count: count)
    }
}

/// output[c] = mean over the pixels of input[., c] (one pixel of `channels` floats, contiguous). Sums in float
/// in pixel order, then divides by pixelCount as ONNX Runtime does: a multiplication by 1/pixelCount would
/// add a rounding of the reciprocal (49 = 7x7 has no exact one). The lanes are channels, so each channel's sum
/// runs in the same order as the scalar definition and the result is bit-identical to it.
public func f32_global_average_pool(
    input: UnsafePointer<Float>, inputPixelStride: Int, pixelCount: Int, channels: Int,
    output: UnsafeMutablePointer<Float>
) {
    F32ChannelMean(input: input, inputPixelStride: inputPixelStride, pixelCount: pixelCount, output: output)
        .forEachChannelBlock(channels)
}
