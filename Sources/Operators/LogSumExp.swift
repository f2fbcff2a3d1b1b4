import GraphCore

/// `log Σₖ exp(x[n, k])` per row of `[N, K]` → `[N]`, computed stably (max subtracted).
/// Log-softmax is `x − broadcast(logsumexp(x))`.
public struct LogSumExp: ReferenceOperator {
    public init() {}
    public var name: String { "logsumexp" }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        guard inputs[0].rank == 2 else { throw ShapeError("logsumexp expects [N, K], got \(inputs[0])") }
        return [[inputs[0][0]]]
    }
    /// dx = broadcast(g) · softmax(x), softmax(x) = exp(x − broadcast(lse)).
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let x = context.inputs[0], shape = context.shape(x)
        let negative = try context.apply(BroadcastAxis(axis: 0, shape: shape, scale: -1), context.outputs[0])
        let softmax = try context.apply(Exp(), try context.apply(Add(), x, negative))
        let spread = try context.apply(BroadcastAxis(axis: 0, shape: shape), context.gradient)
        return [try context.apply(Multiply(), spread, softmax)]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let x = inputs[0], rows = x.shape[0], columns = x.shape[1]
        var result = [T](repeating: 0, count: rows)
        for n in 0..<rows {
            let row = x.scalars[(n * columns)..<((n + 1) * columns)]
            let top = row.max() ?? 0
            let sum = row.reduce(T(0)) { $0 + T.exp($1 - top) }
            result[n] = top + T.log(sum)
        }
        return [Tensor(shape: [rows], scalars: result)]
    }

    static let samples = [OperatorSample("3x7", LogSumExp(), [.uniform([3, 7], -3...3)])]
}

extension LogSumExp: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let rows = inputShapes[0][0], columns = inputShapes[0][1], x = inputs[0].baseAddress!
        for n in 0..<rows {
            let row = x + n * columns
            // The reference's order: the first maximum, then the sum from the left.
            var top: Float = columns > 0 ? row[0] : 0
            for k in 0..<columns where top < row[k] { top = row[k] }
            var sum: Float = 0
            for k in 0..<columns { sum = sum + Float.exp(row[k] - top) }
            outputs[0][n] = top + Float.log(sum)
        }
    }
}
