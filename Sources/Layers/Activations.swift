import GraphCore
import Operators

/// `max(0, x)`.
public struct ReLU: Layer {
    public init() {}
    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value { try builder.apply(Activation(.relu), x) }
    public var summary: String { "ReLU" }
}

/// `x` for x > 0, `alpha·(eˣ − 1)` otherwise (alpha 1).
public struct ELU: Layer {
    public let alpha: Double
    public init(alpha: Double = 1) { self.alpha = alpha }
    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value {
        try builder.apply(Activation(.elu(alpha: alpha)), x)
    }
    public var summary: String { "ELU(alpha \(alpha))" }
}

/// `x` for x > 0, `slope·x` otherwise (slope 0.01).
public struct LeakyReLU: Layer {
    public let slope: Double
    public init(slope: Double = 0.01) { self.slope = slope }
    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value {
        try builder.apply(Activation(.leakyRelu(slope: slope)), x)
    }
    public var summary: String { "LeakyReLU(slope \(slope))" }
}

/// `x·tanh(softplus(x))`.
public struct Mish: Layer {
    public init() {}
    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value { try builder.apply(Activation(.mish), x) }
    public var summary: String { "Mish" }
}

/// `max(0, x) + a·min(0, x)` with one learnable slope `a` at `weight` (initially 0.25), as PyTorch's `nn.PReLU()`.
public struct PReLU: Layer {
    public let initial: Double
    public init(initial: Double = 0.25) { self.initial = initial }
    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value {
        let slope = try builder.parameter("weight", shape: [1], initializer: .constant(initial))
        let positive = try builder.apply(Activation(.relu), x)
        let negative = try builder.apply(ScaleByScalar(), try builder.apply(Activation(.negativePart), x), slope)
        return try builder.apply(Add(), positive, negative)
    }
    public var summary: String { "PReLU(initial \(initial))" }
}
