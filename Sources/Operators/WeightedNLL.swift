import GraphCore

/// Negative log-likelihood with optional class weights, PyTorch's weighted mean:
/// `−Σₙ w[yₙ] · logp[n, yₙ] / Σₙ w[yₙ]`. Inputs: `logp [N, K]`, `labels [N]` (class indices
/// stored as floats, validated by the caller), optionally `weights [K]`. Output: a scalar `[]`.
/// Softmax cross-entropy is this applied to log-softmax.
public struct WeightedNLL: ReferenceOperator {
    public init() {}
    public var name: String { "weighted_nll" }
    public func isDifferentiable(input index: Int) -> Bool { index == 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try nllShapes(inputs, name)
        return [[]]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let classes = context.shape(context.inputs[0])[1]
        let rest = Array(context.inputs.dropFirst())
        let gradient = try context.graph.apply(
            WeightedNLLBackward(classes: classes), [context.gradient] + rest, scope: context.graph.nodes[context.node].scope + "/grad")[0]
        return [gradient] + rest.map { _ in nil }
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let logp = inputs[0], classes = logp.shape[1]
        let coefficients = nllCoefficients(inputs[1], inputs.count == 3 ? inputs[2] : nil)
        var loss: T = 0
        for (n, (label, c)) in coefficients.enumerated() { loss -= c * logp.scalars[n * classes + label] }
        return [Tensor(shape: [], scalars: [loss])]
    }

    static let samples = [
        OperatorSample("plain", WeightedNLL(), [.uniform([5, 4]), .labels([5], classes: 4)]),
        OperatorSample("class weights", WeightedNLL(), [.uniform([6, 3]), .labels([6], classes: 3), .positive([3])]),
    ]
}

/// Backward-only: `g` (a scalar) times the NLL's constant Jacobian, `[N, K]` with
/// `−g · w[yₙ] / Σ w` at `(n, yₙ)` and 0 elsewhere. Linear in `g`.
public struct WeightedNLLBackward: ReferenceOperator {
    public let classes: Int
    public init(classes: Int) { self.classes = classes }

    public var name: String { "weighted_nll_backward" }
    public var attributes: KeyValuePairs<String, String> { ["classes": "\(classes)"] }
    public func isDifferentiable(input index: Int) -> Bool { index == 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        guard inputs.count >= 2, inputs[0].count == 1 else { throw ShapeError("\(name) expects a scalar gradient and labels") }
        try nllShapes([[inputs[1].dims.first ?? 0, classes]] + inputs.dropFirst(), name)
        return [[inputs[1][0], classes]]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let rest = Array(context.inputs.dropFirst())
        let nll = try context.graph.apply(WeightedNLL(), [context.gradient] + rest, scope: context.graph.nodes[context.node].scope + "/grad")[0]
        let reshaped = try context.apply(Reshape(context.shape(context.inputs[0])), nll)
        return [reshaped] + rest.map { _ in nil }
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let g = inputs[0].scalars[0], labels = inputs[1]
        var result = [T](repeating: 0, count: labels.shape[0] * classes)
        for (n, (label, c)) in nllCoefficients(labels, inputs.count == 3 ? inputs[2] : nil).enumerated() {
            result[n * classes + label] = -g * c
        }
        return [Tensor(shape: [labels.shape[0], classes], scalars: result)]
    }

    static let samples = [
        OperatorSample("class weights", WeightedNLLBackward(classes: 3), [.uniform([]), .labels([4], classes: 3), .positive([3])])
    ]
}

func nllShapes(_ inputs: [Shape], _ name: String) throws(ShapeError) {
    try expectInputs(inputs, 2...3, name)
    let logp = inputs[0]
    guard logp.rank == 2 else { throw ShapeError("\(name) expects log-probabilities [N, K], got \(logp)") }
    guard inputs[1] == [logp[0]] else { throw ShapeError("\(name) expects labels [\(logp[0])], got \(inputs[1])") }
    if inputs.count == 3, inputs[2] != [logp[1]] {
        throw ShapeError("\(name) expects class weights [\(logp[1])], got \(inputs[2])")
    }
}

/// Per sample: its label and its weight divided by the total weight. Labels outside the class
/// range are clamped (callers validate labels before running).
func nllCoefficients<T: KernelScalar>(_ labels: Tensor<T>, _ weights: Tensor<T>?) -> [(Int, T)] {
    let classes = weights?.shape[0] ?? Int.max
    let indices = labels.scalars.map { min(max(Int($0.rounded()), 0), classes - 1) }
    let w = indices.map { weights?.scalars[$0] ?? 1 }
    let total = w.reduce(0, +)
    return zip(indices, w).map { ($0, $1 / total) }
}

/// Sample `n`'s clamped label (as `nllCoefficients`), reading labels and weights from buffers.
@inline(__always)
private func nllLabel(_ labels: UnsafeBufferPointer<Float>, _ n: Int, classes: Int) -> Int {
    min(max(Int(labels[n].rounded()), 0), classes - 1)
}

/// `Σ w[yₙ]` summed from the first sample, as `nllCoefficients` does.
private func nllTotal(_ labels: UnsafeBufferPointer<Float>, _ weights: UnsafeBufferPointer<Float>?) -> Float {
    var total: Float = 0
    for n in 0..<labels.count { total += weights.map { $0[nllLabel(labels, n, classes: $0.count)] } ?? 1 }
    return total
}

extension WeightedNLL: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let classes = inputShapes[0][1], labels = inputs[1], weights = inputs.count == 3 ? inputs[2] : nil
        let total = nllTotal(labels, weights)
        var loss: Float = 0
        for n in 0..<labels.count {
            let label = nllLabel(labels, n, classes: weights?.count ?? Int.max)
            let c = (weights.map { $0[label] } ?? 1) / total
            loss -= c * inputs[0][n * classes + label]
        }
        outputs[0][0] = loss
    }
}

extension WeightedNLLBackward: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = inputs[0][0], labels = inputs[1], weights = inputs.count == 3 ? inputs[2] : nil
        let result = outputs[0].baseAddress!
        result.update(repeating: 0, count: labels.count * classes)
        let total = nllTotal(labels, weights)
        for n in 0..<labels.count {
            let label = nllLabel(labels, n, classes: weights?.count ?? Int.max)
            result[n * classes + label] = -g * ((weights.map { $0[label] } ?? 1) / total)
        }
    }
}
