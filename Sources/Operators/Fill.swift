import GraphCore

/// A constant tensor filled with one value (gradient seeds, zeros).
public struct Fill: ReferenceOperator {
    public let value: Double
    public let shape: Shape
    public init(value: Double, shape: Shape) {
        self.value = value
        self.shape = shape
    }

    public var name: String { "fill" }
    public var attributes: KeyValuePairs<String, String> { ["value": "\(value)", "shape": shape.description] }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 0...0, name)
        return [shape]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] { [] }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        [Tensor(repeating: T(value), shape: shape)]
    }

    static let samples = [OperatorSample("ones 2x3", Fill(value: 1, shape: [2, 3]), [])]
}

extension Fill: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        outputs[0].baseAddress!.update(repeating: Float(value), count: shape.count)
    }
}
