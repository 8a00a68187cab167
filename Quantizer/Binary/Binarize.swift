import EdgeQ

// Post-training binarization of float convolutions (XNOR-Net, Rastegari et al. 2016); the maths and the choice
// of input threshold are in BINARIZATION.md beside this file.

/// How a binarized convolution turns its input into signs.
public enum BinaryInput: String, CaseIterable {
    /// sign(x), ONNX's Sign: a zero (every inactive post-ReLU value) stays 0 and contributes nothing.
    case sign
    /// sign(x − t[c]) with t[c] the channel's mean; the constant t goes through the float weights into the bias.
    /// Costs a float add (and dequantize) before the layer.
    case centered
}

/// What `edgeq quantize --binary ...` asks for.
public struct BinarizationOptions {
    /// Layers to binarize: node names, globs, or numbers and ranges `i-j` of `binaryCandidates()`.
    public var layers: [String] = []
    /// The automatic plan's budget: points of top-1 agreement with float, on the binarization images, that the
    /// binarized model may lose against the int8 model. nil: no automatic plan.
    public var budget: Double? = nil
    /// Binary weights only: the layers stay int8 convolutions, with weights α[o]·sign(W).
    public var weightsOnly = false
    /// centered: it lost less on 31 of MobileNetV2's 34 candidates (BINARIZATION.md).
    public var input = BinaryInput.centered
    /// How many calibration images input scales, sensitivities and the automatic plan are measured on.
    public var images = 32
    /// The calibration images when the ranges come from a table (otherwise the calibration set's).
    public var calibrationImages: [String] = []
    /// Measure every candidate alone even without an automatic plan (for the sensitivity table).
    public var measureSensitivity = false

    public init() {}

    var isRequested: Bool { !layers.isEmpty || budget != nil || measureSensitivity }
}

/// The threshold and scale of a binarized convolution's input: x ≈ β·sign(x − t[c]) + t[c].
struct BinaryInputScale {
    /// t[c] per input channel (all 0 for `BinaryInput.sign`).
    var threshold: [Float]
    var beta: Float
}

// MARK: Candidates and selection

extension ImportGraph {
    /// Live convolutions with groups 1, in execution order: the ones BinaryConv2D can run.
    func groupOneConvolutions() -> [Int] {
        nodes.indices.filter { index in
            guard !nodes[index].isRemoved, case .conv(let params, _, _) = nodes[index].op else { return false }
            return params.groups == 1
        }
    }

    /// The convolutions the sensitivity table numbers and the automatic plan may pick: groups 1, except the first
    /// layer (it reads the image) and any that writes a model output (a classifier).
    func binaryCandidates() -> [Int] {
        groupOneConvolutions().filter { index in
            !inputs.contains(nodes[index].inputs[0]) && !outputs.contains(nodes[index].output)
        }
    }

    /// The nodes that `items` name (see `BinarizationOptions.layers`); each item may hold several, separated by
    /// commas. A number or a range of numbers counts among `binaryCandidates()`, from 0; a name or glob matches
    /// any convolution with groups 1, the first layer included.
    func resolveBinaryLayers(_ items: [String]) throws(EdgeQError) -> [Int] {
        let candidates = binaryCandidates()
        let convolutions = groupOneConvolutions()
        var chosen = Set<Int>()
        for item in items.flatMap({ $0.split(separator: ",").map(String.init) }) {
            if let (first, last) = try Self.candidateRange(item, count: candidates.count) {
                chosen.formUnion(candidates[first...last])
                continue
            }
            let matches = convolutions.filter { globMatches(pattern: Array(item.utf8), name: Array(nodes[$0].name.utf8)) }
            guard matches.isEmpty else {
                chosen.formUnion(matches)
                continue
            }
            if nodes.contains(where: { !$0.isRemoved && globMatches(pattern: Array(item.utf8), name: Array($0.name.utf8)) }) {
                throw EdgeQError(.invalidArgument, "--binary '" + item + "' matches no convolution with groups 1 (the only "
                    + "layers with a binary kernel; depthwise and fully connected layers are not)")
            }
            throw EdgeQError(.invalidArgument, "--binary '" + item + "' matches no layer of the model")
        }
        return chosen.sorted()
    }

    /// `i` or `i-j` as a range of candidate numbers; nil when `item` is not made of digits and one dash.
    static func candidateRange(_ item: String, count: Int) throws(EdgeQError) -> (Int, Int)? {
        let parts = item.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) })
        else { return nil }
        guard let first = Int(parts[0]), let last = Int(parts[parts.count - 1]), first <= last, last < count else {
            throw EdgeQError(.invalidArgument, "--binary '" + item + "': candidate numbers go from 0 to "
                + String(count - 1) + ", first ≤ last")
        }
        return (first, last)
    }
}

// MARK: The rewrite

/// XNOR-Net weights: per output channel o, α[o]·scale·sign(W) with α[o] = mean |W[o]| (the least-squares α for
/// fixed signs); sign(0) = +1, as the weight packer reads it.
func xnorWeights(_ weights: [Float], outputChannels: Int, scale: Float) -> [Float] {
    let perChannel = weights.count / outputChannels
    var binary = weights
    for o in 0..<outputChannels {
        let channel = (o * perChannel)..<((o + 1) * perChannel)
        let alpha = Float(weights[channel].reduce(0.0) { $0 + Double(abs($1)) } / Double(perChannel))
        let magnitude = alpha * scale
        for k in channel { binary[k] = weights[k] < 0 ? -magnitude : magnitude }
    }
    return binary
}

extension ImportGraph {
    /// Replaces convolution `index` (groups 1) by its XNOR approximation:
    ///
    ///     conv(W, x) = conv(W, x − t) + Σ_taps W·t  ≈  α[o]·β · conv(sign(W), sign(x − t)) + Σ_{i,taps} W[o,i]·t[i]
    ///
    /// so the weights become ±α[o]·β and the bias takes the constant term, with the float weights. A non-zero
    /// threshold adds a node x − t before the layer: node indices after `index` then move up by one, so callers
    /// rewrite from the last node to the first.
    mutating func binarizeConvolution(_ index: Int, input scale: BinaryInputScale) {
        guard case .conv(let params, let weights, var bias) = nodes[index].op else {
            preconditionFailure("only convolutions binarize")
        }
        let perInput = weights.count / (bias.count * scale.threshold.count)
        for o in bias.indices {
            var constant = 0.0
            for i in scale.threshold.indices where scale.threshold[i] != 0 {
                let taps = ((o * scale.threshold.count + i) * perInput)..<((o * scale.threshold.count + i + 1) * perInput)
                constant += weights[taps].reduce(0.0) { $0 + Double($1) } * Double(scale.threshold[i])
            }
            bias[o] += Float(constant)
        }
        nodes[index].op = .binaryConv(
            params, weights: xnorWeights(weights, outputChannels: bias.count, scale: scale.beta), bias: bias)
        guard scale.threshold.contains(where: { $0 != 0 }) else { return }
        let input = nodes[index].inputs[0]
        let dims = tensors[input].dims
        let centered = addTensor(name: nodes[index].name + ":centered", dims: dims)
        let shift = Operand(shape: [Int](repeating: 1, count: dims.count - 1) + [dims[channelAxis(rank: dims.count)]],
                            values: scale.threshold.map { -$0 })
        nodes.insert(Node(name: nodes[index].name + ":center", op: .add(.none, constant: shift), inputs: [input],
                          output: centered), at: index)
        nodes[index + 1].inputs[0] = centered
    }

    /// Binary weights, int8 (or float) activations: convolution `index` keeps its kind with weights α[o]·sign(W),
    /// which per-channel int8 quantization stores exactly (±127 → ±α[o]).
    mutating func binarizeWeights(_ index: Int) {
        guard case .conv(let params, let weights, let bias) = nodes[index].op else {
            preconditionFailure("only convolutions binarize")
        }
        nodes[index].op = .conv(params, weights: xnorWeights(weights, outputChannels: bias.count, scale: 1), bias: bias)
    }

    /// Binarizes the convolutions `layers` (node indices, any order) as `options` says, with the input scales
    /// measured for their input tensors.
    mutating func binarizeLayers(_ layers: [Int], scales: [String: BinaryInputScale], options: BinarizationOptions) {
        for index in layers.sorted(by: >) {
            if options.weightsOnly {
                binarizeWeights(index)
            } else {
                binarizeConvolution(index, input: scales[tensors[nodes[index].inputs[0]].name]!)
            }
        }
    }

    /// Multiply-accumulates of convolution `index` (groups 1): one per weight per output pixel.
    func convolutionMACs(_ index: Int) -> Int {
        guard case .conv(_, let weights, _) = nodes[index].op else { return 0 }
        let dims = tensors[nodes[index].output].dims
        return weights.count * dims[2] * dims[3]
    }
}

// MARK: Input scales

/// t and β (see `BinaryInputScale`) of each tensor of `names` (NCHW dims `dims`), over `inputs` in the float
/// model: t[c] the channel's mean for `.centered`, else 0; β = mean |x − t| over the values where x ≠ t, the
/// least-squares β for fixed signs (a value equal to t has sign 0 and takes no part).
func measureBinaryInputScales(
    _ float: ImportedModel, _ names: [String], channels: [Int], mode: BinaryInput, inputs: [[Float]]
) throws(EdgeQError) -> [String: BinaryInputScale] {
    var thresholds = channels.map { [Float](repeating: 0, count: $0) }
    if mode == .centered {
        let sums = try layerSums(float, names, channels: channels, activations: nil, inputs: inputs)
        thresholds = sums.map { s in s.sums.map { Float($0 / s.count) } }
    }
    var magnitude = [Double](repeating: 0, count: names.count)
    var nonzero = [Double](repeating: 0, count: names.count)
    try observeTensors(float, names, inputs: inputs) { i, values in
        let t = thresholds[i]
        for (k, x) in values.enumerated() where x != t[k % t.count] {
            magnitude[i] += Double(abs(x - t[k % t.count]))
            nonzero[i] += 1
        }
    }
    var scales: [String: BinaryInputScale] = [:]
    for (i, name) in names.enumerated() {
        scales[name] = BinaryInputScale(threshold: thresholds[i], beta: Float(nonzero[i] > 0 ? magnitude[i] / nonzero[i] : 0))
    }
    return scales
}
