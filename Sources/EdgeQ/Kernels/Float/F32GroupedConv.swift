// Grouped convolution (groups > 1, not depthwise) on plain OHWI weights [Cout][KH][KW][Cin/groups]. No model
// we target uses one, so this favors simplicity: one output value at a time, each tap a dot product over the
// group's input channels (contiguous in both the input pixel and the weights).

@inline(always)
private func f32_dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var sum = SIMD8<Float>()
    var i = 0
    while i + 8 <= count {
        sum = sum.addingProduct(SIMD8(loading: a + i), SIMD8(loading: b + i))
        i += 8
    }
    if i < count {
        sum = sum.addingProduct(SIMD8(loading: a + i, count: count - i), SIMD8(loading: b + i, count: count - i))
    }
    return sum.sum()
}

/// Grouped convolution, any kernel size, stride, padding and dilation. `input`/`output` point at pixel (0, 0)
/// of their views; only output rows `outputRows` are computed. `weights`: OHWI; `bias`: [Cout].
public func f32_conv_grouped_direct(
    input: UnsafePointer<Float>, inputPixelStride: Int, geometry g: ConvGeometry,
    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, activation: Activation,
    outputRows: Range<Int>
) {
    let groupInputs = g.inputChannels / g.groups
    let groupOutputs = g.outputChannels / g.groups
    for y in outputRows {
        let originY = y * g.strideHeight - g.padTop
        let rowTaps = f32_validTaps(
            origin: originY, dilation: g.dilationHeight, kernelSize: g.kernelHeight, inputSize: g.inputHeight)
        for x in 0..<g.outputWidth {
            let originX = x * g.strideWidth - g.padLeft
            let columnTaps = f32_validTaps(
                origin: originX, dilation: g.dilationWidth, kernelSize: g.kernelWidth, inputSize: g.inputWidth)
            let pixel = output + (y * g.outputWidth + x) * outputPixelStride
            for o in 0..<g.outputChannels {
                let groupInput = input + o / groupOutputs * groupInputs
                var sum = bias[o]
                for ky in rowTaps {
                    let inputY = originY + ky * g.dilationHeight
                    for kx in columnTaps {
                        let inputX = originX + kx * g.dilationWidth
                        sum += f32_dot(
                            groupInput + (inputY * g.inputWidth + inputX) * inputPixelStride,
                            weights + ((o * g.kernelHeight + ky) * g.kernelWidth + kx) * groupInputs,
                            count: groupInputs)
                    }
                }
                pixel[o] = activation.apply(sum)
            }
        }
    }
}
