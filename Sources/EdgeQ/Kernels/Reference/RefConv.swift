// Scalar reference convolution: the definition, written as plainly as possible, against which the fast float
// kernels are tested. It reads unpacked OHWI weights, so testing a kernel against it also tests the packing.

/// Any convolution (pointwise, general, depthwise, grouped), NHWC views, batch 1, zero padding.
/// `weights`: OHWI [Cout][KH][KW][Cin/groups]; `bias`: [Cout].
public func ref_conv(
    input: UnsafePointer<Float>, inputPixelStride: Int, geometry g: ConvGeometry,
    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, activation: Activation
) {
    let groupInputs = g.inputChannels / g.groups
    let groupOutputs = g.outputChannels / g.groups
    for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
            for o in 0..<g.outputChannels {
                let group = o / groupOutputs
                var sum = bias[o]
                for ky in 0..<g.kernelHeight {
                    for kx in 0..<g.kernelWidth {
                        let iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
                        let ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
                        if iy < 0 || iy >= g.inputHeight || ix < 0 || ix >= g.inputWidth { continue }
                        for i in 0..<groupInputs {
                            let x = input[(iy * g.inputWidth + ix) * inputPixelStride + group * groupInputs + i]
                            let w = weights[((o * g.kernelHeight + ky) * g.kernelWidth + kx) * groupInputs + i]
                            sum += x * w
                        }
                    }
                }
                output[(oy * g.outputWidth + ox) * outputPixelStride + o] = activation.apply(sum)
            }
        }
    }
}
