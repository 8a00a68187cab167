// Scalar reference of the binary convolution: the definition of Kernels/Binary/BINARY.md, written as plainly
// as possible, against which the bit-packed kernel is tested bit for bit. It reads unpacked OHWI signs and the
// input values themselves (no bits), so testing the kernel against it also tests both packings and the padding.

/// sign(x) as BinaryConv2D defines it: ONNX Sign (−1 below 0, 0 for ±0, +1 above), and +1 for NaN (which
/// ONNX would propagate).
public func ref_b1_sign(_ x: Float) -> Int32 {
    x < 0 ? -1 : x == 0 ? 0 : 1
}

/// The sign of an int8 activation's real value scale·(q − z).
public func ref_b1_sign(_ q: Int8, zeroPoint: Int8) -> Int32 {
    q == zeroPoint ? 0 : q < zeroPoint ? -1 : 1
}

/// The value (−1, 0 or +1) of channel `c` of a bit-packed pixel: its non-zero bit, then its sign bit.
public func ref_b1_packed_value(_ pixel: UnsafePointer<UInt64>, channels: Int, _ c: Int) -> Int32 {
    let words = binaryWordCount(channels)
    let bit = UInt64(1) << UInt64(c % 64)
    return pixel[words + c / 64] & bit == 0 ? 0 : pixel[c / 64] & bit != 0 ? -1 : 1
}

/// A binary convolution (groups 1), NHWC views, batch 1:
/// acc = Σ sign(x)·s[o] over the taps inside the input (padding is 0, as ONNX pads Sign's output with 0), then
/// float output: act(Float(acc)·multipliers[o] + biases[o]), int8 output: ref_i8_round_clamp(Float(acc)·m[o] +
/// b[o]) with m and b already divided by the output scale; the multiply and the add are each rounded. A
/// bit-packed output: with v = direction[o]·acc, −1 if v < lower[o], +1 if v > upper[o], else 0, set bit by bit
/// in a pixel whose words start all zero. Pixel strides of bit-packed tensors count u64 words.
/// `signs`: OHWI [Cout][KH][KW][Cin], each −1 or +1.
public func ref_b1_conv(
    input: B1Input, inputPixelStride: Int, geometry g: ConvGeometry, signs: UnsafePointer<Int8>,
    multipliers: UnsafePointer<Float>, biases: UnsafePointer<Float>, output: B1Output, outputPixelStride: Int
) {
    func sign(_ pixel: Int, _ c: Int) -> Int32 {
        switch input {
        case .float32(let x): return ref_b1_sign(x[pixel * inputPixelStride + c])
        case .int8(let x, let zeroPoint): return ref_b1_sign(x[pixel * inputPixelStride + c], zeroPoint: zeroPoint)
        case .packed(let x): return ref_b1_packed_value(x + pixel * inputPixelStride, channels: g.inputChannels, c)
        }
    }
    for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
            if case .packed(let out, _) = output {
                let pixel = out + (oy * g.outputWidth + ox) * outputPixelStride
                for j in 0..<2 * binaryWordCount(g.outputChannels) { pixel[j] = 0 }
            }
            for o in 0..<g.outputChannels {
                var acc: Int32 = 0
                for term in ref_conv_terms(g, oy: oy, ox: ox, o: o) {
                    acc += sign(term.pixel, term.channel) * Int32(signs[term.weight])
                }
                let pixel = oy * g.outputWidth + ox
                switch output {
                case .float32(let out, let activation):
                    out[pixel * outputPixelStride + o] = activation.apply(Float(acc) * multipliers[o] + biases[o])
                case .int8(let out, let requantization):
                    out[pixel * outputPixelStride + o] = ref_i8_round_clamp(
                        Float(acc) * multipliers[o] + biases[o], requantization)
                case .packed(let out, let t):
                    let v = acc * t.direction[o]
                    guard v < t.lower[o] || v > t.upper[o] else { continue }
                    let words = binaryWordCount(g.outputChannels), bit = UInt64(1) << UInt64(o % 64)
                    let word = out + pixel * outputPixelStride + o / 64
                    word[words] |= bit
                    if v < t.lower[o] { word[0] |= bit }
                }
            }
        }
    }
}
