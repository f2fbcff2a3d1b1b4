import GraphCore
import Operators

/// `[N, …] → [N, features]`.
public struct Flatten: Layer {
    public init() {}
    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value {
        let shape = builder.shape(x)
        return try builder.apply(Reshape([shape[0], shape.count / max(shape[0], 1)]), x)
    }
    public var summary: String { "Flatten" }
}

/// A fully connected layer, PyTorch's `nn.Linear`: weight `[units, inputFeatures]`, bias `[units]`.
/// With `inputFeatures` given, an input of another width is an error naming both.
public struct Dense: Layer {
    public let units: Int
    public let inputFeatures: Int?
    public let bias: Bool
    public init(_ units: Int, inputFeatures: Int? = nil, bias: Bool = true) {
        self.units = units
        self.inputFeatures = inputFeatures
        self.bias = bias
    }

    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value {
        let shape = builder.shape(x)
        guard shape.rank == 2 else {
            throw GraphError.shapeMismatch(layer: builder.scope, op: "Dense", inputs: [shape], message: "expected an input [N, features]; add Flatten() before it")
        }
        guard units >= 1 else { throw GraphError.invalid("layer '\(builder.scope)' (Dense): units must be ≥ 1, got \(units)") }
        let features = inputFeatures ?? shape[1]
        let weight = try builder.parameter(
            "weight", shape: [units, features], initializer: builder.initialization.weights(fanIn: features, fanOut: units))
        var y = try builder.apply(MatMul(transposeB: true), x, weight)
        if bias {
            let b = try builder.parameter("bias", shape: [units], initializer: builder.initialization.bias(fanIn: features))
            y = try builder.apply(Add(), y, try builder.apply(BroadcastAxis(axis: 1, shape: builder.shape(y)), b))
        }
        return y
    }
    public var summary: String { "Dense(\(units)\(inputFeatures.map { ", in \($0)" } ?? ""))" }
}

/// Inverted dropout: in training, zeroes each value with probability `p` and scales the rest by
/// 1/(1−p); in inference, the identity.
public struct Dropout: Layer {
    public let probability: Double
    public init(_ probability: Double) { self.probability = probability }
    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value {
        guard probability >= 0, probability < 1 else {
            throw GraphError.invalid("layer '\(builder.scope)' (Dropout): probability must be in [0, 1), got \(probability)")
        }
        guard builder.mode == .training, probability > 0 else { return x }
        let mask = try builder.apply(DropoutMask(probability: probability, shape: builder.shape(x)))
        return try builder.apply(Multiply(), x, mask)
    }
    public var summary: String { "Dropout(\(probability))" }
}
