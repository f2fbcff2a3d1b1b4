import GraphCore

/// Repeats a vector `[shape[axis]]` along every other axis of `shape`, times `scale`
/// (per-channel BatchNorm terms, biases of dense layers, row terms of the loss).
public struct BroadcastAxis: ReferenceOperator {
    public let axis: Int
    public let shape: Shape
    public let scale: Double
    public init(axis: Int, shape: Shape, scale: Double = 1) {
        self.axis = axis
        self.shape = shape
        self.scale = scale
    }

    public var name: String { "broadcast_axis" }
    public var attributes: KeyValuePairs<String, String> { ["axis": "\(axis)", "shape": shape.description, "scale": "\(scale)"] }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        guard axis >= 0, axis < shape.rank, inputs[0] == [shape[axis]] else {
            throw ShapeError("\(name) expects a vector [\(axis < shape.rank && axis >= 0 ? shape[axis] : 0)] to spread over \(shape), got \(inputs[0])")
        }
        return [shape]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(ReduceToAxis(axis: axis, scale: scale), context.gradient)]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let channels = shape[axis]
        let inner = shape.dims[(axis + 1)...].reduce(1, *), outer = shape.dims[..<axis].reduce(1, *)
        var result = [T](repeating: 0, count: shape.count)
        let s = T(scale)
        for n in 0..<outer {
            for c in 0..<channels {
                let value = inputs[0].scalars[c] * s, base = (n * channels + c) * inner
                for k in 0..<inner { result[base + k] = value }
            }
        }
        return [Tensor(shape: shape, scalars: result)]
    }

    static let samples = [
        OperatorSample("channels of 5D", BroadcastAxis(axis: 1, shape: [2, 3, 2, 2, 3], scale: 2), [.uniform([3])]),
        OperatorSample("rows", BroadcastAxis(axis: 0, shape: [4, 3]), [.uniform([4])]),
    ]
}

extension BroadcastAxis: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let channels = shape[axis]
        let inner = shape.dims[(axis + 1)...].reduce(1, *), outer = shape.dims[..<axis].reduce(1, *)
        let result = outputs[0].baseAddress!, s = Float(scale)
        for n in 0..<outer {
            for c in 0..<channels {
                let value = inputs[0][c] * s, base = (n * channels + c) * inner
                for k in 0..<inner { result[base + k] = value }
            }
        }
    }
}
