import GraphCore

/// One SGD step with momentum for one parameter, as PyTorch's `torch.optim.SGD` (dampening 0):
/// the momentum buffer starts as the first gradient; Nesterov optional; L2 weight decay added to
/// the gradient. Inputs: `p`, `g`, momentum buffer `b` (one shape) and the step number `t` `[1]`.
/// Outputs: the new `p` and `b`.
public struct SGDUpdate: ReferenceOperator {
    public let learningRate: Double
    public let momentum: Double
    public let nesterov: Bool
    public let weightDecay: Double

    public init(learningRate: Double, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public var name: String { "sgd_update" }
    public var attributes: KeyValuePairs<String, String> {
        ["lr": "\(learningRate)", "momentum": "\(momentum)", "nesterov": "\(nesterov)", "weight_decay": "\(weightDecay)"]
    }
    public func isDifferentiable(input index: Int) -> Bool { false }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 4...4, name)
        guard inputs[1] == inputs[0], inputs[2] == inputs[0] else {
            throw ShapeError("\(name) needs parameter, gradient and momentum buffer of one shape, got \(inputs[0...2].map(\.description))")
        }
        guard inputs[3].count == 1 else { throw ShapeError("\(name) needs a one-element step counter, got \(inputs[3])") }
        return [inputs[0], inputs[0]]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] { context.inputs.map { _ in nil } }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        var p = inputs[0], buffer = inputs[2]
        let g = inputs[1].scalars, first = inputs[3].scalars[0] <= 1
        let lr = T(learningRate), mu = T(momentum), decay = T(weightDecay)
        for i in p.scalars.indices {
            var direction = weightDecay != 0 ? g[i] + decay * p.scalars[i] : g[i]
            if momentum != 0 {
                buffer.scalars[i] = first ? direction : buffer.scalars[i] * mu + direction
                direction = nesterov ? direction + mu * buffer.scalars[i] : buffer.scalars[i]
            }
            p.scalars[i] -= lr * direction
        }
        return [p, buffer]
    }

    static let samples = [
        OperatorSample(
            "momentum, step 2", SGDUpdate(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4),
            [.uniform([3, 4]), .uniform([3, 4]), .uniform([3, 4]), .fixed([1], [2])]),
        OperatorSample(
            "nesterov, first step", SGDUpdate(learningRate: 0.1, momentum: 0.9, nesterov: true),
            [.uniform([5]), .uniform([5]), .uniform([5]), .fixed([1], [1])]),
    ]
}

extension SGDUpdate: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let p = inputs[0].baseAddress!, g = inputs[1].baseAddress!, b = inputs[2].baseAddress!
        let pOut = outputs[0].baseAddress!, bOut = outputs[1].baseAddress!
        let first = inputs[3][0] <= 1
        let lr = Float(learningRate), mu = Float(momentum), decay = Float(weightDecay)
        // The reference's arithmetic, operation for operation.
        for i in 0..<inputs[0].count {
            var direction = weightDecay != 0 ? g[i] + decay * p[i] : g[i]
            if momentum != 0 {
                let buffer = first ? direction : b[i] * mu + direction
                bOut[i] = buffer
                direction = nesterov ? direction + mu * buffer : buffer
            } else {
                bOut[i] = b[i]
            }
            pOut[i] = p[i] - lr * direction
        }
    }
}
