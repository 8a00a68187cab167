// Float convolution as GEMM: output[pixel][o] = activation(bias[o] + sum_k A[pixel][k] * W[o][k]), with A the
// input pixels (1x1 convolution) or their im2col rows (any other groups == 1 convolution) and W in the
// gemmPacked16 layout (WeightPacking.swift).
//
// Register tile: 6 pixels x 16 output channels. On AVX2 that is 12 ymm accumulators + 2 for the weights + 1
// broadcast (of 16); on NEON 24 q accumulators + 4 weights + 1-2 broadcasts (of 32). Per k it loads one
// 16-float weight row and broadcasts 6 input scalars for 6*16 multiply-adds. 4x16 has 8 independent FMA chains,
// exactly 2 FMA units x 4 cycles of latency with no slack, and measured 5-12% slower on the MobileNetV2
// pointwise layers (Zen 5, AVX2); 8x16 does not fit the 16 ymm registers.

/// Pixels per register tile.
let f32GEMMTilePixels = 6

/// Pixels per cache block: the driver runs every 16-channel weight block over this many pixels before moving
/// on, so their input rows (chunk * K floats) are reused from L1/L2 across weight blocks while one weight
/// block (K * 16 floats) is reused across the chunk's tiles. It is also the im2col batch of the general conv.
let f32GEMMChunkPixels = 8 * f32GEMMTilePixels

/// The 6x16 microkernel: C[rows][columns] = activation(bias + A[rows][0..<k] x B[0..<k][columns]).
/// A: `rows` (1...6) pixels `aStride` floats apart. B: one block of gemmPacked16 weights (16 floats per k).
/// V is SIMD16 for a block with more than 8 output channels, SIMD8 otherwise (it reads the low half of each
/// 16-float weight row), so that 24-channel layers do not waste half of their second block.
/// Rows past `rows` recompute the last row and are not stored: one code path serves the pixel remainder, at
/// the cost of a partly wasted last tile.
/// Not inlined: one call per tile is negligible next to its k loop, and it keeps the drivers small.
@inline(never)
private func f32_gemm_tile_6x16<V: FloatVector>(
    _ vector: V.Type, rows: Int, a: UnsafePointer<Float>, aStride: Int, reductionSize: Int,
    b: UnsafePointer<Float>, bias: UnsafePointer<Float>, columns: Int,
    c: UnsafeMutablePointer<Float>, cStride: Int, activation: Activation
) {
    let last = rows - 1
    let a0 = a
    let a1 = a + min(1, last) * aStride
    let a2 = a + min(2, last) * aStride
    let a3 = a + min(3, last) * aStride
    let a4 = a + min(4, last) * aStride
    let a5 = a + min(5, last) * aStride
    let initial = V(loading: bias)
    var c0 = initial, c1 = initial, c2 = initial, c3 = initial, c4 = initial, c5 = initial
    var w = b
    for k in 0..<reductionSize {
        let row = V(loading: w)
        c0 = c0.addingProduct(V(repeating: a0[k]), row)
        c1 = c1.addingProduct(V(repeating: a1[k]), row)
        c2 = c2.addingProduct(V(repeating: a2[k]), row)
        c3 = c3.addingProduct(V(repeating: a3[k]), row)
        c4 = c4.addingProduct(V(repeating: a4[k]), row)
        c5 = c5.addingProduct(V(repeating: a5[k]), row)
        w += gemmPackedBlockChannels
    }
    activation.apply(c0).store(to: c, count: columns)
    if rows > 1 { activation.apply(c1).store(to: c + cStride, count: columns) }
    if rows > 2 { activation.apply(c2).store(to: c + 2 * cStride, count: columns) }
    if rows > 3 { activation.apply(c3).store(to: c + 3 * cStride, count: columns) }
    if rows > 4 { activation.apply(c4).store(to: c + 4 * cStride, count: columns) }
    if rows > 5 { activation.apply(c5).store(to: c + 5 * cStride, count: columns) }
}

/// One pixel (fully connected layers, 1x1 convolutions of a 1x1 input): every weight is used once, so the
/// loop is bound by streaming the weights. Four accumulators over consecutive k give 8 independent FMA chains
/// on AVX2 (16 on NEON); one accumulator would be bound by the FMA latency instead. It sums in another order
/// than the 6x16 tile, so a layer must use one or the other for all of its pixels.
/// `weights`: gemmPacked16 blocks from the one of output channel 0; `bias`: padded to 16.
func f32_gemv_1x16(
    input: UnsafePointer<Float>, reductionSize: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    outputChannels: Int, output: UnsafeMutablePointer<Float>, activation: Activation
) {
    var channel = 0
    var w = weights
    while channel < outputChannels {
        var s0 = SIMD16<Float>(loading: bias + channel)
        var s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
        var k = 0
        while k + 4 <= reductionSize {
            s0 = s0.addingProduct(SIMD16(repeating: input[k]), SIMD16(loading: w))
            s1 = s1.addingProduct(SIMD16(repeating: input[k + 1]), SIMD16(loading: w + 16))
            s2 = s2.addingProduct(SIMD16(repeating: input[k + 2]), SIMD16(loading: w + 32))
            s3 = s3.addingProduct(SIMD16(repeating: input[k + 3]), SIMD16(loading: w + 48))
            w += 64
            k += 4
        }
        while k < reductionSize {
            s0 = s0.addingProduct(SIMD16(repeating: input[k]), SIMD16(loading: w))
            w += 16
            k += 1
        }
        let columns = min(gemmPackedBlockChannels, outputChannels - channel)
        activation.apply((s0 + s1) + (s2 + s3)).store(to: output + channel, count: columns)
        channel += gemmPackedBlockChannels
    }
}

/// Pointwise (1x1, stride 1, no padding, groups 1) convolution over `pixelCount` pixels, which is a GEMM
/// [pixelCount x inputChannels] x [inputChannels x outputChannels]. `weights`: gemmPacked16 with
/// K = inputChannels; `bias`: padded to a multiple of 16. Writes only channels 0..<outputChannels of each
/// output pixel. A pixel's result does not depend on the other pixels of the call, so callers may split the
/// pixels into any ranges.
public func f32_conv1x1_gemm_6x16(
    input: UnsafePointer<Float>, inputPixelStride: Int, pixelCount: Int, inputChannels: Int,
    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, outputChannels: Int,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, activation: Activation
) {
    var chunkStart = 0
    while chunkStart < pixelCount {
        let chunkEnd = min(chunkStart + f32GEMMChunkPixels, pixelCount)
        var channel = 0
        var blockWeights = weights
        while channel < outputChannels {
            let columns = min(gemmPackedBlockChannels, outputChannels - channel)
            var pixel = chunkStart
            while pixel < chunkEnd {
                let rows = min(f32GEMMTilePixels, chunkEnd - pixel)
                let a = input + pixel * inputPixelStride
                let c = output + pixel * outputPixelStride + channel
                if columns > 8 {
                    f32_gemm_tile_6x16(
                        SIMD16<Float>.self, rows: rows, a: a, aStride: inputPixelStride,
                        reductionSize: inputChannels, b: blockWeights, bias: bias + channel, columns: columns,
                        c: c, cStride: outputPixelStride, activation: activation)
                } else {
                    f32_gemm_tile_6x16(
                        SIMD8<Float>.self, rows: rows, a: a, aStride: inputPixelStride,
                        reductionSize: inputChannels, b: blockWeights, bias: bias + channel, columns: columns,
                        c: c, cStride: outputPixelStride, activation: activation)
                }
                pixel += f32GEMMTilePixels
            }
            channel += gemmPackedBlockChannels
            blockWeights += inputChannels * gemmPackedBlockChannels
        }
        chunkStart = chunkEnd
    }
}

/// Floats of `scratch` that `f32_conv_gemm_6x16` needs for `geometry`: the im2col rows of one pixel chunk.
public func f32_conv_gemm_scratchCount(geometry: ConvGeometry) -> Int {
    f32GEMMChunkPixels * geometry.reductionSize
}

/// Convolution with groups == 1 and any kernel size, stride, padding and dilation: im2col of a chunk of output
/// pixels into `scratch` (zeros for padded taps), then the pointwise GEMM on those rows.
/// `input`/`output` point at pixel (0, 0) of their views; only output rows `outputRows` are computed, so
/// callers can split a layer by rows. `weights`: gemmPacked16 with K = KH*KW*Cin; `bias`: padded to 16.
/// `scratch`: `f32_conv_gemm_scratchCount(geometry:)` floats, not shared with a concurrent call.
public func f32_conv_gemm_6x16(
    input: UnsafePointer<Float>, inputPixelStride: Int, geometry g: ConvGeometry,
    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, outputPixelStride: Int, activation: Activation,
    outputRows: Range<Int>, scratch: UnsafeMutablePointer<Float>
) {
    let reductionSize = g.reductionSize
    let end = outputRows.upperBound * g.outputWidth
    var chunkStart = outputRows.lowerBound * g.outputWidth
    while chunkStart < end {
        let count = min(f32GEMMChunkPixels, end - chunkStart)
        for i in 0..<count {
            let pixel = chunkStart + i
            f32_im2col_row(
                input: input, inputPixelStride: inputPixelStride, geometry: g,
                outputY: pixel / g.outputWidth, outputX: pixel % g.outputWidth,
                row: scratch + i * reductionSize)
        }
        f32_conv1x1_gemm_6x16(
            input: scratch, inputPixelStride: reductionSize, pixelCount: count, inputChannels: reductionSize,
            weights: weights, bias: bias, outputChannels: g.outputChannels,
            output: output + chunkStart * outputPixelStride, outputPixelStride: outputPixelStride,
            activation: activation)
        chunkStart += count
    }
}

/// The K = KH*KW*Cin inputs of one output pixel in (kh, kw, cin) order, zero for taps in the padding. With
/// dilation 1 and a dense input the taps of a kernel row are one contiguous run (the 3-channel stem: 9 floats).
@inline(always)
private func f32_im2col_row(
    input: UnsafePointer<Float>, inputPixelStride: Int, geometry g: ConvGeometry,
    outputY: Int, outputX: Int, row: UnsafeMutablePointer<Float>
) {
    let cin = g.inputChannels
    let originY = outputY * g.strideHeight - g.padTop
    let originX = outputX * g.strideWidth - g.padLeft
    let columnTaps = f32_validTaps(
        origin: originX, dilation: g.dilationWidth, kernelSize: g.kernelWidth, inputSize: g.inputWidth)
    let contiguous = g.dilationWidth == 1 && inputPixelStride == cin
    var kernelRow = row
    for ky in 0..<g.kernelHeight {
        let y = originY + ky * g.dilationHeight
        if y < 0 || y >= g.inputHeight {
            kernelRow.update(repeating: 0, count: g.kernelWidth * cin)
        } else {
            kernelRow.update(repeating: 0, count: columnTaps.lowerBound * cin)
            let firstX = originX + columnTaps.lowerBound * g.dilationWidth
            let first = input + (y * g.inputWidth + firstX) * inputPixelStride
            if contiguous {
                (kernelRow + columnTaps.lowerBound * cin).update(from: first, count: columnTaps.count * cin)
            } else {
                for (i, kx) in columnTaps.enumerated() {
                    (kernelRow + kx * cin).update(
                        from: first + i * g.dilationWidth * inputPixelStride, count: cin)
                }
            }
            (kernelRow + columnTaps.upperBound * cin).update(
                repeating: 0, count: (g.kernelWidth - columnTaps.upperBound) * cin)
        }
        kernelRow += g.kernelWidth * cin
    }
}
