import GraphCore

/// `1 / √(x + epsilon)` element-wise (BatchNorm's inverse standard deviation).
public struct Rsqrt: ReferenceOperator {
    public let epsilon: Double
    public init(epsilon: Double = 0) { self.epsilon = epsilon }

    public var name: String { "rsqrt" }
    public var attributes: KeyValuePairs<String, String> { ["epsilon": "\(epsilon)"] }
    public var inPlaceInput: Int? { 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        return inputs
    }
    /// d/dx (x + ε)^(−1/2) = −½ y³.
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let y = context.outputs[0]
        let cube = try context.apply(Multiply(), y, try context.apply(Square(), y))
        let slope = try context.apply(Affine(scale: -0.5), cube)
        return [try context.apply(Multiply(), context.gradient, slope)]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let e = T(epsilon)
        return [map(inputs[0]) { 1 / ($0 + e).squareRoot() }]
    }

    static let samples = [OperatorSample("eps 1e-5", Rsqrt(epsilon: 1e-5), [.positive([3, 4])])]
}
