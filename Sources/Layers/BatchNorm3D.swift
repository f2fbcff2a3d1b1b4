import GraphCore
import Operators

/// Batch normalisation over the channels of `[N, C, D, H, W]` with PyTorch's semantics:
/// training normalises with the batch statistics (biased variance) and moves the running
/// statistics by `momentum` (the running variance takes the unbiased batch variance);
/// inference uses the running statistics. Parameters `weight` (γ, 1) and `bias` (β, 0);
/// states `running_mean` (0) and `running_var` (1).
///
/// The layer emits primitive nodes (channel sums, broadcasts, rsqrt); the compiler fuses them.
public struct BatchNorm3D: Layer {
    public let momentum: Double
    public let epsilon: Double
    public init(momentum: Double = 0.1, epsilon: Double = 1e-5) {
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value {
        let shape = builder.shape(x)
        guard shape.rank >= 2 else {
            throw GraphError.shapeMismatch(layer: builder.scope, op: "BatchNorm3D", inputs: [shape], message: "expected an input [N, C, …]")
        }
        let channels = shape[1]
        let gamma = try builder.parameter("weight", shape: [channels], initializer: .constant(1))
        let beta = try builder.parameter("bias", shape: [channels], initializer: .constant(0))
        let runningMean = try builder.state("running_mean", shape: [channels], initial: 0)
        let runningVariance = try builder.state("running_var", shape: [channels], initial: 1)
        func spread(_ vector: Value, scale: Double = 1) throws -> Value {
            try builder.apply(BroadcastAxis(axis: 1, shape: shape, scale: scale), vector)
        }

        let centered: Value, inverseStd: Value
        if builder.mode == .training {
            let elements = shape.count / channels
            guard elements > 1 else {
                throw GraphError.shapeMismatch(
                    layer: builder.scope, op: "BatchNorm3D", inputs: [shape],
                    message: "training needs more than one value per channel")
            }
            let mean = try builder.apply(ReduceToAxis(axis: 1, scale: 1 / Double(elements)), x)
            centered = try builder.apply(Add(), x, try spread(mean, scale: -1))
            let variance = try builder.apply(ReduceToAxis(axis: 1, scale: 1 / Double(elements)), try builder.apply(Square(), centered))
            inverseStd = try builder.apply(Rsqrt(epsilon: epsilon), variance)
            // running ← (1 − m)·running + m·batch, with the unbiased variance.
            let keep = 1 - momentum
            let newMean = try builder.apply(
                Add(), try builder.apply(Affine(scale: keep), runningMean), try builder.apply(Affine(scale: momentum), mean))
            let unbiased = momentum * Double(elements) / Double(elements - 1)
            let newVariance = try builder.apply(
                Add(), try builder.apply(Affine(scale: keep), runningVariance), try builder.apply(Affine(scale: unbiased), variance))
            try builder.graph.update(runningMean, to: newMean)
            try builder.graph.update(runningVariance, to: newVariance)
        } else {
            centered = try builder.apply(Add(), x, try spread(runningMean, scale: -1))
            inverseStd = try builder.apply(Rsqrt(epsilon: epsilon), runningVariance)
        }
        let scale = try builder.apply(Multiply(), inverseStd, gamma)
        let scaled = try builder.apply(Multiply(), centered, try spread(scale))
        return try builder.apply(Add(), scaled, try spread(beta))
    }

    public var summary: String { "BatchNorm3D(momentum \(momentum), eps \(epsilon))" }
}
