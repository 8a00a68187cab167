/// Kernel selection as a table: the first row whose `matches` accepts a node runs it. Adding a kernel is
/// adding a row; tests iterate the table (`floatKernelTable`) so a new row is tested automatically.

/// Everything a kernel needs about one node, resolved once at plan time: pointers into the arena and the
/// model's weights, views with strides, and the convolution geometry.
public struct KernelArguments {
    public var inputs: [UnsafeRawPointer]
    public var inputViews: [TensorView]
    /// Scale and zero point of each input (int8 layers; per output channel for int8 weights).
    public var inputQuant: [QuantParams]
    public var output: UnsafeMutableRawPointer
    public var outputView: TensorView
    public var outputQuant: QuantParams
    public var outputDType: DType
    public var geometry: ConvGeometry?
    public var activation: Activation
    /// Worker 0's scratch; each worker has `scratchPerWorker` floats of its own, one after the other.
    public var scratch: UnsafeMutablePointer<Float>
    public var scratchPerWorker: Int

    /// Pixel stride of input `i`, 0 when it is one pixel broadcast over a larger output.
    func broadcastStride(_ i: Int) -> Int {
        inputViews[i].pixels == 1 && outputView.pixels > 1 ? 0 : inputViews[i].pixelStride
    }

    /// The scratch memory of `worker` (0..<the executor's workerCount).
    public func scratch(worker: Int) -> UnsafeMutablePointer<Float> { scratch + worker * scratchPerWorker }

    public func int16Scratch(worker: Int) -> UnsafeMutablePointer<Int16> {
        UnsafeMutableRawPointer(scratch(worker: worker)).assumingMemoryBound(to: Int16.self)
    }

    public func int8Scratch(worker: Int) -> UnsafeMutablePointer<Int8> {
        UnsafeMutableRawPointer(scratch(worker: worker)).assumingMemoryBound(to: Int8.self)
    }

    public func f32(_ i: Int) -> UnsafePointer<Float> { inputs[i].assumingMemoryBound(to: Float.self) }
    public func i8(_ i: Int) -> UnsafePointer<Int8> { inputs[i].assumingMemoryBound(to: Int8.self) }
    public func i32(_ i: Int) -> UnsafePointer<Int32> { inputs[i].assumingMemoryBound(to: Int32.self) }
    public var f32Output: UnsafeMutablePointer<Float> { output.assumingMemoryBound(to: Float.self) }
    public var i8Output: UnsafeMutablePointer<Int8> { output.assumingMemoryBound(to: Int8.self) }
}

/// A node's computation as `items` independent work items, so that threads can share it: output rows of a
/// convolution, 6-pixel tiles of a pointwise GEMM, 16-channel blocks of a GEMV or a per-channel reduction,
/// pixels of an elementwise op. `run(items, worker)` computes a sub-range of them with `worker`'s scratch.
/// No item reads what another writes, no two items write the same output, and an item's values do not
/// depend on which other items share its call (reductions are never split), so every split over threads
/// gives the same bits.
public struct KernelWork {
    public let items: Int
    public let run: (Range<Int>, _ worker: Int) -> Void

    public init(items: Int, run: @escaping (Range<Int>, _ worker: Int) -> Void) {
        self.items = items
        self.run = run
    }
}

public struct KernelEntry {
    public let name: String
    /// The dtype of the node's first input that this kernel takes.
    public let dtype: DType
    public let matches: (Operator, ConvGeometry?) -> Bool
    /// Floats of scratch memory the kernel needs per worker for this geometry.
    public let scratchCount: (ConvGeometry?) -> Int
    /// Binds the arguments: the work that computes the node.
    public let bind: (KernelArguments) -> KernelWork
}

private func noScratch(_ g: ConvGeometry?) -> Int { 0 }

func isConv(_ op: Operator, _ g: ConvGeometry?, where predicate: (ConvGeometry) -> Bool) -> Bool {
    guard case .conv2d = op, let g else { return false }
    return predicate(g)
}

/// One output pixel: a convolution that is a matrix-vector product.
private func isSinglePixel(_ g: ConvGeometry) -> Bool { g.outputHeight * g.outputWidth == 1 }

/// Work items of `channels` output channels in blocks of 16 (gemmPacked16 blocks are independent, see
/// WeightPacking.swift); `run` gets the channels of its blocks.
func channelBlockWork(channels: Int, _ run: @escaping (Range<Int>) -> Void) -> KernelWork {
    let block = gemmPackedBlockChannels
    return KernelWork(items: (channels + block - 1) / block) { blocks, _ in
        run(blocks.lowerBound * block..<min(blocks.upperBound * block, channels))
    }
}

/// y = x W + b for one pixel of `inputChannels` floats (fully connected layers, 1x1 convolutions of a 1x1
/// input), split by 16-channel weight blocks.
private func gemvWork(_ a: KernelArguments, inputChannels: Int, outputChannels: Int) -> KernelWork {
    channelBlockWork(channels: outputChannels) { channels in
        f32_gemv_1x16(
            input: a.f32(0), reductionSize: inputChannels,
            weights: a.f32(1) + channels.lowerBound * inputChannels, bias: a.f32(2) + channels.lowerBound,
            outputChannels: channels.count, output: a.f32Output + channels.lowerBound, activation: a.activation)
    }
}

/// Work items = pixels, for kernels that treat every pixel alike.
func pixelWork(_ a: KernelArguments, _ run: @escaping (_ first: Int, _ count: Int) -> Void) -> KernelWork {
    KernelWork(items: a.outputView.pixels) { pixels, _ in run(pixels.lowerBound, pixels.count) }
}

/// The signature shared by the float elementwise binary kernels (f32_add, f32_mul).
typealias F32BinaryKernel = (
    _ a: UnsafePointer<Float>, _ aPixelStride: Int, _ b: UnsafePointer<Float>, _ bPixelStride: Int,
    _ output: UnsafeMutablePointer<Float>, _ outputPixelStride: Int, _ pixelCount: Int, _ channels: Int,
    _ activation: Activation
) -> Void

/// Work items = pixels of an elementwise binary op; b may be one pixel broadcast to all.
private func binaryWork(_ a: KernelArguments, _ kernel: @escaping F32BinaryKernel) -> KernelWork {
    let aStride = a.inputViews[0].pixelStride, bStride = a.broadcastStride(1)
    let outputStride = a.outputView.pixelStride
    return pixelWork(a) { first, count in
        kernel(
            a.f32(0) + first * aStride, aStride, a.f32(1) + first * bStride, bStride,
            a.f32Output + first * outputStride, outputStride, count, a.outputView.channels, a.activation)
    }
}

public let floatKernelTable: [KernelEntry] = [
    KernelEntry(
        name: "f32_conv1x1_gemv_1x16", dtype: .float32,
        matches: { op, g in isConv(op, g) { $0.isPointwise && isSinglePixel($0) } },
        scratchCount: noScratch,
        bind: { a in
            gemvWork(a, inputChannels: a.geometry!.inputChannels, outputChannels: a.geometry!.outputChannels)
        }),
    KernelEntry(
        name: "f32_conv1x1_gemm_6x16", dtype: .float32,
        matches: { op, g in isConv(op, g) { $0.isPointwise } },
        scratchCount: noScratch,
        bind: { a in
            let g = a.geometry!
            let pixels = g.outputHeight * g.outputWidth
            let inputStride = a.inputViews[0].pixelStride, outputStride = a.outputView.pixelStride
            return KernelWork(items: (pixels + f32GEMMTilePixels - 1) / f32GEMMTilePixels) { tiles, _ in
                let first = tiles.lowerBound * f32GEMMTilePixels
                let end = min(tiles.upperBound * f32GEMMTilePixels, pixels)
                f32_conv1x1_gemm_6x16(
                    input: a.f32(0) + first * inputStride, inputPixelStride: inputStride,
                    pixelCount: end - first, inputChannels: g.inputChannels, weights: a.f32(1),
                    bias: a.f32(2), outputChannels: g.outputChannels, output: a.f32Output + first * outputStride,
                    outputPixelStride: outputStride, activation: a.activation)
            }
        }),
    KernelEntry(
        name: "f32_dwconv", dtype: .float32,
        matches: { op, g in isConv(op, g) { $0.isDepthwise } },
        scratchCount: noScratch,
        bind: { a in
            let g = a.geometry!
            return KernelWork(items: g.outputHeight) { rows, _ in
                f32_dwconv(
                    input: a.f32(0), inputPixelStride: a.inputViews[0].pixelStride, geometry: g,
                    weights: a.f32(1), bias: a.f32(2), output: a.f32Output,
                    outputPixelStride: a.outputView.pixelStride, activation: a.activation, outputRows: rows)
            }
        }),
    KernelEntry(
        name: "f32_conv_gemm_6x16", dtype: .float32,
        matches: { op, g in isConv(op, g) { $0.groups == 1 } },
        scratchCount: { g in f32_conv_gemm_scratchCount(geometry: g!) },
        bind: { a in
            let g = a.geometry!
            return KernelWork(items: g.outputHeight) { rows, worker in
                f32_conv_gemm_6x16(
                    input: a.f32(0), inputPixelStride: a.inputViews[0].pixelStride, geometry: g,
                    weights: a.f32(1), bias: a.f32(2), output: a.f32Output,
                    outputPixelStride: a.outputView.pixelStride, activation: a.activation,
                    outputRows: rows, scratch: a.scratch(worker: worker))
            }
        }),
    KernelEntry(
        name: "f32_conv_grouped_direct", dtype: .float32,
        matches: { op, g in isConv(op, g) { $0.groups > 1 } },
        scratchCount: noScratch,
        bind: { a in
            let g = a.geometry!
            return KernelWork(items: g.outputHeight) { rows, _ in
                f32_conv_grouped_direct(
                    input: a.f32(0), inputPixelStride: a.inputViews[0].pixelStride, geometry: g,
                    weights: a.f32(1), bias: a.f32(2), output: a.f32Output,
                    outputPixelStride: a.outputView.pixelStride, activation: a.activation, outputRows: rows)
            }
        }),
    KernelEntry(
        name: "f32_fully_connected_gemv_1x16", dtype: .float32,
        matches: { op, _ in if case .fullyConnected = op { return true } else { return false } },
        scratchCount: noScratch,
        bind: { a in gemvWork(a, inputChannels: a.inputViews[0].channels, outputChannels: a.outputView.channels) }),
    KernelEntry(
        name: "f32_add", dtype: .float32,
        matches: { op, _ in if case .add = op { return true } else { return false } },
        scratchCount: noScratch,
        bind: { a in binaryWork(a, f32_add) }),
    KernelEntry(
        name: "f32_mul", dtype: .float32,
        matches: { op, _ in op == .mul },
        scratchCount: noScratch,
        bind: { a in binaryWork(a, f32_mul) }),
    // The pixel sum of each channel is one reduction: split by channels, never by pixels.
    KernelEntry(
        name: "f32_global_average_pool", dtype: .float32,
        matches: { op, _ in op == .globalAveragePool },
        scratchCount: noScratch,
        bind: { a in
            let input = a.inputViews[0]
            return channelBlockWork(channels: input.channels) { channels in
                f32_global_average_pool(
                    input: a.f32(0) + channels.lowerBound, inputPixelStride: input.pixelStride,
                    pixelCount: input.pixels, channels: channels.count, output: a.f32Output + channels.lowerBound)
            }
        }),
    KernelEntry(
        name: "f32_activation", dtype: .float32,
        matches: { op, _ in if case .activation = op { return true } else { return false } },
        scratchCount: noScratch,
        bind: { a in
            let inputStride = a.inputViews[0].pixelStride, outputStride = a.outputView.pixelStride
            return pixelWork(a) { first, count in
                f32_activation(
                    input: a.f32(0) + first * inputStride, inputPixelStride: inputStride,
                    output: a.f32Output + first * outputStride, outputPixelStride: outputStride, pixelCount: count,
                    channels: a.outputView.channels, activation: a.activation)
            }
        }),
]

/// Copies a view into another (a Concat input that could not be computed in place, a Reshape of a
/// strided view). int8 copies are requantizations by exactly 1, which reproduce every value.
func bindCopy(_ dtype: DType, from source: UnsafeRawPointer, _ sourceView: TensorView,
              to destination: UnsafeMutableRawPointer, _ destinationView: TensorView) -> PlannedCopy {
    let work = KernelWork(items: sourceView.pixels) { pixels, _ in
        let (s, d) = (pixels.lowerBound * sourceView.pixelStride, pixels.lowerBound * destinationView.pixelStride)
        if dtype == .int8 {
            i8_requantize(
                input: source.assumingMemoryBound(to: Int8.self) + s, inputPixelStride: sourceView.pixelStride,
                inputZeroPoint: 0, multiplier: 1, output: destination.assumingMemoryBound(to: Int8.self) + d,
                outputPixelStride: destinationView.pixelStride, pixelCount: pixels.count,
                channels: sourceView.channels, requantization: I8Requantization(zeroPoint: 0))
        } else {
            f32_copy_channels(
                input: source.assumingMemoryBound(to: Float.self) + s, inputPixelStride: sourceView.pixelStride,
                output: destination.assumingMemoryBound(to: Float.self) + d,
                outputPixelStride: destinationView.pixelStride, pixelCount: pixels.count,
                channels: sourceView.channels)
        }
    }
    return PlannedCopy(kernel: dtype == .int8 ? "i8_copy_channels" : "f32_copy_channels", work: work)
}

struct PlannedCopy {
    let kernel: String
    let work: KernelWork
}

/// Every kernel, float, int8 and binary: the first row of the node's input dtype that matches runs it.
public let kernelTable: [KernelEntry] = floatKernelTable + int8KernelTable + binaryKernelTable

public func selectKernel(_ op: Operator, _ geometry: ConvGeometry?, dtype: DType) -> KernelEntry? {
    for entry in kernelTable where entry.dtype == dtype && entry.matches(op, geometry) { return entry }
    return nil
}
