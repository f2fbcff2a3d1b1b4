import Dispatch
import CBLAS
import GraphCore

/// Matrix product of 2D tensors with optional transposes: `op(a) · op(b)`.
/// A dense layer is `matmul(x [N, F], w [O, F], transposeB: true)` → `[N, O]`.
public struct MatMul: ReferenceOperator {
    public let transposeA: Bool
    public let transposeB: Bool
    public init(transposeA: Bool = false, transposeB: Bool = false) {
        self.transposeA = transposeA
        self.transposeB = transposeB
    }

    public var name: String { "matmul" }
    public var attributes: KeyValuePairs<String, String> { ["transpose_a": "\(transposeA)", "transpose_b": "\(transposeB)"] }

    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 2...2, name)
        let a = inputs[0], b = inputs[1]
        guard a.rank == 2, b.rank == 2 else { throw ShapeError("matmul expects 2D operands, got \(a) and \(b)") }
        let (m, ka) = transposeA ? (a[1], a[0]) : (a[0], a[1])
        let (kb, n) = transposeB ? (b[1], b[0]) : (b[0], b[1])
        guard ka == kb else {
            throw ShapeError(transposeB && !transposeA
                ? "expected \(kb) input features, got \(ka)"
                : "matmul inner sizes differ: \(ka) vs \(kb)")
        }
        return [[m, n]]
    }

    /// For C = op(A)·op(B): dA = dC·op(B)ᵀ (transposed back if A was), dB likewise.
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let g = context.gradient, a = context.inputs[0], b = context.inputs[1]
        let da: Value? =
            context.needsGradient[0]
            ? (transposeA
                ? try context.apply(MatMul(transposeA: transposeB, transposeB: true), b, g)
                : try context.apply(MatMul(transposeA: false, transposeB: !transposeB), g, b)) : nil
        let db: Value? =
            context.needsGradient[1]
            ? (transposeB
                ? try context.apply(MatMul(transposeA: true, transposeB: transposeA), g, a)
                : try context.apply(MatMul(transposeA: !transposeA, transposeB: false), a, g)) : nil
        return [da, db]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let a = inputs[0], b = inputs[1]
        let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let n = transposeB ? b.shape[0] : b.shape[1]
        // Strides of op(A)[i, p] and op(B)[p, j] in the stored layouts.
        let (ai, ap) = transposeA ? (1, m) : (k, 1)
        let (bp, bj) = transposeB ? (1, k) : (n, 1)
        var c = [T](repeating: 0, count: m * n)
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                for i in 0..<m {
                    for p in 0..<k {
                        let scale = pa[i * ai + p * ap]
                        if scale == 0 { continue }
                        for j in 0..<n { c[i * n + j] += scale * pb[p * bp + j * bj] }
                    }
                }
            }
        }
        return [Tensor(shape: [m, n], scalars: c)]
    }

    /// Fast `Float` kernel: one sgemm (OpenBLAS's threads); `reference` is the plain-loop kernel.
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }

    static let samples: [OperatorSample] = [(false, false), (false, true), (true, false), (true, true)].map { ta, tb in
        OperatorSample(
            "ta \(ta) tb \(tb)", MatMul(transposeA: ta, transposeB: tb),
            [.uniform(ta ? [4, 3] : [3, 4]), .uniform(tb ? [5, 4] : [4, 5])])
    }
}

extension MatMul: BufferEvaluable {
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let a = inputShapes[0], b = inputShapes[1]
        let (m, k) = transposeA ? (a[1], a[0]) : (a[0], a[1])
        let n = transposeB ? b[0] : b[1]
        let x = SendableConstPointer(inputs[0].baseAddress!), w = SendableConstPointer(inputs[1].baseAddress!)
        let y = SendablePointer(outputs[0].baseAddress!)
        /// Columns `columns` of the product, with whatever threads OpenBLAS runs.
        @Sendable func product(_ columns: Range<Int>) {
            // Column j of B: row j of a transposed B, else column j.
            let bColumns = w.base + columns.lowerBound * (transposeB ? b[1] : 1)
            cblas_sgemm(
                CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(columns.count), Int32(k), 1, x.base, Int32(a[1]), bColumns, Int32(b[1]),
                0, y.base + columns.lowerBound, Int32(n))
        }
        // A few rows against a large weight matrix (a dense layer at batch 1–8) is a matter of
        // reading the weights: OpenBLAS's threads left one core idle there (classifier.0 at batch 1,
        // 128 MiB of weights: 18.6 ms); each core now reads half of them.
        let workers = KernelThreads.count
        if workers > 1 && m <= 8 && n >= 2 * workers && n * k >= 1 << 20 {
            BLASThreads.singleThreaded {
                DispatchQueue.concurrentPerform(iterations: workers) { part in product((n * part / workers)..<(n * (part + 1) / workers)) }
            }
        } else {
            BLASThreads.shared { product(0..<n) }
        }
    }
}
