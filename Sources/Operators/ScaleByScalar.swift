import GraphCore

/// `x · s` with a learnable one-element `s` (PReLU's slope on the negative part).
public struct ScaleByScalar: ReferenceOperator {
    public init() {}
    public var name: String { "scale_by_scalar" }
    public var inPlaceInput: Int? { 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 2...2, name)
        guard inputs[1].count == 1 else { throw ShapeError("\(name) needs a one-element scale, got \(inputs[1])") }
        return [inputs[0]]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let g = context.gradient, x = context.inputs[0], s = context.inputs[1]
        return [
            context.needsGradient[0] ? try context.apply(ScaleByScalar(), g, s) : nil,
            context.needsGradient[1] ? try context.apply(SumOfProducts(shape: context.shape(s)), g, x) : nil,
        ]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let s = inputs[1].scalars[0]
        return [map(inputs[0]) { $0 * s }]
    }

    static let samples = [OperatorSample("3x4 by [1]", ScaleByScalar(), [.uniform([3, 4]), .uniform([1])])]
}

/// `Σ a·b` over all elements, as a one-element tensor of `shape` (`[1]` or `[]`).
public struct SumOfProducts: ReferenceOperator {
    public let shape: Shape
    public init(shape: Shape = [1]) { self.shape = shape }

    public var name: String { "sum_of_products" }
    public var attributes: KeyValuePairs<String, String> { ["shape": shape.description] }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        _ = try sameShapes(inputs, name)
        guard shape.count == 1 else { throw ShapeError("\(name) produces one element, not shape \(shape)") }
        return [shape]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let g = context.gradient, a = context.inputs[0], b = context.inputs[1]
        return [
            context.needsGradient[0] ? try context.apply(ScaleByScalar(), b, g) : nil,
            context.needsGradient[1] ? try context.apply(ScaleByScalar(), a, g) : nil,
        ]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        var sum: T = 0
        for i in inputs[0].scalars.indices { sum += inputs[0].scalars[i] * inputs[1].scalars[i] }
        return [Tensor(shape: shape, scalars: [sum])]
    }

    static let samples = [
        OperatorSample("3x4", SumOfProducts(), [.uniform([3, 4]), .uniform([3, 4])]),
        OperatorSample("scalar", SumOfProducts(shape: []), [.uniform([5]), .uniform([5])]),
    ]
}

extension ScaleByScalar: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let s = inputs[1][0]
        mapBuffer(outputs[0], inputs[0]) { $0 * s }
    }
}

extension SumOfProducts: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        // The reference's order of summation (PReLU's slope gradient is a sum over the whole batch).
        let a = inputs[0].baseAddress!, b = inputs[1].baseAddress!
        var sum: Float = 0
        for i in 0..<inputs[0].count { sum += a[i] * b[i] }
        outputs[0][0] = sum
    }
}
