import GraphCore

/// `x²` element-wise (variances).
public struct Square: ReferenceOperator {
    public init() {}
    public var name: String { "square" }
    public var inPlaceInput: Int? { 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        return inputs
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let twiceX = try context.apply(Affine(scale: 2), context.inputs[0])
        return [try context.apply(Multiply(), context.gradient, twiceX)]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        [map(inputs[0]) { $0 * $0 }]
    }

    static let samples = [OperatorSample("4x3", Square(), [.uniform([4, 3])])]
}
