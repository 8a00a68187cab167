/// Shape of one 2-D convolution in NHWC, batch 1. Padding at the bottom/right is implied by the output size.
public struct ConvGeometry: Equatable {
    public var inputHeight: Int
    public var inputWidth: Int
    public var inputChannels: Int
    public var outputHeight: Int
    public var outputWidth: Int
    public var outputChannels: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideHeight: Int
    public var strideWidth: Int
    public var dilationHeight: Int
    public var dilationWidth: Int
    public var padTop: Int
    public var padLeft: Int
    public var groups: Int

    public init(
        inputHeight: Int, inputWidth: Int, inputChannels: Int,
        outputChannels: Int, kernelHeight: Int, kernelWidth: Int,
        strideHeight: Int = 1, strideWidth: Int = 1, dilationHeight: Int = 1, dilationWidth: Int = 1,
        padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0, groups: Int = 1
    ) {
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
        self.padTop = padTop
        self.padLeft = padLeft
        self.groups = groups
        let extentH = dilationHeight * (kernelHeight - 1) + 1
        let extentW = dilationWidth * (kernelWidth - 1) + 1
        self.outputHeight = (inputHeight + padTop + padBottom - extentH) / strideHeight + 1
        self.outputWidth = (inputWidth + padLeft + padRight - extentW) / strideWidth + 1
    }

    /// Inner dimension of the GEMM form of a group: one output value sums this many products.
    public var reductionSize: Int { kernelHeight * kernelWidth * (inputChannels / groups) }
    public var isDepthwise: Bool { groups == inputChannels && groups == outputChannels && groups > 1 }
    public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1 && padTop == 0
            && padLeft == 0 && groups == 1 && outputHeight == inputHeight && outputWidth == inputWidth
    }
    /// Multiply-accumulates of one inference of this layer.
    public var macs: Int { outputHeight * outputWidth * outputChannels * reductionSize }
}
