import CBLAS
import Foundation

/// OpenBLAS's thread count is process-wide, and an sgemm's last bits depend on how many threads
/// split it. Kernels that run their own workers set it to 1 for the duration (`exclusive`); every
/// other sgemm runs `shared`, so it never sees a count another thread changed mid-call and results
/// do not depend on what runs concurrently (tests, several trainers in one process).
enum BLASThreads {
    /// The OpenBLAS kernel set in use ("SkylakeX", "Haswell", "Zen"…), chosen again once, before any
    /// sgemm, where OpenBLAS fell back to kernels older than the CPU (`emotion3d_openblas_select_core`).
    static let core = String(cString: emotion3d_openblas_select_core())

    nonisolated(unsafe) private static let lock: UnsafeMutablePointer<pthread_rwlock_t> = {
        _ = core  // every sgemm takes this lock first
        let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        pthread_rwlock_init(lock, nil)
        return lock
    }()

    /// Runs `body`, whose sgemm calls use OpenBLAS's configured threads.
    static func shared<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Sets OpenBLAS's thread count for every later sgemm, waiting for running ones to finish.
    static func setCount(_ threads: Int) {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        openblas_set_num_threads(Int32(threads))
    }

    /// Runs `body` with OpenBLAS at one thread (the caller runs its own workers), then restores it.
    static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        let threads = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(threads) }
        return try body()
    }
}
