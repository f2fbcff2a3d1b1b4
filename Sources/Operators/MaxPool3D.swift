import GraphCore

/// 3D max pooling over `[N, C, D, H, W]`; padded positions never win (PyTorch pads with −∞).
public struct MaxPool3D: ReferenceOperator {
    public let kernel: Triple, stride: Triple, padding: Triple
    public init(kernel: Triple, stride: Triple, padding: Triple = Triple(0)) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public var name: String { "max_pool3d" }
    public var attributes: KeyValuePairs<String, String> {
        ["kernel": kernel.description, "stride": stride.description, "padding": padding.description]
    }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        return [try poolShape(inputs[0], kernel: kernel, stride: stride, padding: padding, name)]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(MaxPool3DBackward(kernel: kernel, stride: stride, padding: padding), context.gradient, context.inputs[0])]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        [maxPoolGather(inputs[0], from: inputs[0], kernel: kernel, stride: stride, padding: padding)]
    }

    static let samples = [
        OperatorSample("2x2x2", MaxPool3D(kernel: Triple(2), stride: Triple(2)), [.distinct([1, 2, 4, 4, 5])]),
        OperatorSample("2x2x2, 37 wide (16-wide loads, the last overlapping)", MaxPool3D(kernel: Triple(2), stride: Triple(2)), [.distinct([1, 1, 2, 2, 37])]),
        OperatorSample("1x2x2, odd sizes, one channel", MaxPool3D(kernel: Triple(1, 2, 2), stride: Triple(1, 2, 2)), [.distinct([1, 1, 3, 5, 19])]),
        OperatorSample("overlapping 3x3x3, stride 1x2x1", MaxPool3D(kernel: Triple(3), stride: Triple(1, 2, 1)), [.distinct([2, 3, 4, 7, 9])]),
        OperatorSample(
            "paper's last pool", MaxPool3D(kernel: Triple(1, 2, 2), stride: Triple(2), padding: Triple(0, 1, 1)),
            [.distinct([2, 2, 1, 3, 3])]),
    ]
}

/// `values` read at the positions where `x` has its window maxima (shape of the pooled output).
/// Max pooling is the case `values == x`; the backward of `MaxPool3DBackward` gathers gradients.
func maxPoolGather<T: KernelScalar>(
    _ values: Tensor<T>, from x: Tensor<T>, kernel: Triple, stride: Triple, padding: Triple
) -> Tensor<T> {
    let shape = x.shape
    let out = Triple(
        slidingOutput(shape[2], kernel: kernel.d, stride: stride.d, padding: padding.d),
        slidingOutput(shape[3], kernel: kernel.h, stride: stride.h, padding: padding.h),
        slidingOutput(shape[4], kernel: kernel.w, stride: stride.w, padding: padding.w))
    let outShape: Shape = [shape[0], shape[1], out.d, out.h, out.w]
    let g = PoolGeometry(input: shape, output: outShape, kernel: kernel, stride: stride, padding: padding)
    var y = [T](repeating: 0, count: outShape.count)
    y.withUnsafeMutableBufferPointer { yBuffer in
        x.scalars.withUnsafeBufferPointer { xBuffer in
            values.scalars.withUnsafeBufferPointer { vBuffer in
                maxPoolGather(yBuffer.baseAddress!, vBuffer.baseAddress!, from: xBuffer.baseAddress!, g)
            }
        }
    }
    return Tensor(shape: outShape, scalars: y)
}

/// `y` (pooled) = `values` read where `x` has its window maxima; both inputs shaped as `g.input` planes.
/// With `offsets`, also the maxima's flat offsets within their plane (`MaxPool3DIndexed`).
@_specialize(where T == Float) @_specialize(where T == Double)
func maxPoolGather<T: KernelScalar>(
    _ y: UnsafeMutablePointer<T>, _ values: UnsafePointer<T>, from x: UnsafePointer<T>, _ g: PoolGeometry, offsets: UnsafeMutablePointer<T>? = nil
) {
    let yp = SendablePointer(y), xp = SendableConstPointer(x), vp = SendableConstPointer(values), op = offsets.map { SendablePointer($0) }
    // Planes are independent: one contiguous range of planes per core.
    parallelRanges(g.planes, work: g.planes * g.output.product * g.kernel.product) { planes in
        g.forEachOutput(planes: planes) { o, plane, od, oh, ow in
            let k = g.argmax(xp.base + plane * g.input.product, od, oh, ow)
            yp.base[o] = vp.base[plane * g.input.product + k]
            op?.base[o] = T(k)
        }
    }
}

/// `dx` (zeroed here) += `dy` scattered to the window maxima of `x`.
@_specialize(where T == Float) @_specialize(where T == Double)
func maxPoolScatter<T: KernelScalar>(_ dx: UnsafeMutablePointer<T>, _ dy: UnsafePointer<T>, _ x: UnsafePointer<T>, _ g: PoolGeometry) {
    dx.update(repeating: 0, count: g.planes * g.input.product)
    let dxp = SendablePointer(dx), xp = SendableConstPointer(x), dyp = SendableConstPointer(dy)
    // Each plane scatters only into itself: one contiguous range of planes per core.
    parallelRanges(g.planes, work: g.planes * g.output.product * g.kernel.product) { planes in
        g.forEachOutput(planes: planes) { o, plane, od, oh, ow in
            let base = plane * g.input.product
            dxp.base[base + g.argmax(xp.base + base, od, oh, ow)] += dyp.base[o]
        }
    }
}

/// Backward-only: scatters `dy` to the window maxima of `x`. Linear in `dy`; piecewise constant
/// in `x` (no gradient flows to `x`).
public struct MaxPool3DBackward: ReferenceOperator {
    public let kernel: Triple, stride: Triple, padding: Triple
    public init(kernel: Triple, stride: Triple, padding: Triple) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public var name: String { "max_pool3d_backward" }
    public var attributes: KeyValuePairs<String, String> {
        ["kernel": kernel.description, "stride": stride.description, "padding": padding.description]
    }
    public func isDifferentiable(input index: Int) -> Bool { index == 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 2...2, name)
        let pooled = try poolShape(inputs[1], kernel: kernel, stride: stride, padding: padding, name)
        guard inputs[0] == pooled else { throw ShapeError("\(name) expects dy \(pooled) for input \(inputs[1]), got \(inputs[0])") }
        return [inputs[1]]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(MaxPool3DGather(kernel: kernel, stride: stride, padding: padding), context.gradient, context.inputs[1]), nil]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let dy = inputs[0], x = inputs[1]
        let g = PoolGeometry(input: x.shape, output: dy.shape, kernel: kernel, stride: stride, padding: padding)
        var dx = [T](repeating: 0, count: x.shape.count)
        dx.withUnsafeMutableBufferPointer { dxBuffer in
            x.scalars.withUnsafeBufferPointer { xBuffer in
                dy.scalars.withUnsafeBufferPointer { dyBuffer in
                    maxPoolScatter(dxBuffer.baseAddress!, dyBuffer.baseAddress!, xBuffer.baseAddress!, g)
                }
            }
        }
        return [Tensor(shape: x.shape, scalars: dx)]
    }

    static let samples = [
        OperatorSample(
            "2x2x2", MaxPool3DBackward(kernel: Triple(2), stride: Triple(2), padding: Triple(0)),
            [.uniform([1, 2, 2, 2, 2]), .distinct([1, 2, 4, 4, 5])]),
        OperatorSample(
            "overlapping windows", MaxPool3DBackward(kernel: Triple(1, 3, 3), stride: Triple(1, 1, 1), padding: Triple(0, 1, 1)),
            [.uniform([1, 1, 2, 3, 3]), .distinct([1, 1, 2, 3, 3])]),
    ]
}

/// Backward-only: `g` read at the window maxima of `x` (the transpose of `MaxPool3DBackward`).
public struct MaxPool3DGather: ReferenceOperator {
    public let kernel: Triple, stride: Triple, padding: Triple
    public init(kernel: Triple, stride: Triple, padding: Triple) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public var name: String { "max_pool3d_gather" }
    public var attributes: KeyValuePairs<String, String> {
        ["kernel": kernel.description, "stride": stride.description, "padding": padding.description]
    }
    public func isDifferentiable(input index: Int) -> Bool { index == 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 2...2, name)
        guard inputs[0] == inputs[1] else { throw ShapeError("\(name) expects values shaped like x \(inputs[1]), got \(inputs[0])") }
        return [try poolShape(inputs[1], kernel: kernel, stride: stride, padding: padding, name)]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(MaxPool3DBackward(kernel: kernel, stride: stride, padding: padding), context.gradient, context.inputs[1]), nil]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        [maxPoolGather(inputs[0], from: inputs[1], kernel: kernel, stride: stride, padding: padding)]
    }

    static let samples = [
        OperatorSample(
            "2x2x2", MaxPool3DGather(kernel: Triple(2), stride: Triple(2), padding: Triple(0)),
            [.uniform([1, 2, 4, 4, 5]), .distinct([1, 2, 4, 4, 5])])
    ]
}

extension MaxPool3D: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = PoolGeometry(input: inputShapes[0], output: try! outputShapes(for: inputShapes)[0], kernel: kernel, stride: stride, padding: padding)
        maxPoolForward(outputs[0].baseAddress!, inputs[0].baseAddress!, g)
    }
}

/// The buffer kernel of `MaxPool3D` and `MaxPool3DIndexed`: `y` (and the maxima's plane offsets,
/// if given) from `x`, by output rows over both cores where no window is padded, else by the
/// per-window `argmax` of the reference.
func maxPoolForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ g: PoolGeometry, offsets: UnsafeMutablePointer<Float>? = nil) {
    guard g.padding == Triple(0) else { return maxPoolGather(y, x, from: x, g, offsets: offsets) }
    let yp = SendablePointer(y), xp = SendableConstPointer(x), op = offsets.map { SendablePointer($0) }
    parallelRanges(g.planes, work: g.planes * g.output.product * g.kernel.product) { planes in
        g.maxOfWindows(yp.base, xp.base, offsets: op?.base, planes: planes)
    }
}

extension MaxPool3DBackward: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = PoolGeometry(input: inputShapes[1], output: inputShapes[0], kernel: kernel, stride: stride, padding: padding)
        maxPoolScatter(outputs[0].baseAddress!, inputs[0].baseAddress!, inputs[1].baseAddress!, g)
    }
}

extension MaxPool3DGather: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = PoolGeometry(input: inputShapes[1], output: try! outputShapes(for: inputShapes)[0], kernel: kernel, stride: stride, padding: padding)
        maxPoolGather(outputs[0].baseAddress!, inputs[0].baseAddress!, from: inputs[1].baseAddress!, g)
    }
}
