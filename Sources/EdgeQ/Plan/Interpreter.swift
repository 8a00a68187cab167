/// Loads a model into an executable plan: shapes inferred and checked, a kernel chosen per node from the
/// table, every pointer resolved, one arena allocated. `invoke()` then only calls kernels, on several threads
/// when an executor is installed.

public struct PlannedStep {
    /// Index of the graph node this step computes.
    public let node: Int
    public let kernel: String
    public let macs: Int
    /// The step's computation as independent work items (KernelWork).
    public let work: KernelWork
}

/// Runs work items on several threads. The runtime itself makes no OS calls: the executable installs one
/// (EdgeQCLI's ThreadPool, pthreads in the C shim). Class-bound so that Embedded Swift can hold it.
public protocol ParallelExecutor: AnyObject {
    /// Workers, the calling thread included: `parallelFor` passes worker indices 0..<workerCount.
    var workerCount: Int { get }
    /// Calls `body(range, worker)` for ranges that partition 0..<count, concurrently, and returns when every
    /// call has returned. Calls with the same worker index never overlap (a worker's scratch memory is its own).
    func parallelFor(_ count: Int, _ body: (Range<Int>, _ worker: Int) -> Void)
}

public final class Interpreter {
    public let model: Model
    public let shapes: [[Int]]
    public let memory: MemoryPlan
    public let steps: [PlannedStep]
    /// Activations plus kernel scratch (one slice per worker): everything inference writes.
    public let arenaBytes: Int
    /// Runs the work items of each step on several threads; nil runs everything on the calling thread.
    public let executor: (any ParallelExecutor)?
    let arena: AlignedBuffer

    /// Plans `model`; `executor` (if any) runs every later `invoke()`, with the scratch memory of its workers
    /// allocated here.
    public init(model: Model, executor: (any ParallelExecutor)? = nil) throws(EdgeQError) {
        self.model = model
        self.executor = executor
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
            let dtype = graph.tensors[node.inputs[0]].dtype
            guard let entry = selectKernel(node.op, geometry, dtype: dtype) else {
                throw EdgeQError(
                    .unsupported, "no " + dtype.name + " kernel for node '" + node.name + "' (" + node.op.name + ")")
            }
            scratchFloats = max(scratchFloats, entry.scratchCount(geometry))
            selected.append((entry, geometry))
        }
        // Whole cache lines per worker, so that workers never write to the same line.
        let line = AlignedBuffer.alignment
        let scratchOffset = (memory.activationBytes + line - 1) / line * line
        let scratchPerWorker = (scratchFloats * 4 + line - 1) / line * line / 4
        arenaBytes = scratchOffset + scratchPerWorker * (executor?.workerCount ?? 1) * 4
        // A hostile or broken file must not make a small board try to allocate gigabytes.
        guard arenaBytes <= Interpreter.maximumArenaBytes else {
            throw EdgeQError(
                .invalidModel,
                "the model needs an activation arena of " + String(arenaBytes) + " bytes, more than the "
                    + String(Interpreter.maximumArenaBytes >> 20) + " MiB EdgeQ accepts")
        }
        arena = AlignedBuffer(count: arenaBytes)

        let arenaBase = arena.base
        let memory = memory
        let shapes = shapes
        func pointer(_ t: Int) -> UnsafeMutableRawPointer {
            if graph.tensors[t].isConstant { return UnsafeMutableRawPointer(mutating: model.constantPointer(t)) }
            let v = memory.views[t]!
            return arenaBase + memory.bufferOffsets[v.root]! + v.elementOffset * graph.tensors[t].dtype.byteSize
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
                    let dtype = graph.tensors[output].dtype
                    let copy = bindCopy(dtype, from: pointer(input), view(input),
                        to: pointer(output) + (destination.elementOffset - view(output).elementOffset) * dtype.byteSize,
                        destination)
                    steps.append(PlannedStep(node: n, kernel: copy.kernel, macs: 0, work: copy.work))
                }
            case .reshape:
                if memory.reshapeCopies.contains(n) {
                    let source = view(node.inputs[0])
                    var contiguous = source
                    contiguous.pixelStride = source.channels
                    let copy = bindCopy(graph.tensors[output].dtype, from: pointer(node.inputs[0]), source,
                                        to: pointer(output), contiguous)
                    steps.append(PlannedStep(node: n, kernel: copy.kernel, macs: 0, work: copy.work))
                }
            case .slice:
                break
            default:
                let (entry, geometry) = selected[n]!
                let arguments = KernelArguments(
                    inputs: node.inputs.map { UnsafeRawPointer(pointer($0)) }, inputViews: node.inputs.map(view),
                    inputQuant: node.inputs.map { graph.tensors[$0].quant },
                    output: pointer(output), outputView: view(output), outputQuant: graph.tensors[output].quant,
                    outputDType: graph.tensors[output].dtype, geometry: geometry,
                    activation: node.op.fusedActivation, scratch: scratch, scratchPerWorker: scratchPerWorker)
                steps.append(PlannedStep(node: n, kernel: entry.name, macs: geometry?.macs ?? 0,
                    work: entry.bind(arguments)))
            }
        }
        self.steps = steps
    }

    /// The convolution geometry of a Conv2D node; a fully connected layer is a 1x1 convolution of one pixel.
    /// The largest activation arena a model may ask for (MobileNetV2 at 224x224 needs 6 MB).
    public static let maximumArenaBytes = 1 << 30

    public static func geometry(_ node: Node, _ shapes: [[Int]]) -> ConvGeometry? {
        switch node.op {
        case .conv2d(let p), .binaryConv2d(let p):
            return ConvGeometry(p, input: shapes[node.inputs[0]], outputChannels: shapes[node.outputs[0]][3])
        case .fullyConnected:
            return ConvGeometry(inputHeight: 1, inputWidth: 1, inputChannels: shapes[node.inputs[0]].last!,
                                outputChannels: shapes[node.outputs[0]].last!, kernelHeight: 1, kernelWidth: 1)
        default:
            return nil
        }
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
        for step in steps { run(step) }
    }

    /// Runs one step; `edgeq bench --layers` times them one by one.
    public func invoke(step: Int) { run(steps[step]) }

    private func run(_ step: PlannedStep) {
        let work = step.work
        if let executor, work.items > 1 {
            executor.parallelFor(work.items, work.run)
        } else {
            work.run(0..<work.items, 0)
        }
    }

    /// A copy of output `index` in NHWC order, as real values (int8 tensors dequantized).
    public func output(_ index: Int = 0) -> [Float] { values(of: model.graph.outputs[index]) }

    /// The current values of activation tensor `t` in NHWC order, as real values (−1, 0, +1 for a bit-packed
    /// one). Only tensors that are still
    /// live (graph inputs and outputs, or the last step's) hold the values of the last inference.
    public func values(of t: Int) -> [Float] {
        let v = memory.views[t]!
        let tensor = model.graph.tensors[t]
        let base = arena.base + memory.bufferOffsets[v.root]! + v.elementOffset * tensor.dtype.byteSize
        var result = [Float](repeating: 0, count: v.pixels * v.channels)
        for p in 0..<v.pixels {
            for c in 0..<v.channels {
                let i = p * v.pixelStride + c
                if tensor.dtype == .binary {
                    let pixel = UnsafeRawPointer(base + p * v.pixelStride * 8).assumingMemoryBound(to: UInt64.self)
                    result[p * v.channels + c] = Float(ref_b1_packed_value(pixel, channels: v.channels, c))
                    continue
                }
                result[p * v.channels + c] = tensor.dtype == .int8
                    ? tensor.quant.scales[0] * Float(Int32(base.load(fromByteOffset: i, as: Int8.self)) - tensor.quant.zeroPoints[0])
                    : base.load(fromByteOffset: i * 4, as: Float.self)
            }
        }
        return result
    }
}

extension Operator {
    var fusedActivation: Activation {
        switch self {
        case .conv2d(let p), .binaryConv2d(let p): return p.activation
        case .fullyConnected(let a), .add(let a), .activation(let a): return a
        default: return .none
        }
    }
}
