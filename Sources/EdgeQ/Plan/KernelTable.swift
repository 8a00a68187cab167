/// Kernel selection as a table: the first row whose `matches` accepts a node runs it. Adding a kernel is
/// adding a row; tests iterate the table (`floatKernelTable`) so a new row is tested automatically.

/// Everything a kernel needs about one node, resolved once at plan time: pointers into the arena and the
/// model's weights, views with strides, and the convolution geometry.
public struct KernelArguments {
    public var inputs: [UnsafePointer<Float>]
    public var inputViews: [TensorView]
    public var output: UnsafeMutablePointer<Float>
    public var outputView: TensorView
    public var geometry: ConvGeometry?
    public var activation: Activation
    public var scratch: UnsafeMutablePointer<Float>

    /// Pixel stride of input `i`, 0 when it is one pixel broadcast over a larger output.
    func broadcastStride(_ i: Int) -> Int {
        inputViews[i].pixels == 1 && outputView.pixels > 1 ? 0 : inputViews[i].pixelStride
    }
}

public struct KernelEntry {
    public let name: String
    public let matches: (Operator, ConvGeometry?) -> Bool
    /// Floats of scratch memory the kernel needs for this geometry.
    public let scratchCount: (ConvGeometry?) -> Int
    /// Binds the arguments; the returned closure runs the node.
    public let bind: (KernelArguments) -> () -> Void
}

private func noScratch(_ g: ConvGeometry?) -> Int { 0 }

private func isConv(_ op: Operator, _ g: ConvGeometry?, where predicate: (ConvGeometry) -> Bool) -> Bool {
    guard case .conv2d = op, let g else { return false }
    return predicate(g)
}

public let floatKernelTable: [KernelEntry] = [
    KernelEntry(
        name: "f32_conv1x1_gemm_6x16",
        matches: { op, g in isConv(op, g) { $0.isPointwise } },
        scratchCount: noScratch,
        bind: { a in
            let g = a.geometry!
            return {
                f32_conv1x1_gemm_6x16(
                    input: a.inputs[0], inputPixelStride: a.inputViews[0].pixelStride,
                    pixelCount: g.outputHeight * g.outputWidth, inputChannels: g.inputChannels,
                    weights: a.inputs[1], bias: a.inputs[2], outputChannels: g.outputChannels,
                    output: a.output, outputPixelStride: a.outputView.pixelStride, activation: a.activation)
            }
        }),
    KernelEntry(
        name: "f32_dwconv",
        matches: { op, g in isConv(op, g) { $0.isDepthwise } },
        scratchCount: noScratch,
        bind: { a in
            let g = a.geometry!
            return {
                f32_dwconv(
                    input: a.inputs[0], inputPixelStride: a.inputViews[0].pixelStride, geometry: g,
                    weights: a.inputs[1], bias: a.inputs[2], output: a.output,
                    outputPixelStride: a.outputView.pixelStride, activation: a.activation,
                    outputRows: 0..<g.outputHeight)
            }
        }),
    KernelEntry(
        name: "f32_conv_gemm_6x16",
        matches: { op, g in isConv(op, g) { $0.groups == 1 } },
        scratchCount: { g in f32_conv_gemm_scratchCount(geometry: g!) },
        bind: { a in
            let g = a.geometry!
            return {
                f32_conv_gemm_6x16(
                    input: a.inputs[0], inputPixelStride: a.inputViews[0].pixelStride, geometry: g,
                    weights: a.inputs[1], bias: a.inputs[2], output: a.output,
                    outputPixelStride: a.outputView.pixelStride, activation: a.activation,
                    outputRows: 0..<g.outputHeight, scratch: a.scratch)
            }
        }),
    KernelEntry(
        name: "f32_conv_grouped_direct",
        matches: { op, g in isConv(op, g) { $0.groups > 1 } },
        scratchCount: noScratch,
        bind: { a in
            let g = a.geometry!
            return {
                f32_conv_grouped_direct(
                    input: a.inputs[0], inputPixelStride: a.inputViews[0].pixelStride, geometry: g,
                    weights: a.inputs[1], bias: a.inputs[2], output: a.output,
                    outputPixelStride: a.outputView.pixelStride, activation: a.activation,
                    outputRows: 0..<g.outputHeight)
            }
        }),
    // A fully connected layer is a 1x1 convolution of one pixel.
    KernelEntry(
        name: "f32_fully_connected_gemm_6x16",
        matches: { op, _ in if case .fullyConnected = op { return true } else { return false } },
        scratchCount: noScratch,
        bind: { a in
            {
                f32_conv1x1_gemm_6x16(
                    input: a.inputs[0], inputPixelStride: a.inputViews[0].channels, pixelCount: 1,
                    inputChannels: a.inputViews[0].channels, weights: a.inputs[1], bias: a.inputs[2],
                    outputChannels: a.outputView.channels, output: a.output,
                    outputPixelStride: a.outputView.channels, activation: a.activation)
            }
        }),
    KernelEntry(
        name: "f32_add",
        matches: { op, _ in if case .add = op { return true } else { return false } },
        scratchCount: noScratch,
        bind: { a in
            {
                f32_add(
                    a: a.inputs[0], aPixelStride: a.inputViews[0].pixelStride, b: a.inputs[1],
                    bPixelStride: a.broadcastStride(1), output: a.output,
                    outputPixelStride: a.outputView.pixelStride, pixelCount: a.outputView.pixels,
                    channels: a.outputView.channels, activation: a.activation)
            }
        }),
    KernelEntry(
        name: "f32_mul",
        matches: { op, _ in op == .mul },
        scratchCount: noScratch,
        bind: { a in
            {
                f32_mul(
                    a: a.inputs[0], aPixelStride: a.inputViews[0].pixelStride, b: a.inputs[1],
                    bPixelStride: a.broadcastStride(1), output: a.output,
                    outputPixelStride: a.outputView.pixelStride, pixelCount: a.outputView.pixels,
                    channels: a.outputView.channels, activation: a.activation)
            }
        }),
    KernelEntry(
        name: "f32_global_average_pool",
        matches: { op, _ in op == .globalAveragePool },
        scratchCount: noScratch,
        bind: { a in
            {
                f32_global_average_pool(
                    input: a.inputs[0], inputPixelStride: a.inputViews[0].pixelStride,
                    pixelCount: a.inputViews[0].pixels, channels: a.inputViews[0].channels, output: a.output)
            }
        }),
    KernelEntry(
        name: "f32_activation",
        matches: { op, _ in if case .activation = op { return true } else { return false } },
        scratchCount: noScratch,
        bind: { a in
            {
                f32_activation(
                    input: a.inputs[0], inputPixelStride: a.inputViews[0].pixelStride, output: a.output,
                    outputPixelStride: a.outputView.pixelStride, pixelCount: a.outputView.pixels,
                    channels: a.outputView.channels, activation: a.activation)
            }
        }),
]

/// Copies a view into another (a Concat input that could not be computed in place, a Reshape of a
/// strided view).
func bindCopy(from source: UnsafePointer<Float>, _ sourceView: TensorView, to destination: UnsafeMutablePointer<Float>,
              _ destinationView: TensorView) -> () -> Void {
    {
        f32_copy_channels(
            input: source, inputPixelStride: sourceView.pixelStride, output: destination,
            outputPixelStride: destinationView.pixelStride, pixelCount: sourceView.pixels,
            channels: sourceView.channels)
    }
}

public func selectKernel(_ op: Operator, _ geometry: ConvGeometry?) -> KernelEntry? {
    for entry in floatKernelTable where entry.matches(op, geometry) { return entry }
    return nil
}
