// Helpers shared by the float kernels. Vectors are Swift SIMD types: SIMD16<Float> is two ymm registers on
// AVX2 and four q registers on NEON, SIMD8<Float> one ymm / two q. Helpers and per-block kernel bodies are
// @inline(always) (SE-0496), a guarantee: @inline(__always) is only a hint, which the optimizer declined in
// the larger kernels, leaving a call per vector.

extension FloatVector {
    /// One unaligned vector load (activation views have arbitrary pixel strides, so nothing is aligned).
    @inline(always)
    init(loading p: UnsafePointer<Float>) {
        self = UnsafeRawPointer(p).loadUnaligned(as: Self.self)
    }

    /// Lanes 0..<count from `p` (count <= scalarCount), zero beyond. A partial vector reads only `count` floats
    /// so the last channels of a view never read past its end.
    @inline(always)
    init(loading p: UnsafePointer<Float>, count: Int) {
        if count == Self.scalarCount {
            self.init(loading: p)
        } else {
            self.init()
            for i in 0..<count { self[i] = p[i] }
        }
    }

    /// Stores lanes 0..<count to `p`; nothing past `count` is written.
    @inline(always)
    func store(to p: UnsafeMutablePointer<Float>, count: Int) {
        if count == Self.scalarCount {
            UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self)
        } else {
            for i in 0..<count { p[i] = self[i] }
        }
    }
}

/// A computation that is independent per channel, so a kernel can run it with channels in vector lanes.
protocol F32ChannelBlockKernel {
    /// Processes channels `channel ..< channel + count`, count <= V.scalarCount.
    func run<V: FloatVector>(_ vector: V.Type, channel: Int, count: Int)
}

extension F32ChannelBlockKernel {
    /// Covers channels 0..<channels with 16-wide blocks, then at most one full and one partial 8-wide block
    /// (channel counts of real models are mostly multiples of 8, so the partial block is rare).
    @inline(always)
    func forEachChannelBlock(_ channels: Int) {
        var channel = 0
        while channel + 16 <= channels {
            run(SIMD16<Float>.self, channel: channel, count: 16)
            channel += 16
        }
        if channel + 8 <= channels {
            run(SIMD8<Float>.self, channel: channel, count: 8)
            channel += 8
        }
        if channel < channels {
            run(SIMD8<Float>.self, channel: channel, count: channels - channel)
        }
    }
}

/// The kernel taps `0..<kernelSize` whose input position `origin + tap * dilation` lies in `0..<inputSize`
/// (a contiguous range; empty when the window misses the input entirely).
@inline(always)
func f32_validTaps(origin: Int, dilation: Int, kernelSize: Int, inputSize: Int) -> Range<Int> {
    let begin = origin >= 0 ? 0 : (dilation - 1 - origin) / dilation
    let end = origin < inputSize ? min(kernelSize, (inputSize - origin + dilation - 1) / dilation) : 0
    return min(begin, end)..<end
}

/// The output positions whose whole kernel window lies inside the input (no padded taps).
@inline(always)
func f32_interiorOutputs(
    pad: Int, stride: Int, dilation: Int, kernelSize: Int, inputSize: Int, outputSize: Int
) -> Range<Int> {
    let begin = (pad + stride - 1) / stride
    let lastWindowStart = inputSize - 1 - (kernelSize - 1) * dilation + pad
    let end = lastWindowStart < 0 ? 0 : min(outputSize, lastWindowStart / stride + 1)
    return min(begin, end)..<end
}
