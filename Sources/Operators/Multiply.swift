import GraphCore

/// `a * b` element-wise for two tensors of one shape.
public struct Multiply: ReferenceOperator {
    public init() {}
    public var name: String { "mul" }
    public var inPlaceInput: Int? { 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] { try sameShapes(inputs, name) }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let g = context.gradient, a = context.inputs[0], b = context.inputs[1]
        return [
            context.needsGradient[0] ? try context.apply(Multiply(), g, b) : nil,
            context.needsGradient[1] ? try context.apply(Multiply(), g, a) : nil,
        ]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        [zipMap(inputs[0], inputs[1], *)]
    }

    static let samples = [OperatorSample("2x3x4", Multiply(), [.uniform([2, 3, 4]), .uniform([2, 3, 4])])]
}

extension Multiply: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        zipMapBuffer(outputs[0], inputs[0], inputs[1], *)
    }
}
