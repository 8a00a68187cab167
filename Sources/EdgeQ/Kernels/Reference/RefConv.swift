// Scalar reference convolution: the definition, written as plainly as possible, against which the fast float
// kernels are tested. It reads unpacked OHWI weights, so testing a kernel against it also tests the packing.

/// Any convolution (pointwise, general, depthwise, grouped), NHWC views, batch 1, zero padding.
/// `weights`: OHWI [Cout][KH][KW][Cin/groups]; `bias`: [Cout].
public func ref_conv(
    input: UnsafePointer<Float>, inputPixelStride: Int, geometry g: ConvGeometry,
    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, activation: Activation
) {
    for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
            for o in 0..<g.outputChannels {
                var sum = bias[o]
                for term in ref_conv_terms(g, oy: oy, ox: ox, o: o) {
                    sum += input[term.pixel * inputPixelStride + term.channel] * weights[term.weight]
                }
                output[(oy * g.outputWidth + ox) * outputPixelStride + o] = activation.apply(sum)
            }
        }
    }
}

/// The terms of output channel `o` at output pixel (oy, ox) of any convolution, in the order the references sum
/// them: for each tap inside the input, each input channel of `o`'s group, the input pixel (y·W + x), the input
/// channel and the index of the weight in OHWI [Cout][KH][KW][Cin/groups]. Taps in the padding are left out
/// (padding is real zero). The one loop nest of every scalar reference convolution (float, int8, binary).
func ref_conv_terms(_ g: ConvGeometry, oy: Int, ox: Int, o: Int) -> [(pixel: Int, channel: Int, weight: Int)] {
    let groupInputs = g.inputChannels / g.groups
    let group = o / (g.outputChannels / g.groups)
    var terms: [(pixel: Int, channel: Int, weight: Int)] = []
    for ky in 0..<g.kernelHeight {
        for kx in 0..<g.kernelWidth {
            let iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
            let ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
            if iy < 0 || iy >= g.inputHeight || ix < 0 || ix >= g.inputWidth { continue }
            for i in 0..<groupInputs {
                terms.append((iy * g.inputWidth + ix, group * groupInputs + i,
                              ((o * g.kernelHeight + ky) * g.kernelWidth + kx) * groupInputs + i))
            }
        }
    }
    return terms
}
