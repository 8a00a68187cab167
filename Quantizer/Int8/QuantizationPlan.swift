import EdgeQ
import EdgeQCalibration

/// What `edgeq quantize` may change: see QUANTIZATION.md beside the int8 kernels for the maths.
public struct QuantizationOptions {
    /// One weight scale per layer instead of one per output channel.
    public var perTensorWeights = false
    /// Node names or globs (`*`, `?`) of layers that stay float32.
    public var keepFloat: [String] = []
    /// The first resolution stage stays float32: every layer whose output has the largest spatial size of any
    /// convolution output (for an ImageNet network, the stem and the first block at 112x112). `firstStageNodes`.
    public var floatFirstStage = false
    /// Empirical bias correction on the calibration images (BiasCorrection.swift).
    public var biasCorrection = false
    /// Cross-layer equalization of layer pairs joined by ReLU or nothing (Equalization.swift).
    public var crossLayerEqualization = false
    /// Calibration images that the range search (RangeSearch.swift) judges ranges on; 0: no search.
    public var rangeSearchImages = 0
    /// Convolutions to binarize (Quantizer/Binary/BINARIZATION.md).
    public var binarization = BinarizationOptions()
    /// Binary convolutions that feed binary convolutions pass bit-packed activations (the same outputs).
    public var packBinaryActivations = true

    public init() {}
}

/// Which tensors and nodes of an imported graph become int8, and with what quantization.
///
/// A node runs in int8 when its kind has an int8 kernel (convolution with groups 1 or depthwise, binary
/// convolution, fully connected, add, global average pool, the squeeze-excite channel multiply, and concat /
/// slice / reshape of int8 tensors), its fused activation is a clamp (none, ReLU, ReLU6/clip), every activation tensor it touches
/// has a calibrated range, and the user did not keep it float. Everything else stays float32; quantize and
/// dequantize nodes go in where the two meet.
///
/// Concat, slice and reshape do not move data in the runtime (their outputs are views of one buffer), so all
/// tensors joined by them share one quantization: the union of their ranges.
struct QuantizationPlan {
    /// Per tensor of the import graph: its quantization when it is stored as int8.
    private(set) var quantization: [QuantParams?]
    /// Per node of the import graph.
    private(set) var isInt8: [Bool]
    let options: QuantizationOptions

    init(_ graph: ImportGraph, ranges: [String: ActivationRange], options: QuantizationOptions) {
        self.options = options
        let count = graph.tensors.count
        var group = Array(0..<count)
        func root(_ t: Int) -> Int {
            var t = t
            while group[t] != t { t = group[t] }
            return t
        }
        for node in graph.nodes where !node.isRemoved && node.op.sharesQuantization {
            for input in node.inputs { group[root(input)] = root(node.output) }
        }
        var groupRange: [Int: ActivationRange] = [:]
        var incomplete = Set<Int>()
        for t in 0..<count {
            let r = root(t)
            guard let range = ranges[graph.tensors[t].name] else {
                incomplete.insert(r)
                continue
            }
            let merged = groupRange[r].map { ActivationRange(lo: min($0.lo, range.lo), hi: max($0.hi, range.hi)) }
            groupRange[r] = merged ?? range
        }
        var groupQuantization: [Int: QuantParams] = [:]
        for (r, range) in groupRange where !incomplete.contains(r) {
            let (scale, zeroPoint) = quantizationParameters(lo: range.lo, hi: range.hi)
            groupQuantization[r] = QuantParams(scales: [scale], zeroPoints: [zeroPoint])
        }
        let quantization = (0..<count).map { groupQuantization[root($0)] }
        self.quantization = quantization

        isInt8 = [Bool](repeating: false, count: graph.nodes.count)
        let firstStage = options.floatFirstStage ? graph.firstStageNodes() : []
        var storedAsInt8 = [Bool](repeating: false, count: count)
        for (index, node) in graph.nodes.enumerated() where !node.isRemoved {
            let quantized = { (t: Int) in quantization[t] != nil }
            var int8: Bool
            switch node.op {
            case .conv(let params, _, let bias):
                let channels = graph.tensors[node.inputs[0]].dims[1]
                let depthwise = params.groups > 1 && params.groups == channels && params.groups == bias.count
                int8 = (params.groups == 1 || depthwise) && params.activation.isClamp
                    && quantized(node.inputs[0])
            case .binaryConv(let params, _, _):
                // The binary kernel reads int8 as well as float32 and writes either; int8 saves the conversions.
                int8 = params.activation.isClamp && quantized(node.inputs[0])
            case .fullyConnected(let activation, _, _):
                int8 = activation.isClamp && quantized(node.inputs[0])
            case .add(let activation, nil):
                int8 = activation.isClamp && node.inputs.allSatisfy(quantized)
            case .globalAveragePool:
                int8 = quantized(node.inputs[0])
            case .mul(nil):
                // x times a per-channel float gate (squeeze-excite): only the gate stays float.
                let gate = graph.tensors[node.inputs[1]].dims
                int8 = quantized(node.inputs[0]) && gate.count == 4 && gate[2] * gate[3] == 1
            case .concat, .slice, .reshape:
                int8 = node.inputs.allSatisfy { storedAsInt8[$0] }
            default:
                int8 = false
            }
            int8 = int8 && quantized(node.output) && !options.keepsFloat(node.name) && !firstStage.contains(index)
            isInt8[index] = int8
            storedAsInt8[node.output] = int8
        }
    }
}

extension ImportGraph {
    /// The nodes whose output has the largest height x width of any convolution output: the stem and the
    /// layers after it up to the first downsampling. They hold few channels whose ranges differ widely (one
    /// per-tensor int8 scale fits them worst), and they carry the image's detail into every later layer: on
    /// MobileNetV2 the int8 activations lose 8 dB of SQNR in each of features.1's two convolutions alone.
    /// Keeping them float costs few MACs (13 % of MobileNetV2's and GhostNet's) and, measured, no latency:
    /// README "What each accuracy option measured".
    func firstStageNodes() -> Set<Int> {
        func area(_ node: Node) -> Int? {
            let dims = tensors[node.output].dims
            return dims.count == 4 ? dims[2] * dims[3] : nil
        }
        let convolutions = nodes.filter { node in
            guard !node.isRemoved else { return false }
            switch node.op {
            case .conv, .binaryConv: return true
            default: return false
            }
        }
        guard let largest = convolutions.compactMap(area).max() else { return [] }
        return Set(nodes.indices.filter { !nodes[$0].isRemoved && area(nodes[$0]).map { $0 >= largest } == true })
    }
}

extension QuantizationOptions {
    func keepsFloat(_ name: String) -> Bool {
        keepFloat.contains { globMatches(pattern: Array($0.utf8), name: Array(name.utf8)) }
    }
}

/// Shell-style match of `*` (any run) and `?` (one character).
func globMatches(pattern: [UInt8], name: [UInt8]) -> Bool {
    var p = 0, n = 0
    var star = -1, resume = 0
    while n < name.count {
        if p < pattern.count && (pattern[p] == UInt8(ascii: "?") || pattern[p] == name[n]) {
            p += 1
            n += 1
        } else if p < pattern.count && pattern[p] == UInt8(ascii: "*") {
            star = p
            resume = n
            p += 1
        } else if star >= 0 {
            p = star + 1
            resume += 1
            n = resume
        } else {
            return false
        }
    }
    while p < pattern.count && pattern[p] == UInt8(ascii: "*") { p += 1 }
    return p == pattern.count
}

extension Activation {
    /// Activations an int8 kernel applies as the clamp of its requantization.
    var isClamp: Bool { kind == .none || kind == .relu || kind == .clip }
}

extension ImportGraph.Op {
    /// Ops whose output the runtime lays over its inputs' memory, so they must share one quantization.
    var sharesQuantization: Bool {
        switch self {
        case .concat, .slice, .reshape: return true
        default: return false
        }
    }
}

// MARK: - Weights

/// Symmetric int8 weights in [-127, 127]: one scale per output channel (`rows` rows of the flattened weight),
/// or one for the whole tensor. A channel of zeros gets scale 1 so that no division by zero happens later.
func quantizeWeights(_ weights: [Float], rows: Int, perTensor: Bool) -> (values: [Int8], scales: [Float]) {
    let perRow = weights.count / rows
    var maxima = (0..<rows).map { r in weights[(r * perRow)..<((r + 1) * perRow)].reduce(0) { max($0, abs($1)) } }
    if perTensor { maxima = [Float](repeating: maxima.max() ?? 0, count: rows) }
    let scales = maxima.map { $0 > 0 ? $0 / 127 : 1 }
    var values = [Int8](repeating: 0, count: weights.count)
    for r in 0..<rows {
        for k in (r * perRow)..<((r + 1) * perRow) {
            values[k] = Int8(max(-127, min(127, (weights[k] / scales[r]).rounded(.toNearestOrEven))))
        }
    }
    return (values, scales)
}

/// int32 biases at scale s_x·s_w[c].
func quantizeBias(_ bias: [Float], inputScale: Float, weightScales: [Float]) -> [Int32] {
    bias.indices.map { c in
        let q = (Double(bias[c]) / (Double(inputScale) * Double(weightScales[c]))).rounded(.toNearestOrEven)
        return Int32(max(Double(Int32.min), min(Double(Int32.max), q)))
    }
}
