/// Where every activation tensor lives in the activation arena.
///
/// A tensor either owns a buffer or sits inside another tensor at a channel offset:
/// - a Slice output is a view into its input (no copy);
/// - a Concat input is computed directly into its channel range of the Concat output when nothing else
///   stops it (it is computed by a kernel, is not a graph input or output, and feeds only that one Concat);
/// - a Reshape output is a view of a contiguous input.
/// Buffers get arena offsets from their lifetimes (first write to last read) by greedy best-fit by size,
/// as TFLite's greedy memory planner does, so buffers whose lifetimes do not overlap share memory.

/// An NHWC tensor as the kernels see it: `pixels` rows of `channels` floats, `pixelStride` floats apart,
/// starting `elementOffset` floats into the buffer of `root`.
public struct TensorView: Equatable {
    public var root: Int
    public var elementOffset: Int
    public var pixelStride: Int
    public var pixels: Int
    public var channels: Int
}

enum Placement: Equatable {
    case owner
    case inside(Int, channelOffset: Int)
    case reshapeOf(Int)
}

public struct MemoryPlan {
    /// Per tensor; nil for constants.
    public var views: [TensorView?]
    /// Byte offset of each root buffer in the arena (indexed by root tensor).
    public var bufferOffsets: [Int: Int]
    /// Bytes of activations, scratch excluded.
    public var activationBytes: Int
    /// Concat inputs the plan could not place, which need a copy: (node index, input position).
    public var concatCopies: Set<Int>
    /// Reshape nodes whose input is not contiguous and so need a copy.
    public var reshapeCopies: Set<Int>
}

func planMemory(_ graph: ModelGraph, shapes: [[Int]]) -> MemoryPlan {
    let tensorCount = graph.tensors.count
    var producer = [Int](repeating: -1, count: tensorCount)
    var consumers = [[Int]](repeating: [], count: tensorCount)
    for (n, node) in graph.nodes.enumerated() {
        for o in node.outputs { producer[o] = n }
        for i in node.inputs { consumers[i].append(n) }
    }
    let isGraphIO = Set(graph.inputs + graph.outputs)

    func pixels(_ s: [Int]) -> Int { s.count == 4 ? s[1] * s[2] : 1 }
    func channels(_ s: [Int]) -> Int { s.last ?? 1 }

    var placement = [Placement](repeating: .owner, count: tensorCount)
    var concatCopies = Set<Int>()
    var reshapeCopies = Set<Int>()
    for (n, node) in graph.nodes.enumerated() {
        switch node.op {
        case .slice(let start, _):
            placement[node.outputs[0]] = .inside(node.inputs[0], channelOffset: start)
        case .concat:
            var offset = 0
            for (position, input) in node.inputs.enumerated() {
                let computedHere = producer[input] >= 0 && !graph.nodes[producer[input]].op.isView
                let concatUses = consumers[input].filter { c in
                    if case .concat = graph.nodes[c].op { return true } else { return false }
                }
                if computedHere && !isGraphIO.contains(input) && concatUses.count == 1
                    && placement[input] == .owner
                {
                    placement[input] = .inside(node.outputs[0], channelOffset: offset)
                } else {
                    concatCopies.insert(n << 16 | position)
                }
                offset += channels(shapes[input])
            }
        default:
            break
        }
    }

    // Views are resolved in a second pass because a Concat output may itself be placed by a later Concat.
    var views = [TensorView?](repeating: nil, count: tensorCount)
    func resolve(_ t: Int) -> TensorView {
        if let v = views[t] { return v }
        let s = shapes[t]
        var v: TensorView
        switch placement[t] {
        case .owner:
            // A bit-packed tensor's pixel stride counts u64 words: its two planes.
            let stride = graph.tensors[t].dtype == .binary ? 2 * binaryWordCount(channels(s)) : channels(s)
            v = TensorView(root: t, elementOffset: 0, pixelStride: stride, pixels: pixels(s), channels: channels(s))
        case .inside(let parent, let channelOffset):
            let p = resolve(parent)
            v = TensorView(
                root: p.root, elementOffset: p.elementOffset + channelOffset, pixelStride: p.pixelStride,
                pixels: pixels(s), channels: channels(s))
        case .reshapeOf(let source):
            let p = resolve(source)
            v = TensorView(
                root: p.root, elementOffset: p.elementOffset, pixelStride: channels(s), pixels: pixels(s),
                channels: channels(s))
        }
        views[t] = v
        return v
    }
    for (n, node) in graph.nodes.enumerated() {
        guard case .reshape = node.op else { continue }
        let source = resolve(node.inputs[0])
        if source.pixels == 1 || source.pixelStride == source.channels {
            placement[node.outputs[0]] = .reshapeOf(node.inputs[0])
        } else {
            reshapeCopies.insert(n)
        }
    }
    for t in 0..<tensorCount where !graph.tensors[t].isConstant && !shapes[t].isEmpty {
        _ = resolve(t)
    }

    // Lifetimes of root buffers, in node indices: graph inputs are live from -1, outputs until the end.
    var firstUse: [Int: Int] = [:]
    var lastUse: [Int: Int] = [:]
    func touch(_ t: Int, at step: Int) {
        guard let v = views[t] else { return }
        firstUse[v.root] = min(firstUse[v.root] ?? step, step)
        lastUse[v.root] = max(lastUse[v.root] ?? step, step)
    }
    for t in graph.inputs { touch(t, at: -1) }
    for (n, node) in graph.nodes.enumerated() {
        for t in node.inputs + node.outputs { touch(t, at: n) }
    }
    for t in graph.outputs { touch(t, at: graph.nodes.count) }

    struct Buffer {
        var root: Int
        var bytes: Int
        var first: Int
        var last: Int
    }
    var buffers: [Buffer] = []
    for (root, first) in firstUse {
        let s = shapes[root]
        let bytes = (activationByteCount(dtype: graph.tensors[root].dtype, shape: s) + AlignedBuffer.alignment - 1)
            / AlignedBuffer.alignment
            * AlignedBuffer.alignment
        buffers.append(Buffer(root: root, bytes: bytes, first: first, last: lastUse[root]!))
    }
    // Largest first; ties by root index so the plan is the same on every run and machine.
    buffers.sort { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.root < $1.root }
    var placed: [(offset: Int, buffer: Buffer)] = []
    var offsets: [Int: Int] = [:]
    var total = 0
    for b in buffers {
        let overlapping = placed.filter { $0.buffer.first <= b.last && b.first <= $0.buffer.last }
            .sorted { $0.offset < $1.offset }
        // Best fit: the smallest gap between live buffers that holds this one, else the end.
        var best: (offset: Int, gap: Int)? = nil
        var cursor = 0
        for p in overlapping {
            let gap = p.offset - cursor
            if gap >= b.bytes && (best == nil || gap < best!.gap) { best = (cursor, gap) }
            cursor = max(cursor, p.offset + p.buffer.bytes)
        }
        let offset = best?.offset ?? cursor
        offsets[b.root] = offset
        placed.append((offset, b))
        total = max(total, offset + b.bytes)
    }
    return MemoryPlan(
        views: views, bufferOffsets: offsets, activationBytes: total, concatCopies: concatCopies,
        reshapeCopies: reshapeCopies)
}

extension Operator {
    /// Operators that produce no data of their own in the plan (their output aliases an input).
    public var isView: Bool {
        switch self {
        case .slice, .reshape: return true
        default: return false
        }
    }
}
