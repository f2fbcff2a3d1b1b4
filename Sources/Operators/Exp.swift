import GraphCore

/// `eˣ` element-wise (softmax probabilities in the loss's backward).
public struct Exp: ReferenceOperator {
    public init() {}
    public var name: String { "exp" }
    public var inPlaceInput: Int? { 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        return inputs
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(Multiply(), context.gradient, context.outputs[0])]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        [map(inputs[0]) { T.exp($0) }]
    }

    static let samples = [OperatorSample("3x4", Exp(), [.uniform([3, 4])])]
}

extension Exp: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        mapBuffer(outputs[0], inputs[0]) { Float.exp($0) }
    }
}
