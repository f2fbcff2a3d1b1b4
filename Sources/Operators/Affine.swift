import GraphCore

/// `scale · x + shift` with constant scalars (negation, momentum blends, learning-rate steps).
public struct Affine: ReferenceOperator {
    public let scale: Double
    public let shift: Double
    public init(scale: Double, shift: Double = 0) {
        self.scale = scale
        self.shift = shift
    }

    public var name: String { "affine" }
    public var attributes: KeyValuePairs<String, String> { ["scale": "\(scale)", "shift": "\(shift)"] }
    public var inPlaceInput: Int? { 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        return inputs
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(Affine(scale: scale), context.gradient)]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let a = T(scale), b = T(shift)
        return [map(inputs[0]) { a * $0 + b }]
    }

    static let samples = [OperatorSample("-0.7x+0.3", Affine(scale: -0.7, shift: 0.3), [.uniform([3, 5])])]
}

extension Affine: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let a = Float(scale), b = Float(shift)
        mapBuffer(outputs[0], inputs[0]) { a * $0 + b }
    }
}
