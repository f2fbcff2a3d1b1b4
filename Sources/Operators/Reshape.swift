import GraphCore

/// The same elements under another shape (Flatten).
public struct Reshape: ReferenceOperator {
    public let shape: Shape
    public init(_ shape: Shape) { self.shape = shape }

    public var name: String { "reshape" }
    public var attributes: KeyValuePairs<String, String> { ["shape": shape.description] }
    public var inPlaceInput: Int? { 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        guard inputs[0].count == shape.count else {
            throw ShapeError("cannot reshape \(inputs[0]) (\(inputs[0].count) elements) to \(shape) (\(shape.count) elements)")
        }
        return [shape]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(Reshape(context.shape(context.inputs[0])), context.gradient)]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        [Tensor(shape: shape, scalars: inputs[0].scalars)]
    }

    static let samples = [OperatorSample("flatten", Reshape([2, 12]), [.uniform([2, 3, 1, 2, 2])])]
}

extension Reshape: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        // In place (the planner's usual choice) there is nothing to move.
        if UnsafePointer(outputs[0].baseAddress!) != inputs[0].baseAddress! {
            outputs[0].baseAddress!.update(from: inputs[0].baseAddress!, count: shape.count)
        }
    }
}
