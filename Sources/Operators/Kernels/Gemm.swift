import CBLAS
import Dispatch

/// A read-only matrix: element (r, c) at `base[r * rowStride + c * columnStride]`, one of the two
/// strides 1, so a transposed operand is the same memory with the strides swapped.
struct MatrixView: @unchecked Sendable {
    let base: UnsafePointer<Float>
    let rowStride: Int, columnStride: Int

    /// A row-major matrix whose rows are `rowStride` floats apart.
    init(_ base: UnsafePointer<Float>, rowStride: Int) {
        self.init(base, rowStride: rowStride, columnStride: 1)
    }

    private init(_ base: UnsafePointer<Float>, rowStride: Int, columnStride: Int) {
        self.base = base
        self.rowStride = rowStride
        self.columnStride = columnStride
    }

    /// The transpose of a row-major matrix whose rows are `rowStride` floats apart.
    static func transposed(_ base: UnsafePointer<Float>, rowStride: Int) -> MatrixView {
        MatrixView(base, rowStride: 1, columnStride: rowStride)
    }

    /// The rows from `first` on.
    func dropping(rows first: Int) -> MatrixView {
        MatrixView(base + first * rowStride, rowStride: rowStride, columnStride: columnStride)
    }

    /// cblas's view of this operand: transposed or not, and its leading dimension.
    fileprivate var blas: (transpose: CBLAS_TRANSPOSE, leading: Int32) {
        columnStride == 1 ? (CblasNoTrans, Int32(rowStride)) : (CblasTrans, Int32(columnStride))
    }
}

/// Single-precision matrix products for the kernels, on OpenBLAS's single-threaded sgemm.
enum Gemm {
    /// `C (+)= A · B` (`A` m × k, `B` k × n, `C` row-major with `ldc` floats between rows) in the
    /// calling thread, whatever OpenBLAS's thread count.
    static func multiply(
        m: Int, n: Int, k: Int, _ a: MatrixView, _ b: MatrixView, _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        guard m > 0 && n > 0 else { return }
        guard k > 0 else {
            // An empty sum (OpenBLAS leaves C as it was even when told to overwrite it).
            if !accumulate { for r in 0..<m { (c + r * ldc).update(repeating: 0, count: n) } }
            return
        }
        cblas_sgemm(
            CblasRowMajor, a.blas.transpose, b.blas.transpose, Int32(m), Int32(n), Int32(k), 1, a.base, a.blas.leading, b.base,
            b.blas.leading, accumulate ? 1 : 0, c, Int32(ldc))
    }

    /// `C (+)= A · B` split by rows of C into one coarse part per worker, each a single-threaded
    /// sgemm. OpenBLAS must run at one thread meanwhile (`BLASThreads.singleThreaded`): its own
    /// threads split small-plane products poorly (36 % of the FMA peak on the 7×7 layers, where
    /// one thread per half reaches 80 %), and one level of parallelism at a time is faster.
    static func multiply(
        m: Int, n: Int, k: Int, _ a: MatrixView, _ b: MatrixView, _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        workers: Int
    ) {
        let blocks = (m + rowBlock - 1) / rowBlock
        let parts = max(1, min(workers, m / minimumRows, blocks))
        if parts == 1 { return multiply(m: m, n: n, k: k, a, b, c, ldc: ldc, accumulate: accumulate) }
        let target = SendablePointer(c)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let first = min(m, blocks * part / parts * rowBlock), last = min(m, blocks * (part + 1) / parts * rowBlock)
            multiply(
                m: last - first, n: n, k: k, a.dropping(rows: first), b, target.base + first * ldc, ldc: ldc, accumulate: accumulate)
        }
    }

    /// Rows of C a part takes at least, so each part's sgemm still runs at speed.
    static let minimumRows = 32
    /// Parts start on multiples of OpenBLAS's register-tile height. (Their last bits may still
    /// differ from one whole product's, as with OpenBLAS's own threads: K=513 showed it.)
    static let rowBlock = 16
}
