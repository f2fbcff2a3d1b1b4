import GraphCore

/// An operator whose single generic reference kernel serves both precisions.
///
/// Implementations mark `reference` with `@_specialize(where T == Float)` and
/// `@_specialize(where T == Double)` so that calls through the protocol reach specialised code.
public protocol ReferenceOperator: Operator {
    func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>]
}

extension ReferenceOperator {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        reference(inputs, context)
    }
    public func evaluate(_ inputs: [Tensor<Double>], _ context: EvaluationContext) -> [Tensor<Double>] {
        reference(inputs, context)
    }
}

extension Graph {
    /// Gradients of the scalar-like `output` (seeded with ones) with respect to `targets`;
    /// backward nodes are appended to this graph. Targets the output does not depend on get a
    /// zero gradient.
    public func gradients(of output: Value, withRespectTo targets: [Value]) throws -> [Value: Value] {
        let seed = try apply(Fill(value: 1, shape: shape(of: output)), [], scope: "grad/seed")[0]
        return try gradients(of: output, seed: seed, withRespectTo: targets)
    }

    /// Gradients of `output` weighted by `seed` (same shape) with respect to `targets`.
    public func gradients(of output: Value, seed: Value, withRespectTo targets: [Value]) throws -> [Value: Value] {
        var result = try Autodiff.gradients(of: output, seed: seed, withRespectTo: targets, in: self) { a, b in
            try self.apply(Add(), [a, b], scope: self.nodes[a.node].scope)[0]
        }
        for target in targets where result[target] == nil {
            result[target] = try apply(Fill(value: 0, shape: shape(of: target)), [], scope: "grad/zero")[0]
        }
        return result
    }
}
