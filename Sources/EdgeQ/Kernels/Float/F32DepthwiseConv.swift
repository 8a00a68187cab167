// Depthwise convolution (groups == Cin == Cout) on depthwiseHWC weights ([KH][KW][C], WeightPacking.swift),
// vectorized over channels: for one tap, a pixel's channels and the tap's weights are both contiguous.
// Taps are summed in (ky, kx) order after the bias, the order of the reference. Address arithmetic uses
// wrapping operators: the offsets stay inside the views, and overflow checks in the tap loops cost more than
// the multiply-adds.

/// One output pixel, or `groupSize` horizontally adjacent ones (`grouped`), whose windows are cut to the same
/// taps `rows x columns`; `input` is the first tap of the first pixel, the next pixel's window starts
/// `pixelStep` floats later. One pixel's taps form a single dependent FMA chain, bound by the FMA latency;
/// four pixels give four independent chains per vector register and share each weight load.
private struct F32DepthwisePixels: F32ChannelBlockKernel {
    static let groupSize = 4  // `run` is written out for it

    var grouped: Bool
    var input: UnsafePointer<Float>
    var pixelStep: Int
    var weights: UnsafePointer<Float>
    var bias: UnsafePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var outputPixelStride: Int
    var rows: Int
    var columns: Int
    var inputRowStep: Int       // floats between the input pixels of vertically adjacent taps
    var inputColumnStep: Int    // ... of horizontally adjacent taps
    var weightRowStep: Int      // KW * C
    var channels: Int           // floats between the weights of horizontally adjacent taps
    var activation: Activation

    @inline(always)
    func run<V: FloatVector>(_ vector: V.Type, channel: Int, count: Int) {
        let initial = V(loading: bias + channel, count: count)
        var s0 = initial, s1 = initial, s2 = initial, s3 = initial
        for ty in 0..<rows {
            for tx in 0..<columns {
                let w = V(loading: weights + (ty &* weightRowStep &+ tx &* channels &+ channel), count: count)
                let tap = input + (ty &* inputRowStep &+ tx &* inputColumnStep &+ channel)
                s0 = s0.addingProduct(V(loading: tap, count: count), w)
                if grouped {
                    s1 = s1.addingProduct(V(loading: tap + pixelStep, count: count), w)
                    s2 = s2.addingProduct(V(loading: tap + 2 &* pixelStep, count: count), w)
                    s3 = s3.addingProduct(V(loading: tap + 3 &* pixelStep, count: count), w)
                }
            }
        }
        let out = output + channel
        activation.apply(s0).store(to: out, count: count)
        if grouped {
            activation.apply(s1).store(to: out + outputPixelStride, count: count)
            activation.apply(s2).store(to: out + 2 &* outputPixelStride, count: count)
            activation.apply(s3).store(to: out + 3 &* outputPixelStride, count: count)
        }
    }
}

/// Depthwise convolution, any kernel size, stride, padding and dilation. `input`/`output` point at pixel (0, 0)
/// of their views; only output rows `outputRows` are computed (callers may split a layer by rows).
/// `weights`: depthwiseHWC [KH][KW][C]; `bias`: [C].
public func f32_dwconv(
    input: UnsafePointer<Float>, inputPixelStride: Int, geometry: ConvGeometry,
    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, activation: Activation,
    outputRows: Range<Int>
) {
    // A constant kernel width unrolls the tap loop along a kernel row (~15% faster on 3x3 layers); the row loop
    // stays a loop since border rows clip it.
    switch (geometry.kernelHeight, geometry.kernelWidth) {
    case (3, 3):
        f32_dwconv_rows(
            kernelHeight: 3, kernelWidth: 3, input: input, inputPixelStride: inputPixelStride,
            geometry: geometry, weights: weights, bias: bias, output: output,
            outputPixelStride: outputPixelStride, activation: activation, outputRows: outputRows)
    case (5, 5):
        f32_dwconv_rows(
            kernelHeight: 5, kernelWidth: 5, input: input, inputPixelStride: inputPixelStride,
            geometry: geometry, weights: weights, bias: bias, output: output,
            outputPixelStride: outputPixelStride, activation: activation, outputRows: outputRows)
    default:
        f32_dwconv_rows(
            kernelHeight: geometry.kernelHeight, kernelWidth: geometry.kernelWidth, input: input,
            inputPixelStride: inputPixelStride, geometry: geometry, weights: weights, bias: bias,
            output: output, outputPixelStride: outputPixelStride, activation: activation,
            outputRows: outputRows)
    }
}

/// Output pixels whose window is inside the input horizontally go four at a time; the others, one at a time,
/// clip their window to the taps inside the input, which is the same as reading zeros for padding. Rows clip
/// the window vertically the same way for all their pixels.
@inline(always)
private func f32_dwconv_rows(
    kernelHeight: Int, kernelWidth: Int,
    input: UnsafePointer<Float>, inputPixelStride: Int, geometry g: ConvGeometry,
    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, activation: Activation,
    outputRows: Range<Int>
) {
    let channels = g.inputChannels
    let interiorColumns = f32_interiorOutputs(
        pad: g.padLeft, stride: g.strideWidth, dilation: g.dilationWidth, kernelSize: kernelWidth,
        inputSize: g.inputWidth, outputSize: g.outputWidth)

    @inline(always)
    func pixels(grouped: Bool, _ y: Int, _ x: Int, rowTaps: Range<Int>, columnTaps: Range<Int>) {
        let inputY = y &* g.strideHeight &- g.padTop &+ rowTaps.lowerBound &* g.dilationHeight
        let inputX = x &* g.strideWidth &- g.padLeft &+ columnTaps.lowerBound &* g.dilationWidth
        F32DepthwisePixels(
            grouped: grouped, input: input + (inputY &* g.inputWidth &+ inputX) &* inputPixelStride,
            pixelStep: g.strideWidth &* inputPixelStride,
            weights: weights + (rowTaps.lowerBound &* kernelWidth &+ columnTaps.lowerBound) &* channels,
            bias: bias, output: output + (y &* g.outputWidth &+ x) &* outputPixelStride,
            outputPixelStride: outputPixelStride, rows: rowTaps.count, columns: columnTaps.count,
            inputRowStep: g.dilationHeight &* g.inputWidth &* inputPixelStride,
            inputColumnStep: g.dilationWidth &* inputPixelStride,
            weightRowStep: kernelWidth &* channels, channels: channels, activation: activation
        ).forEachChannelBlock(channels)
    }

    func borderPixel(_ y: Int, _ x: Int, rowTaps: Range<Int>) {
        let columnTaps = f32_validTaps(
            origin: x * g.strideWidth - g.padLeft, dilation: g.dilationWidth, kernelSize: kernelWidth,
            inputSize: g.inputWidth)
        pixels(grouped: false, y, x, rowTaps: rowTaps, columnTaps: columnTaps)
    }

    for y in outputRows {
        let rowTaps = f32_validTaps(
            origin: y * g.strideHeight - g.padTop, dilation: g.dilationHeight, kernelSize: kernelHeight,
            inputSize: g.inputHeight)
        for x in 0..<interiorColumns.lowerBound { borderPixel(y, x, rowTaps: rowTaps) }
        var x = interiorColumns.lowerBound
        while x + F32DepthwisePixels.groupSize <= interiorColumns.upperBound {
            pixels(grouped: true, y, x, rowTaps: rowTaps, columnTaps: 0..<kernelWidth)
            x += F32DepthwisePixels.groupSize
        }
        while x < interiorColumns.upperBound {
            pixels(grouped: false, y, x, rowTaps: rowTaps, columnTaps: 0..<kernelWidth)
            x += 1
        }
        for x in interiorColumns.upperBound..<g.outputWidth { borderPixel(y, x, rowTaps: rowTaps) }
    }
}
