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

        var allocator = BestFitAllocator()
        var buffers: [MemoryPlan.Buffer] = []
        /// Live allocations: block id → node index after which the block is free.
        var live: [Int: Int] = [:]
        var blockOf: [Value: Int] = [:]
        var blockOffset: [Int: (offset: Int, bytes: Int)] = [:]
        var naive = 0

        func rounded(_ count: Int) -> Int { (count * MemoryLayout<Float>.stride + MemoryPlan.alignment - 1) / MemoryPlan.alignment * MemoryPlan.alignment }

        for index in 0..<end where needed[index] && !(nodes[index].op is Leaf) {
            // Free blocks whose last reader ran before this node.
            for (block, last) in live where last < index {
                allocator.release(block)
                live[block] = nil
            }
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
                        blockOffset[block]!.bytes == bytes, node.inputs.filter({ $0 == input }).count == 1
                    {
                        reuses = input
                        blockOf[value] = block
                        live[block] = last
                    }
                }
                if reuses == nil {
                    let block = allocator.allocate(bytes)
                    blockOf[value] = block
                    blockOffset[block] = (allocator.offset(of: block), bytes)
                    live[block] = last
                }
                let block = blockOf[value]!
                buffers.append(
                    MemoryPlan.Buffer(
                        value: value, label: "\(node.scope) (\(node.op.name))", shape: shape, bytes: bytes,
                        offset: blockOffset[block]!.offset, first: index, last: last, reuses: reuses))
            }
            if let scratch = scratchCount(node, graph) {
                let bytes = rounded(scratch)
                let block = allocator.allocate(bytes)
                blockOffset[block] = (allocator.offset(of: block), bytes)
                live[block] = index
                naive += bytes
                buffers.append(
                    MemoryPlan.Buffer(
                        value: nil, label: "\(node.scope) (\(node.op.name) scratch)", shape: [scratch], bytes: bytes,
                        offset: blockOffset[block]!.offset, first: index, last: index, reuses: nil))
            }
        }
        return MemoryPlan(buffers: buffers, arenaBytes: allocator.peak, naiveBytes: naive)
    }

    /// Floats of scratch the node's fast kernel takes (convolutions), or nil.
    static func scratchCount(_ node: Node, _ graph: Graph) -> Int? {
        let shapes = node.inputs.map(graph.shape(of:))
        switch node.op {
        case let op as Operators.Conv3D:
            return conv3DScratchCount(input: shapes[0], weight: shapes[1], stride: op.stride, padding: op.padding)
        case let op as FusedConvBatchNorm:
            // Plus the folded weights and bias.
            return conv3DScratchCount(input: shapes[0], weight: shapes[1], stride: op.stride, padding: op.padding) + shapes[1].count
                + shapes[1][0]
        case let op as Conv3DBackwardData:
            return conv3DScratchCount(input: op.inputShape, weight: shapes[1], stride: op.stride, padding: op.padding)
        case let op as Conv3DBackwardFilter:
            return conv3DScratchCount(input: shapes[1], weight: op.weightShape, stride: op.stride, padding: op.padding)
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
