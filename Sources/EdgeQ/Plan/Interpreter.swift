/// Loads a model into an executable plan: shapes inferred and checked, a kernel chosen per node from the
/// table, every pointer resolved, one arena allocated. `invoke()` then only calls kernels.

public struct PlannedStep {
    /// Index of the graph node this step computes.
    public let node: Int
    public let kernel: String
    public let macs: Int
    let run: () -> Void
}

public final class Interpreter {
    public let model: Model
    public let shapes: [[Int]]
    public let memory: MemoryPlan
    public let steps: [PlannedStep]
    /// Activations plus kernel scratch: everything inference writes.
    public let arenaBytes: Int
    let arena: AlignedBuffer

    public init(model: Model) throws(EdgeQError) {
        self.model = model
        let graph = model.graph
        shapes = try inferShapes(graph)
        memory = planMemory(graph, shapes: shapes)

        var scratchFloats = 0
        var selected: [(entry: KernelEntry, geometry: ConvGeometry?)?] = []
        for node in graph.nodes {
            let geometry = Interpreter.geometry(node, shapes)
            if node.op.isView || node.op == .concat {
                selected.append(nil)
                continue
            }
            guard let entry = selectKernel(node.op, geometry) else {
                throw EdgeQError(.unsupported, "no kernel for node '" + node.name + "' (" + node.op.name + ")")
            }
            scratchFloats = max(scratchFloats, entry.scratchCount(geometry))
            selected.append((entry, geometry))
        }
        let scratchOffset = memory.activationBytes
        arenaBytes = scratchOffset + scratchFloats * 4
        arena = AlignedBuffer(count: arenaBytes)

        let arenaBase = arena.base
        let memory = memory
        let shapes = shapes
        func pointer(_ t: Int) -> UnsafeMutablePointer<Float> {
            if graph.tensors[t].isConstant { return UnsafeMutablePointer(mutating: model.constantPointer(t, as: Float.self)) }
            let v = memory.views[t]!
            return (arenaBase + memory.bufferOffsets[v.root]!).assumingMemoryBound(to: Float.self) + v.elementOffset
        }
        func view(_ t: Int) -> TensorView {
            if let v = memory.views[t] { return v }
            let s = graph.tensors[t].shape  // a constant operand of Add/Mul
            let channels = s.last ?? 1
            return TensorView(root: -1, elementOffset: 0, pixelStride: channels, pixels: s.reduce(1, *) / channels,
                channels: channels)
        }
        let scratch = (arenaBase + scratchOffset).assumingMemoryBound(to: Float.self)

        var steps: [PlannedStep] = []
        for (n, node) in graph.nodes.enumerated() {
            let output = node.outputs[0]
            switch node.op {
            case .concat:
                for (position, input) in node.inputs.enumerated() where memory.concatCopies.contains(n << 16 | position) {
                    let destination = Interpreter.concatSlot(node, position, output: view(output), shapes)
                    steps.append(PlannedStep(node: n, kernel: "f32_copy_channels", macs: 0,
                        run: bindCopy(from: pointer(input), view(input),
                                      to: pointer(output) + destination.elementOffset - view(output).elementOffset,
                                      destination)))
                }
            case .reshape:
                if memory.reshapeCopies.contains(n) {
                    let source = view(node.inputs[0])
                    var contiguous = source
                    contiguous.pixelStride = source.channels
                    steps.append(PlannedStep(node: n, kernel: "f32_copy_channels", macs: 0,
                        run: bindCopy(from: pointer(node.inputs[0]), source, to: pointer(output), contiguous)))
                }
            case .slice:
                break
            default:
                let (entry, geometry) = selected[n]!
                let arguments = KernelArguments(
                    inputs: node.inputs.map { UnsafePointer(pointer($0)) }, inputViews: node.inputs.map(view),
                    output: pointer(output), outputView: view(output), geometry: geometry,
                    activation: node.op.fusedActivation, scratch: scratch)
                steps.append(PlannedStep(node: n, kernel: entry.name, macs: Interpreter.macs(node, geometry, shapes),
                    run: entry.bind(arguments)))
            }
        }
        self.steps = steps
    }

    public static func geometry(_ node: Node, _ shapes: [[Int]]) -> ConvGeometry? {
        guard case .conv2d(let p) = node.op else { return nil }
        return ConvGeometry(p, input: shapes[node.inputs[0]], outputChannels: shapes[node.outputs[0]][3])
    }

    public static func macs(_ node: Node, _ geometry: ConvGeometry?, _ shapes: [[Int]]) -> Int {
        if let geometry { return geometry.macs }
        if case .fullyConnected = node.op { return shapes[node.inputs[0]].last! * shapes[node.outputs[0]].last! }
        return 0
    }

    /// The view of input `position` inside a Concat output.
    static func concatSlot(_ node: Node, _ position: Int, output: TensorView, _ shapes: [[Int]]) -> TensorView {
        var slot = output
        for i in 0..<position { slot.elementOffset += shapes[node.inputs[i]].last! }
        slot.channels = shapes[node.inputs[position]].last!
        return slot
    }

    // MARK: - Running

    public var inputShape: [Int] { shapes[model.graph.inputs[0]] }
    public var outputShape: [Int] { shapes[model.graph.outputs[0]] }

    /// The input tensor in the arena (NHWC, contiguous): write the image here, then `invoke()`.
    public func input(_ index: Int = 0) -> UnsafeMutableBufferPointer<Float> {
        let t = model.graph.inputs[index]
        let v = memory.views[t]!
        let base = (arena.base + memory.bufferOffsets[v.root]!).assumingMemoryBound(to: Float.self)
        return UnsafeMutableBufferPointer(start: base + v.elementOffset, count: shapes[t].reduce(1, *))
    }

    public func invoke() {
        for step in steps { step.run() }
    }

    /// Runs one step; `edgeq bench --layers` times them one by one.
    public func invoke(step: Int) { steps[step].run() }

    /// A copy of output `index` in NHWC order.
    public func output(_ index: Int = 0) -> [Float] {
        let t = model.graph.outputs[index]
        let v = memory.views[t]!
        let base = (arena.base + memory.bufferOffsets[v.root]!).assumingMemoryBound(to: Float.self) + v.elementOffset
        var result: [Float] = []
        result.reserveCapacity(v.pixels * v.channels)
        for p in 0..<v.pixels {
            for c in 0..<v.channels { result.append(base[p * v.pixelStride + c]) }
        }
        return result
    }
}

extension Operator {
    var fusedActivation: Activation {
        switch self {
        case .conv2d(let p): return p.activation
        case .fullyConnected(let a), .add(let a), .activation(let a): return a
        default: return .none
        }
    }
}
