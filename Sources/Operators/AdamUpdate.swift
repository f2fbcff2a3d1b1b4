import GraphCore

/// One Adam step for one parameter, with PyTorch's `torch.optim.Adam` arithmetic (single-tensor
/// path; L2 weight decay added to the gradient, not AdamW). Inputs: parameter `p`, gradient `g`,
/// first moment `m`, second moment `v` (all one shape) and the step number `t` `[1]` (1 on the
/// first step). Outputs: the new `p`, `m`, `v`. Optimizer steps are not differentiated.
public struct AdamUpdate: ReferenceOperator {
    public let learningRate: Double
    public let beta1: Double
    public let beta2: Double
    public let epsilon: Double
    public let weightDecay: Double

    public init(learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public var name: String { "adam_update" }
    public var attributes: KeyValuePairs<String, String> {
        ["lr": "\(learningRate)", "betas": "\(beta1),\(beta2)", "eps": "\(epsilon)", "weight_decay": "\(weightDecay)"]
    }
    public func isDifferentiable(input index: Int) -> Bool { false }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 5...5, name)
        guard inputs[1] == inputs[0], inputs[2] == inputs[0], inputs[3] == inputs[0] else {
            throw ShapeError("\(name) needs parameter, gradient and moments of one shape, got \(inputs[0...3].map(\.description))")
        }
        guard inputs[4].count == 1 else { throw ShapeError("\(name) needs a one-element step counter, got \(inputs[4])") }
        return [inputs[0], inputs[0], inputs[0]]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] { context.inputs.map { _ in nil } }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        var p = inputs[0], m = inputs[2], v = inputs[3]
        let g = inputs[1].scalars
        let step = Double(inputs[4].scalars[0])
        // As PyTorch: the bias corrections in double precision, applied as scalars.
        let correction1 = 1 - Double.pow(beta1, step), correction2 = 1 - Double.pow(beta2, step)
        let stepSize = T(learningRate / correction1), correction2Root = T(correction2.squareRoot())
        let b1 = T(1 - beta1), b2 = T(beta2), oneMinusB2 = T(1 - beta2), eps = T(epsilon), decay = T(weightDecay)
        for i in p.scalars.indices {
            let gradient = weightDecay != 0 ? g[i] + decay * p.scalars[i] : g[i]
            m.scalars[i] += b1 * (gradient - m.scalars[i])  // torch.lerp with weight < 0.5
            v.scalars[i] = v.scalars[i] * b2 + oneMinusB2 * gradient * gradient
            let denominator = v.scalars[i].squareRoot() / correction2Root + eps
            p.scalars[i] -= stepSize * (m.scalars[i] / denominator)
        }
        return [p, m, v]
    }

    static let samples = [
        OperatorSample(
            "step 3, weight decay", AdamUpdate(learningRate: 1e-3, weightDecay: 0.01),
            [.uniform([4, 3]), .uniform([4, 3]), .uniform([4, 3], -0.1...0.1), .positive([4, 3]), .fixed([1], [3])])
    ]
}

extension AdamUpdate: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let p = inputs[0].baseAddress!, g = inputs[1].baseAddress!, m = inputs[2].baseAddress!, v = inputs[3].baseAddress!
        let pOut = outputs[0].baseAddress!, mOut = outputs[1].baseAddress!, vOut = outputs[2].baseAddress!
        let step = Double(inputs[4][0])
        // The reference's arithmetic, operation for operation.
        let correction1 = 1 - Double.pow(beta1, step), correction2 = 1 - Double.pow(beta2, step)
        let stepSize = Float(learningRate / correction1), correction2Root = Float(correction2.squareRoot())
        let b1 = Float(1 - beta1), b2 = Float(beta2), oneMinusB2 = Float(1 - beta2), eps = Float(epsilon), decay = Float(weightDecay)
        for i in 0..<inputs[0].count {
            let gradient = weightDecay != 0 ? g[i] + decay * p[i] : g[i]
            let mi = m[i] + b1 * (gradient - m[i])
            let vi = v[i] * b2 + oneMinusB2 * gradient * gradient
            let denominator = vi.squareRoot() / correction2Root + eps
            mOut[i] = mi
            vOut[i] = vi
            pOut[i] = p[i] - stepSize * (mi / denominator)
        }
    }
}
