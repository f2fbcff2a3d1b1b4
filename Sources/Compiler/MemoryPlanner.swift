import GraphCore
import Operators

/// Where every intermediate value of a graph lives in one arena, and when.
///
/// Lifetimes run from the producing node to the last node that reads the value (node indices,
/// inclusive). Parameters, states and graph inputs are pinned outside the arena (the session owns
/// them); values the caller reads and values that become new parameter/state values live until
/// the end. Scratch buffers of kernels (the convolution's column tile) are planned as buffers that
/// live during their node only.
public struct MemoryPlan: CustomStringConvertible, Sendable {
    public struct Buffer: Sendable {
        /// The value held, or nil for a kernel's scratch.
        public let value: Value?
        /// `scope (op)`, for the printed plan.
        public let label: String
        public let shape: Shape
        /// Bytes, rounded up to the alignment.
        public let bytes: Int
        public let offset: Int
        /// First and last node index during which the buffer must hold its contents.
        public let first: Int
        public let last: Int
        /// The input value whose buffer this output overwrites (in-place element-wise operators).
        public let reuses: Value?
    }

    public let buffers: [Buffer]
    /// Size of the arena: the planned peak.
    public let arenaBytes: Int
    /// Sum of all buffers: what one allocation per value would take.
    public let naiveBytes: Int
    /// Alignment of every offset, bytes.
    public static let alignment = 64

    /// One-line summary.
    public var summary: String {
        let inPlace = buffers.filter { $0.reuses != nil }.count, scratch = buffers.filter { $0.value == nil }.count
        return "memory plan: \(buffers.count) buffers (\(inPlace) in place, \(scratch) scratch), arena \(mebibytes(arenaBytes)) "
            + "vs naive \(mebibytes(naiveBytes)) (\(String(format: "%.1f", Double(naiveBytes) / Double(max(arenaBytes, 1))))× smaller)"
    }

    /// The node where the most bytes are live at once, and the buffers live there (largest
    /// first): what to shrink to lower the arena.
    public var peak: (node: Int, buffers: [Buffer]) {
        var bytesAt: [Int: Int] = [:]
        for buffer in buffers {
            for node in buffer.first...buffer.last where buffer.reuses == nil || node > buffer.first { bytesAt[node, default: 0] += buffer.bytes }
        }
        guard let node = bytesAt.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) })?.key else { return (0, []) }
        let live = buffers.filter { $0.first <= node && node <= $0.last && !($0.reuses != nil && $0.first == node) }
        return (node, live.sorted { $0.bytes > $1.bytes })
    }

    /// The summary and one line per buffer: value, label, shape, bytes, offset, lifetime.
    public var description: String {
        var lines = [summary, "value      offset       bytes  lifetime     shape  layer (op)"]
        for buffer in buffers {
            let name = buffer.value.map(\.description) ?? "scratch"
            let reuse = buffer.reuses.map { " in place of \($0)" } ?? ""
            lines.append(
                "\(pad(name, 8))  \(pad("\(buffer.offset)", 10, right: true))  \(pad("\(buffer.bytes)", 10, right: true))  "
                    + "\(pad("[\(buffer.first), \(buffer.last)]", 11))  \(buffer.shape)  \(buffer.label)\(reuse)")
        }
        return lines.joined(separator: "\n")
    }
}

func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}

/// Plans a graph's memory: liveness, best-fit reuse in one arena, in-place element-wise outputs.
public enum MemoryPlanner {
    /// Plans the nodes needed for `outputs` and the graph's state updates.
    public static func plan(_ graph: Graph, outputs: [Value], options: CompilerOptions = CompilerOptions()) -> MemoryPlan {
        let nodes = graph.nodes, end = nodes.count
        let pinnedValues = Set(outputs + graph.stateUpdates.map(\.value))
        var needed = [Bool](repeating: false, count: end)
        for value in pinnedValues { needed[value.node] = true }
        var lastUse: [Value: Int] = [:]
        for index in stride(from: end - 1, through: 0, by: -1) where needed[index] {
            for input in nodes[index].inputs {
                needed[input.node] = true
                if lastUse[input] == nil { lastUse[input] = index }
            }
        }

        // Blocks of arena memory: one per value, shared along in-place chains, one per scratch.
        var blocks: [Block] = []
        var pending: [(value: Value?, label: String, shape: Shape, bytes: Int, first: Int, last: Int, reuses: Value?, block: Int)] = []
        var blockOf: [Value: Int] = [:]
        var naive = 0

        func rounded(_ count: Int) -> Int { (count * MemoryLayout<Float>.stride + MemoryPlan.alignment - 1) / MemoryPlan.alignment * MemoryPlan.alignment }

        for index in 0..<end where needed[index] && !(nodes[index].op is Leaf) {
            let node = nodes[index]
            for (position, shape) in node.outputShapes.enumerated() {
                let value = Value(node: index, output: position)
                let bytes = rounded(shape.count)
                let last = pinnedValues.contains(value) ? end : (lastUse[value] ?? index)
                naive += bytes
                var reuses: Value?
                if options.inPlace, position == 0, let k = node.op.inPlaceInput, k < node.inputs.count {
                    let input = node.inputs[k]
                    if let block = blockOf[input], lastUse[input] == index, !pinnedValues.contains(input),
                        blocks[block].bytes == bytes, node.inputs.filter({ $0 == input }).count == 1
                    {
                        reuses = input
                        blockOf[value] = block
                        blocks[block].last = last
                    }
                }
                if reuses == nil {
                    blockOf[value] = blocks.count
                    blocks.append(Block(bytes: bytes, first: index, last: last))
                }
                pending.append((value, "\(node.scope) (\(node.op.name))", shape, bytes, index, last, reuses, blockOf[value]!))
            }
            if let scratch = scratchCount(node, graph) {
                let bytes = rounded(scratch)
                naive += bytes
                pending.append((nil, "\(node.scope) (\(node.op.name) scratch)", [scratch], bytes, index, index, nil, blocks.count))
                blocks.append(Block(bytes: bytes, first: index, last: index))
            }
        }
        // Two placements of the same lifetimes; the smaller arena wins.
        let placement = [placeInOrder(blocks), placeAhead(blocks, order: bySize)].min { $0.peak < $1.peak }!
        let buffers = pending.map {
            MemoryPlan.Buffer(
                value: $0.value, label: $0.label, shape: $0.shape, bytes: $0.bytes, offset: placement.offsets[$0.block], first: $0.first,
                last: $0.last, reuses: $0.reuses)
        }
        return MemoryPlan(buffers: buffers, arenaBytes: placement.peak, naiveBytes: naive)
    }

    /// Bytes of arena one or more values (an in-place chain) or a scratch occupy, from the node
    /// that first writes them to the last node that reads them.
    struct Block {
        var bytes: Int, first: Int, last: Int
    }

    /// Places blocks as a running program would allocate them: in node order, each in the
    /// smallest free range that fits (best fit), freed after its last reader.
    static func placeInOrder(_ blocks: [Block]) -> (offsets: [Int], peak: Int) {
        var allocator = BestFitAllocator()
        var offsets = [Int](repeating: 0, count: blocks.count)
        var live: [(id: Int, last: Int)] = []
        for (index, block) in blocks.enumerated() {
            for entry in live where entry.last < block.first { allocator.release(entry.id) }
            live.removeAll { $0.last < block.first }
            let id = allocator.allocate(block.bytes)
            offsets[index] = allocator.offset(of: id)
            live.append((id, block.last))
        }
        return (offsets, allocator.peak)
    }

    /// Largest first (earlier first among equals).
    static func bySize(_ blocks: [Block]) -> [Int] {
        blocks.indices.sorted { (blocks[$0].bytes, blocks[$1].first) > (blocks[$1].bytes, blocks[$0].first) }
    }

    /// Places blocks in the given order, knowing every lifetime in advance: each goes into the
    /// smallest gap left between the blocks already placed whose lifetimes overlap its own (best
    /// fit), or above them all. Placed largest first, big activations no longer fragment the arena
    /// by arriving late into holes that smaller values split earlier.
    static func placeAhead(_ blocks: [Block], order: ([Block]) -> [Int]) -> (offsets: [Int], peak: Int) {
        var offsets = [Int](repeating: 0, count: blocks.count)
        var placed: [Int] = []
        var peak = 0
        for index in order(blocks) {
            let block = blocks[index]
            let neighbours = placed.filter { blocks[$0].first <= block.last && block.first <= blocks[$0].last }
                .sorted { offsets[$0] < offsets[$1] }
            var end = 0
            var best: (offset: Int, gap: Int)?
            for other in neighbours {
                let gap = offsets[other] - end
                if gap >= block.bytes && (best == nil || gap < best!.gap) { best = (end, gap) }
                end = max(end, offsets[other] + blocks[other].bytes)
            }
            offsets[index] = best?.offset ?? end
            peak = max(peak, offsets[index] + block.bytes)
            placed.append(index)
        }
        return (offsets, peak)
    }


    /// Floats of scratch the node's fast kernel takes (convolutions), or nil.
    static func scratchCount(_ node: Node, _ graph: Graph) -> Int? {
        let shapes = node.inputs.map(graph.shape(of:))
        switch node.op {
        case let op as Operators.Conv3D:
            return conv3DScratchCount(input: shapes[0], weight: shapes[1], stride: op.stride, padding: op.padding, pass: .forward)
        case let op as FusedConvBatchNorm:
            // Plus the folded filter scale and bias.
            return conv3DScratchCount(input: shapes[0], weight: shapes[1], stride: op.stride, padding: op.padding, pass: .forward)
                + 2 * shapes[1][0]
        case let op as ConvBatchNormActivation:
            // It normalises in place over its output: only the convolution's scratch.
            return conv3DScratchCount(input: shapes[0], weight: shapes[1], stride: op.stride, padding: op.padding, pass: .forward)
        case is BatchNormActivationMaxPool:
            return BatchNormActivationMaxPool.scratchCount(input: shapes[0])
        case let op as Conv3DBackwardData:
            return conv3DScratchCount(input: op.inputShape, weight: shapes[1], stride: op.stride, padding: op.padding, pass: .backwardData)
        case let op as Conv3DBackwardFilter:
            return conv3DScratchCount(input: shapes[1], weight: op.weightShape, stride: op.stride, padding: op.padding, pass: .backwardFilter)
        default:
            return nil
        }
    }
}

/// Best-fit allocation of byte ranges in one growing arena, with coalescing of free neighbours.
struct BestFitAllocator {
    /// Free ranges, sorted by offset.
    private var free: [(offset: Int, bytes: Int)] = []
    private var blocks: [Int: (offset: Int, bytes: Int)] = [:]
    private var nextID = 0
    private(set) var top = 0
    private(set) var peak = 0

    mutating func allocate(_ bytes: Int) -> Int {
        var best: Int?
        for (index, range) in free.enumerated() where range.bytes >= bytes {
            if best == nil || range.bytes < free[best!].bytes { best = index }
        }
        let offset: Int
        if let best {
            offset = free[best].offset
            if free[best].bytes == bytes { free.remove(at: best) } else { free[best] = (offset + bytes, free[best].bytes - bytes) }
        } else if let lastFree = free.last, lastFree.offset + lastFree.bytes == top {
            // Grow the arena from the free range at its end.
            offset = lastFree.offset
            free.removeLast()
            top = offset + bytes
        } else {
            offset = top
            top += bytes
        }
        peak = max(peak, top)
        nextID += 1
        blocks[nextID] = (offset, bytes)
        return nextID
    }

    func offset(of block: Int) -> Int { blocks[block]!.offset }

    mutating func release(_ block: Int) {
        guard let range = blocks.removeValue(forKey: block) else { return }
        var index = free.firstIndex { $0.offset > range.offset } ?? free.count
        free.insert(range, at: index)
        if index + 1 < free.count, free[index].offset + free[index].bytes == free[index + 1].offset {
            free[index].bytes += free[index + 1].bytes
            free.remove(at: index + 1)
        }
        if index > 0, free[index - 1].offset + free[index - 1].bytes == free[index].offset {
            free[index - 1].bytes += free[index].bytes
            free.remove(at: index)
            index -= 1
        }
        // A free range at the top shrinks the arena's current extent (the peak stays).
        if let last = free.last, last.offset + last.bytes == top {
            top = last.offset
            free.removeLast()
        }
    }
}
