/// The temporary arrays of one kernel call (packed weights, column tiles, per-worker
/// accumulators), carved in order from the scratch the memory planner reserved for the node, so a
/// compiled program allocates nothing per step. Without planned scratch (the interpreter), or
/// when it is smaller than the call needs (the thread count changed after planning), one
/// allocation is made for the call instead. Every part starts on a 64-byte boundary.
struct Scratch {
    private var next: UnsafeMutablePointer<Float>

    /// `count` floats rounded up to whole 64-byte lines.
    static func rounded(_ count: Int) -> Int { (max(count, 0) + 15) / 16 * 16 }

    /// Floats that parts of these sizes take together.
    static func floats(_ parts: [Int]) -> Int { parts.reduce(0) { $0 + rounded($1) } }

    /// The next `count` floats (contents undefined).
    mutating func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let part = next
        next += Scratch.rounded(count)
        return part
    }

    /// Runs `body` with `floats` floats of scratch: `given` when it is large enough, else fresh memory.
    static func with<R>(_ given: UnsafeMutableBufferPointer<Float>?, floats: Int, _ body: (inout Scratch) -> R) -> R {
        if let given, given.count >= floats, let base = given.baseAddress {
            var scratch = Scratch(next: base)
            return body(&scratch)
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(floats, 1) * MemoryLayout<Float>.stride, alignment: 64)
        defer { raw.deallocate() }
        var scratch = Scratch(next: raw.bindMemory(to: Float.self, capacity: max(floats, 1)))
        return body(&scratch)
    }
}

/// The three passes of a convolution, whose kernels need different scratch.
public enum ConvPass: Sendable {
    case forward, backwardData, backwardFilter
}
