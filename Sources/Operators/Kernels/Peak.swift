import Dispatch
import Foundation

/// Measures the machine's single-precision FMA peak in GFLOP/s (2 flops per lane per FMA) with
/// `threads` threads: 12 independent SIMD8 accumulators per thread hide the FMA latency.
public func measureFMAPeak(threads: Int, seconds: Double = 0.3) -> Double {
    let iterations = 2_000_000
    @Sendable func kernel(_ seed: Float) -> Float {
        var a0 = SIMD8<Float>(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5
        var a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11
        let x = SIMD8<Float>(repeating: 0.999999), y = SIMD8<Float>(repeating: 1e-7)
        for _ in 0..<iterations {
            a0 = a0.addingProduct(x, y); a1 = a1.addingProduct(x, y); a2 = a2.addingProduct(x, y)
            a3 = a3.addingProduct(x, y); a4 = a4.addingProduct(x, y); a5 = a5.addingProduct(x, y)
            a6 = a6.addingProduct(x, y); a7 = a7.addingProduct(x, y); a8 = a8.addingProduct(x, y)
            a9 = a9.addingProduct(x, y); a10 = a10.addingProduct(x, y); a11 = a11.addingProduct(x, y)
        }
        let sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
        return sum.sum()
    }
    let flopsPerCall = Double(iterations) * 12 * 8 * 2
    var best = 0.0
    let deadline = Date().addingTimeInterval(seconds)
    repeat {
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: threads) { index in
            let result = kernel(Float(index))
            if result == .infinity { print(result) }  // keeps the loop alive
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        best = max(best, flopsPerCall * Double(threads) / elapsed / 1e9)
    } while Date() < deadline
    return best
}
