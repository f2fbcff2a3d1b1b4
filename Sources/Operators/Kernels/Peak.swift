import CKernels
import Dispatch
import Foundation

/// Lanes of the widest single-precision FMA this CPU runs (16 with AVX-512F, 8 with AVX2 + FMA):
/// the peak is measured at this width, whatever width the project's own kernels use (8).
public let fmaPeakLanes = Int(emotion3d_fma_lanes())

/// Measures the machine's single-precision FMA peak in GFLOP/s (2 flops per lane per FMA) with
/// `threads` threads: 12 independent FMAs of the widest vectors per iteration and thread.
public func measureFMAPeak(threads: Int, seconds: Double = 0.3) -> Double {
    let iterations = 2_000_000, lanes = max(fmaPeakLanes, 8)
    let flopsPerCall = Double(iterations) * 12 * Double(lanes) * 2
    var best = 0.0
    let deadline = Date().addingTimeInterval(seconds)
    repeat {
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: threads) { index in
            let result = emotion3d_fma_loop(iterations, Float(index), Int32(lanes))
            if result == .infinity { print(result) }  // keeps the loop alive
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        best = max(best, flopsPerCall * Double(threads) / elapsed / 1e9)
    } while Date() < deadline
    return best
}
