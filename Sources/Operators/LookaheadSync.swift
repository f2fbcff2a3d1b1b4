import GraphCore

/// Lookahead's synchronisation (Zhang et al. 2019) after an inner optimizer step: every `k`-th
/// step the slow weights move `alpha` of the way to the fast ones and the fast weights are reset
/// to them; otherwise both pass through. Inputs: fast weights, slow weights (one shape) and the
/// step number `t` `[1]`. Outputs: the new fast and slow weights.
public struct LookaheadSync: ReferenceOperator {
    public let k: Int
    public let alpha: Double
    public init(k: Int = 5, alpha: Double = 0.5) {
        self.k = k
        self.alpha = alpha
    }

    public var name: String { "lookahead_sync" }
    public var attributes: KeyValuePairs<String, String> { ["k": "\(k)", "alpha": "\(alpha)"] }
    public func isDifferentiable(input index: Int) -> Bool { false }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 3...3, name)
        guard inputs[1] == inputs[0] else { throw ShapeError("\(name) needs fast and slow weights of one shape, got \(inputs[0]) and \(inputs[1])") }
        guard inputs[2].count == 1 else { throw ShapeError("\(name) needs a one-element step counter, got \(inputs[2])") }
        guard k >= 1, alpha >= 0, alpha <= 1 else { throw ShapeError("\(name) needs k ≥ 1 and alpha in [0, 1], got k \(k), alpha \(alpha)") }
        return [inputs[0], inputs[0]]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] { context.inputs.map { _ in nil } }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let step = Int(inputs[2].scalars[0].rounded())
        guard step % k == 0 else { return [inputs[0], inputs[1]] }
        var slow = inputs[1]
        let a = T(alpha)
        for i in slow.scalars.indices { slow.scalars[i] += a * (inputs[0].scalars[i] - slow.scalars[i]) }
        return [slow, slow]
    }

    static let samples = [
        OperatorSample("sync step", LookaheadSync(k: 5, alpha: 0.5), [.uniform([2, 3]), .uniform([2, 3]), .fixed([1], [10])]),
        OperatorSample("between syncs", LookaheadSync(k: 5, alpha: 0.5), [.uniform([2, 3]), .uniform([2, 3]), .fixed([1], [7])]),
    ]
}

extension LookaheadSync: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let fast = inputs[0].baseAddress!, slow = inputs[1].baseAddress!, count = inputs[0].count
        let fastOut = outputs[0].baseAddress!, slowOut = outputs[1].baseAddress!
        guard Int(inputs[2][0].rounded()) % k == 0 else {
            fastOut.update(from: fast, count: count)
            slowOut.update(from: slow, count: count)
            return
        }
        // The reference's arithmetic: slow + alpha (fast − slow), into both outputs.
        let a = Float(alpha)
        for i in 0..<count {
            let synced = slow[i] + a * (fast[i] - slow[i])
            slowOut[i] = synced
            fastOut[i] = synced
        }
    }
}
