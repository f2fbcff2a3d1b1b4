import GraphCore
import Testing

@testable import Operators

/// The kernels' matrix product against the textbook triple loop: transposed operands as strides,
/// accumulation, and the split by rows over workers.
@Suite("Gemm matches the triple loop")
struct GemmTests {
    /// (m, n, k): one row or column, an empty sum, rows that do not split evenly.
    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (7, 17, 3), (5, 15, 0), (65, 33, 300), (97, 40, 513), (129, 49, 129)]

    @Test(arguments: 0..<shapes.count, [false, true])
    func matches(_ index: Int, transposed: Bool) {
        let (m, n, k) = GemmTests.shapes[index]
        var generator = SeededGenerator(seed: UInt64(index * 2 + (transposed ? 1 : 0)))
        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &generator) }
        let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &generator) }
        let start = (0..<(m * n)).map { _ in Float.random(in: -1...1, using: &generator) }
        // A is [m, k] row-major, or stored as its transpose [k, m]; B is [k, n], or stored as [n, k].
        func aAt(_ r: Int, _ p: Int) -> Float { transposed ? a[p * m + r] : a[r * k + p] }
        func bAt(_ p: Int, _ q: Int) -> Float { transposed ? b[q * k + p] : b[p * n + q] }
        var expected = [Float](repeating: 0, count: m * n)
        for r in 0..<m {
            for q in 0..<n {
                var sum: Double = 0
                for p in 0..<k { sum += Double(aAt(r, p)) * Double(bAt(p, q)) }
                expected[r * n + q] = Float(sum)
            }
        }
        for workers in [1, 2] {
            for accumulate in [false, true] {
                var c = start
                // One spare element keeps the buffers non-empty when k is 0.
                (a + [0]).withUnsafeBufferPointer { ap in
                    (b + [0]).withUnsafeBufferPointer { bp in
                        let av = transposed ? MatrixView.transposed(ap.baseAddress!, rowStride: m) : MatrixView(ap.baseAddress!, rowStride: k)
                        let bv = transposed ? MatrixView.transposed(bp.baseAddress!, rowStride: k) : MatrixView(bp.baseAddress!, rowStride: n)
                        c.withUnsafeMutableBufferPointer { cp in
                            BLASThreads.singleThreaded {
                                Gemm.multiply(m: m, n: n, k: k, av, bv, cp.baseAddress!, ldc: n, accumulate: accumulate, workers: workers)
                            }
                        }
                    }
                }
                var worst: Float = 0
                for i in 0..<(m * n) {
                    let want = expected[i] + (accumulate ? start[i] : 0)
                    worst = max(worst, abs(c[i] - want) / max(1, abs(want)))
                }
                #expect(worst < 1e-5 * Float(k).squareRoot() + 1e-6, "m \(m) n \(n) k \(k) workers \(workers) accumulate \(accumulate)")
            }
        }
    }
}

/// OpenBLAS 0.3.21 runs its SSE3 "Prescott" kernels on CPUs it does not know (seen on an AVX-512
/// Xeon: sgemm 10× slower); the kernels must run with the CPU's vector units instead.
@Test("OpenBLAS runs kernels for this CPU's vector units")
func openBLASCoreMatchesTheCPU() throws {
    let legacy: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge"]
    let flags = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).split(separator: "\n")
        .first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? []
    let core = KernelThreads.blasCore
    #expect(!core.isEmpty)
    if flags.contains("avx2") && flags.contains("fma") {
        #expect(!legacy.contains(core), "OpenBLAS kernels \(core) on a CPU with AVX2 + FMA")
    }
}
