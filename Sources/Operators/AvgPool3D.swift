import GraphCore

/// 3D average pooling over `[N, C, D, H, W]`; padded zeros count in the divisor (PyTorch's
/// default `count_include_pad=True`).
public struct AvgPool3D: ReferenceOperator {
    public let kernel: Triple, stride: Triple, padding: Triple
    public init(kernel: Triple, stride: Triple, padding: Triple = Triple(0)) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public var name: String { "avg_pool3d" }
    public var attributes: KeyValuePairs<String, String> {
        ["kernel": kernel.description, "stride": stride.description, "padding": padding.description]
    }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        return [try poolShape(inputs[0], kernel: kernel, stride: stride, padding: padding, name)]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let op = AvgPool3DBackward(kernel: kernel, stride: stride, padding: padding, inputShape: context.shape(context.inputs[0]))
        return [try context.apply(op, context.gradient)]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let x = inputs[0]
        let outShape = try! poolShape(x.shape, kernel: kernel, stride: stride, padding: padding, name)
        let g = PoolGeometry(input: x.shape, output: outShape, kernel: kernel, stride: stride, padding: padding)
        var y = [T](repeating: 0, count: outShape.count)
        x.scalars.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { avgPoolForward($0.baseAddress!, xs.baseAddress!, g) } }
        return [Tensor(shape: outShape, scalars: y)]
    }

    static let samples = [
        OperatorSample("2x2x2", AvgPool3D(kernel: Triple(2), stride: Triple(2)), [.uniform([1, 2, 4, 4, 5])]),
        OperatorSample(
            "paper's last pool", AvgPool3D(kernel: Triple(1, 2, 2), stride: Triple(2), padding: Triple(0, 1, 1)),
            [.uniform([2, 2, 1, 3, 3])]),
    ]
}

/// Backward-only: spreads each `dy` evenly over its window (the transpose of average pooling).
public struct AvgPool3DBackward: ReferenceOperator {
    public let kernel: Triple, stride: Triple, padding: Triple
    public let inputShape: Shape
    public init(kernel: Triple, stride: Triple, padding: Triple, inputShape: Shape) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.inputShape = inputShape
    }

    public var name: String { "avg_pool3d_backward" }
    public var attributes: KeyValuePairs<String, String> {
        ["kernel": kernel.description, "stride": stride.description, "padding": padding.description, "input": inputShape.description]
    }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        let pooled = try poolShape(inputShape, kernel: kernel, stride: stride, padding: padding, name)
        guard inputs[0] == pooled else { throw ShapeError("\(name) expects dy \(pooled) for input \(inputShape), got \(inputs[0])") }
        return [inputShape]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(AvgPool3D(kernel: kernel, stride: stride, padding: padding), context.gradient)]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let dy = inputs[0]
        let g = PoolGeometry(input: inputShape, output: dy.shape, kernel: kernel, stride: stride, padding: padding)
        var dx = [T](repeating: 0, count: inputShape.count)
        dy.scalars.withUnsafeBufferPointer { dys in dx.withUnsafeMutableBufferPointer { avgPoolBackward($0.baseAddress!, dys.baseAddress!, g) } }
        return [Tensor(shape: inputShape, scalars: dx)]
    }

    static let samples = [
        OperatorSample(
            "paper's last pool",
            AvgPool3DBackward(kernel: Triple(1, 2, 2), stride: Triple(2), padding: Triple(0, 1, 1), inputShape: [2, 2, 1, 3, 3]),
            [.uniform([2, 2, 1, 2, 2])])
    ]
}

/// `y` = the mean of each window of `x` (the padding not counted).
@_specialize(where T == Float) @_specialize(where T == Double)
func avgPoolForward<T: KernelScalar>(_ y: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, _ g: PoolGeometry) {
    g.forEachOutput(planes: 0..<g.planes) { o, plane, od, oh, ow in
        let base = plane * g.input.product, (start, end, count) = g.window(od, oh, ow)
        var sum: T = 0
        for d in start.d..<end.d {
            for h in start.h..<end.h {
                for w in start.w..<end.w { sum += x[base + (d * g.input.h + h) * g.input.w + w] }
            }
        }
        y[o] = sum / T(count)
    }
}

/// Adds each window's share of `dy` to `dx` (which the caller zeroes).
@_specialize(where T == Float) @_specialize(where T == Double)
func avgPoolBackward<T: KernelScalar>(_ dx: UnsafeMutablePointer<T>, _ dy: UnsafePointer<T>, _ g: PoolGeometry) {
    g.forEachOutput(planes: 0..<g.planes) { o, plane, od, oh, ow in
        let base = plane * g.input.product, (start, end, count) = g.window(od, oh, ow)
        let share = dy[o] / T(count)
        for d in start.d..<end.d {
            for h in start.h..<end.h {
                for w in start.w..<end.w { dx[base + (d * g.input.h + h) * g.input.w + w] += share }
            }
        }
    }
}

// Buffer kernels: the references' loops, written into the planned buffers.
extension AvgPool3D: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = PoolGeometry(input: inputShapes[0], output: try! outputShapes(for: inputShapes)[0], kernel: kernel, stride: stride, padding: padding)
        avgPoolForward(outputs[0].baseAddress!, inputs[0].baseAddress!, g)
    }
}

extension AvgPool3DBackward: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = PoolGeometry(input: inputShape, output: inputShapes[0], kernel: kernel, stride: stride, padding: padding)
        outputs[0].baseAddress!.update(repeating: 0, count: inputShape.count)
        avgPoolBackward(outputs[0].baseAddress!, inputs[0].baseAddress!, g)
    }
}
