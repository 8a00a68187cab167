/// The model graph shared by the converter (which builds it) and the runtime (which loads and plans it).
/// Activations are NHWC with batch 1; the file format (FORMAT.md) is a direct serialization of these types.

public enum DType: UInt8 {
    case float32 = 1
    case int8 = 2
    case int32 = 3
    case uint8 = 4
    /// Signs packed one bit per value (1 = negative, Larq's convention): binary convolution weights in the
    /// binaryPacked64 layout, and bit-packed activations between binary convolutions in the binaryBits64
    /// layout; the layout alone defines their size (Kernels/Binary/BINARY.md).
    case binary = 5

    /// Bytes per element; 0 for `binary`, whose bits only their layout sizes (storedByteCount,
    /// activationByteCount).
    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .int8, .uint8: return 1
        case .binary: return 0
        }
    }

    public var name: String {
        switch self {
        case .float32: return "f32"
        case .int8: return "i8"
        case .int32: return "i32"
        case .uint8: return "u8"
        case .binary: return "binary"
        }
    }
}

/// How a constant's bytes are arranged; the kernels read them as they are (see WeightPacking.swift).
public enum WeightLayout: UInt8 {
    case plain = 0           // row-major in `shape` order
    case gemmPacked16 = 1    // logical [Cout][K], stored [ceil(Cout/16)][K][16], zero padded
    case depthwiseHWC = 2    // logical [C][KH][KW], stored [KH][KW][C]
    case biasPadded16 = 3    // logical [Cout], stored [ceil(Cout/16)*16], zero padded
    case gemmI8C4 = 4        // int8 logical [Cout][K], stored [ceil(Cout/16)][ceil(K/4)][16][4], zero padded
    /// binary logical [Cout][KH][KW][Cin] signs, stored as u64 words [ceil(Cout/8)][KH*KW*ceil(Cin/64)][8],
    /// zero padded (BinaryWeightPacking.swift)
    case binaryPacked64 = 5
    /// binary activations (never constants) of NHWC shape [1][H][W][C]: per pixel ceil(C/64) u64 sign words
    /// (bit 1 = −1), then ceil(C/64) u64 non-zero words (bit 1 = not 0); channel bits >= C are 0
    case binaryBits64 = 6

    public var name: String {
        switch self {
        case .plain: return "plain"
        case .gemmPacked16: return "gemm16"
        case .depthwiseHWC: return "dwHWC"
        case .biasPadded16: return "bias16"
        case .gemmI8C4: return "i8c4"
        case .binaryPacked64: return "b64c8"
        case .binaryBits64: return "b64nhwc"
        }
    }
}

/// Bytes of an activation of `dtype` and shape `shape` (NHWC, or [1, C]) as the arena holds it: a bit-packed
/// one (binary, binaryBits64) takes 16·ceil(C/64) bytes per pixel.
public func activationByteCount(dtype: DType, shape: [Int]) -> Int {
    guard dtype == .binary else { return shape.reduce(1, *) * dtype.byteSize }
    return shape.dropLast().reduce(1, *) * 16 * binaryWordCount(shape.last ?? 1)
}

/// `real = scale * (q - zeroPoint)`; one entry per tensor, or one per slice along `axis`.
/// Empty `scales` means the tensor is not quantized.
public struct QuantParams: Equatable {
    public var scales: [Float]
    public var zeroPoints: [Int32]
    public var axis: Int32

    public init(scales: [Float] = [], zeroPoints: [Int32] = [], axis: Int32 = -1) {
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.axis = axis
    }

    public static let none = QuantParams()
    public var isQuantized: Bool { !scales.isEmpty }
}

/// A byte range inside the model's weight section.
public struct DataRange: Equatable {
    public var offset: Int
    public var length: Int
    public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }
}

public struct TensorInfo: Equatable {
    public var name: String
    public var dtype: DType
    /// Constants: their logical shape. Graph inputs: NHWC. Other activations: filled in by shape inference.
    public var shape: [Int]
    public var layout: WeightLayout
    public var quant: QuantParams
    /// Where a constant's bytes are; nil for activations.
    public var data: DataRange?

    public init(
        name: String, dtype: DType = .float32, shape: [Int] = [], layout: WeightLayout = .plain,
        quant: QuantParams = .none, data: DataRange? = nil
    ) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.layout = layout
        self.quant = quant
        self.data = data
    }

    public var isConstant: Bool { data != nil }
    public var elementCount: Int { shape.reduce(1, *) }
}

public struct Conv2DParams: Equatable {
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideHeight: Int
    public var strideWidth: Int
    public var dilationHeight: Int
    public var dilationWidth: Int
    public var padTop: Int
    public var padLeft: Int
    public var padBottom: Int
    public var padRight: Int
    public var groups: Int
    public var activation: Activation

    public init(
        kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
        dilationHeight: Int = 1, dilationWidth: Int = 1, padTop: Int = 0, padLeft: Int = 0,
        padBottom: Int = 0, padRight: Int = 0, groups: Int = 1, activation: Activation = .none
    ) {
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
        self.padTop = padTop
        self.padLeft = padLeft
        self.padBottom = padBottom
        self.padRight = padRight
        self.groups = groups
        self.activation = activation
    }
}

/// The operators of an EdgeQ graph. Inputs and outputs are tensor indices; "channels" is the last NHWC axis.
public enum Operator: Equatable {
    /// inputs: x [1,H,W,Cin], weights, bias. Weight layout by kind: groups == 1 → gemmPacked16 (logical
    /// [Cout][KH*KW*Cin]); depthwise → depthwiseHWC; other grouped → plain OHWI. Bias biasPadded16 or plain.
    case conv2d(Conv2DParams)
    /// XNOR-Net convolution (groups 1): inputs x [1,H,W,Cin] float32 or int8, weights binary binaryPacked64
    /// (logical [Cout][KH][KW][Cin] signs), multiplier and bias float32 plain [Cout]. y[o] = act(multiplier[o]
    /// · Σ sign(x)·sign(w) + bias[o]) over the taps inside the input, sign(0) = 0 (ONNX Sign, whose padding
    /// is 0). Output float32, or int8 (its tensor's scale and zero point). Kernels/Binary/BINARY.md.
    case binaryConv2d(Conv2DParams)
    /// inputs: x [1,K] or [1,1,1,K], weights gemmPacked16 (logical [M][K]), bias biasPadded16 → [1,M].
    case fullyConnected(Activation)
    /// inputs: a, b of the same shape, or b broadcast over pixels ([1,1,1,C]).
    case add(Activation)
    case mul
    /// Concatenation of all inputs along channels.
    case concat
    /// Channels [start, end) of the input.
    case slice(start: Int, end: Int)
    /// [1,H,W,C] → [1,1,1,C].
    case globalAveragePool
    case activation(Activation)
    /// Same elements in the same order under another shape (e.g. [1,1,1,C] → [1,C]); never moves data.
    case reshape(shape: [Int])
    /// float32 → int8 with the output tensor's scale and zero point.
    case quantize
    /// int8 → float32 with the input tensor's scale and zero point.
    case dequantize

    public var name: String {
        switch self {
        case .conv2d: return "Conv2D"
        case .binaryConv2d: return "BinaryConv2D"
        case .fullyConnected: return "FullyConnected"
        case .add: return "Add"
        case .mul: return "Mul"
        case .concat: return "Concat"
        case .slice: return "Slice"
        case .globalAveragePool: return "GlobalAveragePool"
        case .activation: return "Activation"
        case .reshape: return "Reshape"
        case .quantize: return "Quantize"
        case .dequantize: return "Dequantize"
        }
    }
}

public struct Node: Equatable {
    public var name: String
    public var op: Operator
    public var inputs: [Int]
    public var outputs: [Int]

    public init(name: String, op: Operator, inputs: [Int], outputs: [Int]) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// Nodes are stored in a valid execution order (every input produced before use).
public struct ModelGraph: Equatable {
    public var tensors: [TensorInfo]
    public var nodes: [Node]
    public var inputs: [Int]
    public var outputs: [Int]
    /// Free text: who wrote the file and from what.
    public var producer: String

    public init(
        tensors: [TensorInfo] = [], nodes: [Node] = [], inputs: [Int] = [], outputs: [Int] = [],
        producer: String = ""
    ) {
        self.tensors = tensors
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.producer = producer
    }
}
