import GraphCore

/// Inverted-dropout mask: each element is `1/(1−p)` with probability `1−p`, else 0. Draws a
/// fresh mask every step from (seed, node, step, element), so runs are reproducible from the
/// seed and independent of thread count. Dropout is `x · mask`.
public struct DropoutMask: ReferenceOperator {
    public let probability: Double
    public let shape: Shape
    public init(probability: Double, shape: Shape) {
        self.probability = probability
        self.shape = shape
    }

    public var name: String { "dropout_mask" }
    public var attributes: KeyValuePairs<String, String> { ["p": "\(probability)", "shape": shape.description] }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 0...0, name)
        guard probability >= 0, probability < 1 else { throw ShapeError("dropout probability must be in [0, 1), got \(probability)") }
        return [shape]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] { [] }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let keep = T(1 / (1 - probability))
        let stream = SeededGenerator.mix(context.seed ^ SeededGenerator.mix(UInt64(context.node) &* 0x1_0000_0001 &+ UInt64(context.step)))
        let threshold = UInt64(probability * 0x1p53)
        let mask = (0..<shape.count).map { index -> T in
            (SeededGenerator.mix(stream &+ UInt64(index)) >> 11) >= threshold ? keep : 0
        }
        return [Tensor(shape: shape, scalars: mask)]
    }

    static let samples = [OperatorSample("p 0.5", DropoutMask(probability: 0.5, shape: [4, 8]), [])]
}

extension DropoutMask: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let keep = Float(1 / (1 - probability))
        let stream = SeededGenerator.mix(context.seed ^ SeededGenerator.mix(UInt64(context.node) &* 0x1_0000_0001 &+ UInt64(context.step)))
        let threshold = UInt64(probability * 0x1p53), mask = outputs[0].baseAddress!
        for index in 0..<shape.count {
            mask[index] = (SeededGenerator.mix(stream &+ UInt64(index)) >> 11) >= threshold ? keep : 0
        }
    }
}
