import Dispatch

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
    if count > 1 && work >= 1_000_000 {
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    } else {
        for index in 0..<count { body(index) }
    }
}

/// Runs `body(range)` over `0..<count` cut into one contiguous range per core when `work` (element
/// operations in all) is coarse enough, else over the whole range: few, large chunks.
func parallelRanges(_ count: Int, work: Int, _ body: @Sendable (Range<Int>) -> Void) {
    let workers = 2
    if count > 1 && work >= 200_000 {
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            body((count * worker / workers)..<(count * (worker + 1) / workers))
        }
    } else {
        body(0..<count)
    }
}
