import CBLAS
import Dispatch
import Foundation
import Synchronization

/// How many threads the kernels use: one per core (at most 2) by default. `EMOTION3D_THREADS=1`, or
/// `KernelThreads.set(1)` early in a process, makes the process single-threaded, OpenBLAS included:
/// several processes (one cross-validation fold or search trial each) then share the cores without
/// nesting threads, which on small networks is faster than splitting every small operation.
public enum KernelThreads {
    /// Cores used at most (the kernels split work in two).
    public static let cores = min(2, max(1, ProcessInfo.processInfo.activeProcessorCount))

    nonisolated(unsafe) public private(set) static var count: Int = {
        guard let text = ProcessInfo.processInfo.environment["EMOTION3D_THREADS"], let value = Int(text), value >= 1 else { return cores }
        if value == 1 { BLASThreads.setCount(1) }
        return min(value, cores)
    }()

    /// OpenBLAS's kernel set (its core name), after Emotion3D's correction of a fallback.
    public static var blasCore: String { BLASThreads.core }

    /// Sets the count for this process (call it before running graphs). OpenBLAS's count changes
    /// only once no sgemm is running (`BLASThreads.setCount`).
    public static func set(_ threads: Int) {
        count = min(cores, max(1, threads))
        BLASThreads.setCount(count)
    }
}

/// A raw pointer that may cross into `concurrentPerform` (each task writes a disjoint part).
struct SendablePointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

struct SendableConstPointer<T>: @unchecked Sendable {
    let base: UnsafePointer<T>
    init(_ base: UnsafePointer<T>) { self.base = base }
}

/// Runs `body(i)` for `i in 0..<count`, on both cores when the work is coarse enough to pay for it
/// (`work` estimates multiply-adds in all; below ~1e6 the split costs more than it saves).
func parallelFor(_ count: Int, work: Int, _ body: @Sendable (Int) -> Void) {
    if count > 1 && work >= 1_000_000 && KernelThreads.count > 1 {
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    } else {
        for index in 0..<count { body(index) }
    }
}

/// Runs `body(range)` over `0..<count` on both cores (`claimRanges`) when `work` (element
/// operations in all) is coarse enough, else over the whole range: few, large chunks.
func parallelRanges(_ count: Int, work: Int, _ body: @Sendable (Range<Int>) -> Void) {
    let workers = KernelThreads.count
    if count > 1 && work >= 200_000 && workers > 1 {
        claimRanges(count, workers: workers) { _, range in body(range) }
    } else {
        body(0..<count)
    }
}

/// Runs `body(worker, range)` over `0..<count`: each of at most `workers` workers takes the next
/// range of about a sixteenth of the items until none is left, so a core slowed by another
/// process takes fewer. On this shared machine one core often ran 40 % slower than the other for
/// seconds (the same single-threaded kernel pinned to each, side by side: 47 against 33 ms), and
/// with fixed halves every parallel step waited for the slow one. For work whose items write
/// disjoint outputs, with worker scratch that holds nothing from one item to the next: which
/// worker runs an item must not change the result (sums go per fixed group of items, not per worker).
func claimRanges(_ count: Int, workers: Int, _ body: @Sendable (Int, Range<Int>) -> Void) {
    let parts = min(workers, count)
    if parts <= 1 { return body(0, 0..<count) }
    let grain = max(1, count / (8 * parts)), next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: parts) { worker in
        while true {
            let first = next.wrappingAdd(grain, ordering: .relaxed).oldValue
            guard first < count else { return }
            body(worker, first..<min(count, first + grain))
        }
    }
}
