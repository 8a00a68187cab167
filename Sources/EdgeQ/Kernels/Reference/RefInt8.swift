// Scalar references of the int8 kernels: the definitions of Kernels/Int8/QUANTIZATION.md, written as plainly
// as possible, against which the SIMD kernels are tested bit for bit. The convolution reads unpacked OHWI
// weights and the unfolded bias, so testing a kernel against it also tests the packing and the bias folding.

/// THE requantization rule: clamp(roundNearestEven(x) + z, lo, hi), the add and clamp done exactly (Double
/// holds every integer a Float rounds to below 2^53, and farther out the clamp's result is the same).
/// NaN gives lo.
public func ref_i8_round_clamp(_ x: Float, _ r: I8Requantization) -> Int8 {
    if x.isNaN { return Int8(r.lo) }
    let y = Double(x.rounded(.toNearestOrEven)) + Double(r.zeroPoint)
    return Int8(min(max(y, Double(r.lo)), Double(r.hi)))
}

/// Any int8 convolution (pointwise, general, depthwise, grouped), NHWC views, batch 1:
/// acc = bias[o] + Σ w·(x − z_x) over the taps inside the input (padding is real zero), then
/// y = ref_i8_round_clamp(Float(acc)·multipliers[o]). `weights`: OHWI [Cout][KH][KW][Cin/groups] int8;
/// `bias`: the quantized bias [Cout] (scale s_x·s_w[o], not folded); `multipliers`: [Cout].
/// Integer arithmetic wraps, as the kernels' does.
public func ref_i8_conv(
    input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8, geometry g: ConvGeometry,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, requantization: I8Requantization
) {
    for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
            for o in 0..<g.outputChannels {
                var acc = bias[o]
                for term in ref_conv_terms(g, oy: oy, ox: ox, o: o) {
                    let x = input[term.pixel * inputPixelStride + term.channel]
                    acc &+= Int32(weights[term.weight]) &* (Int32(x) - Int32(inputZeroPoint))
                }
                output[(oy * g.outputWidth + ox) * outputPixelStride + o] =
                    ref_i8_round_clamp(Float(acc) * multipliers[o], requantization)
            }
        }
    }
}

/// y = round_clamp(Float(a − z_a)·aMultiplier + Float(b − z_b)·bMultiplier): two multiplies, then one add.
public func ref_i8_add(
    a: UnsafePointer<Int8>, aPixelStride: Int, aZeroPoint: Int8, aMultiplier: Float,
    b: UnsafePointer<Int8>, bPixelStride: Int, bZeroPoint: Int8, bMultiplier: Float,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    requantization: I8Requantization
) {
    for p in 0..<pixelCount {
        for c in 0..<channels {
            let x = Float(Int32(a[p * aPixelStride + c]) - Int32(aZeroPoint)) * aMultiplier
            let y = Float(Int32(b[p * bPixelStride + c]) - Int32(bZeroPoint)) * bMultiplier
            output[p * outputPixelStride + c] = ref_i8_round_clamp(x + y, requantization)
        }
    }
}

/// y = round_clamp(Float(x − z_x)·(gate[c]·scaleRatio)): the factor first, one multiply each.
public func ref_i8_mul_gate(
    input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8,
    gate: UnsafePointer<Float>, scaleRatio: Float,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    requantization: I8Requantization
) {
    for p in 0..<pixelCount {
        for c in 0..<channels {
            let factor = gate[c] * scaleRatio
            let x = Float(Int32(input[p * inputPixelStride + c]) - Int32(inputZeroPoint))
            output[p * outputPixelStride + c] = ref_i8_round_clamp(x * factor, requantization)
        }
    }
}

/// y[c] = round_clamp(Float(Σ_p (x[p][c] − z_x))·multiplier).
public func ref_i8_global_average_pool(
    input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8, pixelCount: Int, channels: Int,
    multiplier: Float, output: UnsafeMutablePointer<Int8>, requantization: I8Requantization
) {
    for c in 0..<channels {
        var sum: Int32 = 0
        for p in 0..<pixelCount { sum += Int32(input[p * inputPixelStride + c]) - Int32(inputZeroPoint) }
        output[c] = ref_i8_round_clamp(Float(sum) * multiplier, requantization)
    }
}

/// y = round_clamp(x / scale).
public func ref_i8_quantize(
    input: UnsafePointer<Float>, inputPixelStride: Int, scale: Float,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    requantization: I8Requantization
) {
    for p in 0..<pixelCount {
        for c in 0..<channels {
            output[p * outputPixelStride + c] =
                ref_i8_round_clamp(input[p * inputPixelStride + c] / scale, requantization)
        }
    }
}

/// y = scale·Float(q − z).
public func ref_i8_dequantize(
    input: UnsafePointer<Int8>, inputPixelStride: Int, zeroPoint: Int8, scale: Float,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, pixelCount: Int, channels: Int
) {
    for p in 0..<pixelCount {
        for c in 0..<channels {
            output[p * outputPixelStride + c] =
                scale * Float(Int32(input[p * inputPixelStride + c]) - Int32(zeroPoint))
        }
    }
}

/// y = round_clamp(Float(x − z_x)·multiplier).
public func ref_i8_requantize(
    input: UnsafePointer<Int8>, inputPixelStride: Int, inputZeroPoint: Int8, multiplier: Float,
    output: UnsafeMutablePointer<Int8>, outputPixelStride: Int, pixelCount: Int, channels: Int,
    requantization: I8Requantization
) {
    for p in 0..<pixelCount {
        for c in 0..<channels {
            let x = Float(Int32(input[p * inputPixelStride + c]) - Int32(inputZeroPoint))
            output[p * outputPixelStride + c] = ref_i8_round_clamp(x * multiplier, requantization)
        }
    }
}
