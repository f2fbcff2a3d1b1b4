import GraphCore

/// Max pooling that also returns where each maximum was: output 1 holds, per pooled element, the
/// flat offset of its window's maximum within its `[D, H, W]` input plane (an integer stored as a
/// `Float`, exact below 2²⁴). Output 0 is `MaxPool3D`'s.
///
/// The compiler puts it in place of `MaxPool3D` in training graphs: the backward then scatters by
/// offset instead of searching the windows of the pool's input again, so that input (a full-size
/// activation, the largest values of the paper's network) is freed as soon as the pool has run.
public struct MaxPool3DIndexed: ReferenceOperator {
    public let kernel: Triple, stride: Triple, padding: Triple
    public init(kernel: Triple, stride: Triple, padding: Triple = Triple(0)) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public var name: String { "max_pool3d_indexed" }
    public var attributes: KeyValuePairs<String, String> {
        ["kernel": kernel.description, "stride": stride.description, "padding": padding.description]
    }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        let pooled = try poolShape(inputs[0], kernel: kernel, stride: stride, padding: padding, name)
        guard inputs[0].dims[2...].reduce(1, *) < 1 << 24 else {
            throw ShapeError("\(name) keeps offsets as Float: an input plane must hold fewer than 2^24 elements, got \(inputs[0])")
        }
        return [pooled, pooled]
    }
    /// The offsets are piecewise constant: only output 0 carries a gradient.
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        guard let gradient = context.outputGradients[0] else { return [nil] }
        let scatter = MaxPool3DIndexScatter(inputShape: context.shape(context.inputs[0]))
        return [try context.apply(scatter, gradient, context.outputs[1])]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let x = inputs[0], pooled = try! outputShapes(for: [x.shape])[0]
        let g = PoolGeometry(input: x.shape, output: pooled, kernel: kernel, stride: stride, padding: padding)
        var y = [T](repeating: 0, count: pooled.count), offsets = [T](repeating: 0, count: pooled.count)
        y.withUnsafeMutableBufferPointer { yBuffer in
            offsets.withUnsafeMutableBufferPointer { oBuffer in
                x.scalars.withUnsafeBufferPointer { xBuffer in
                    maxPoolGather(yBuffer.baseAddress!, xBuffer.baseAddress!, from: xBuffer.baseAddress!, g, offsets: oBuffer.baseAddress!)
                }
            }
        }
        return [Tensor(shape: pooled, scalars: y), Tensor(shape: pooled, scalars: offsets)]
    }

    static let samples = [
        OperatorSample("2x2x2", MaxPool3DIndexed(kernel: Triple(2), stride: Triple(2)), [.distinct([1, 2, 4, 4, 5])]),
        OperatorSample("2x2x2, 37 wide (16-wide loads, the last overlapping)", MaxPool3DIndexed(kernel: Triple(2), stride: Triple(2)), [.distinct([1, 1, 2, 2, 37])]),
        OperatorSample(
            "paper's last pool", MaxPool3DIndexed(kernel: Triple(1, 2, 2), stride: Triple(2), padding: Triple(0, 1, 1)),
            [.distinct([2, 2, 1, 3, 3])]),
        OperatorSample(
            "overlapping windows", MaxPool3DIndexed(kernel: Triple(1, 3, 3), stride: Triple(1)),
            [.distinct([1, 1, 2, 4, 5])]),
        OperatorSample(
            "1x2x2, odd sizes, one channel", MaxPool3DIndexed(kernel: Triple(1, 2, 2), stride: Triple(1, 2, 2)), [.distinct([1, 1, 3, 5, 19])]),
    ]
}

/// Backward of `MaxPool3DIndexed`: `dx` (shaped like the pool's input) receives each pooled
/// gradient at its recorded offset; overlapping windows add. Linear in `dy`; offsets outside the
/// plane are skipped rather than written.
public struct MaxPool3DIndexScatter: ReferenceOperator {
    public let inputShape: Shape
    public init(inputShape: Shape) { self.inputShape = inputShape }

    public var name: String { "max_pool3d_index_scatter" }
    public var attributes: KeyValuePairs<String, String> { ["input_shape": inputShape.description] }
    public func isDifferentiable(input index: Int) -> Bool { index == 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 2...2, name)
        guard inputShape.rank == 5, inputs[0].rank == 5, inputs[0] == inputs[1], inputs[0].dims[..<2] == inputShape.dims[..<2] else {
            throw ShapeError("\(name) expects dy and offsets of one pooled shape [N, C, D', H', W'] for input \(inputShape), got \(inputs)")
        }
        return [inputShape]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(MaxPool3DIndexGather(), context.gradient, context.inputs[1]), nil]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        var dx = [T](repeating: 0, count: inputShape.count)
        dx.withUnsafeMutableBufferPointer { target in
            inputs[0].scalars.withUnsafeBufferPointer { dy in
                inputs[1].scalars.withUnsafeBufferPointer { offsets in
                    scatterAtOffsets(target.baseAddress!, dy.baseAddress!, offsets.baseAddress!, pooled: inputs[0].shape, input: inputShape)
                }
            }
        }
        return [Tensor(shape: inputShape, scalars: dx)]
    }

    static let samples = [
        OperatorSample(
            "2x2x2", MaxPool3DIndexScatter(inputShape: [1, 2, 4, 4, 5]), [.uniform([1, 2, 2, 2, 2]), .labels([1, 2, 2, 2, 2], classes: 80)]),
        OperatorSample(
            "repeated offsets", MaxPool3DIndexScatter(inputShape: [2, 1, 1, 3, 3]),
            [.uniform([2, 1, 1, 2, 2]), .fixed([2, 1, 1, 2, 2], [0, 4, 4, 8, 1, 1, 1, 1])]),
    ]
}

/// `values` (shaped like a pool's input) read at the recorded offsets, shaped like the offsets:
/// the transpose of `MaxPool3DIndexScatter`. Offsets outside the plane read 0.
public struct MaxPool3DIndexGather: ReferenceOperator {
    public init() {}

    public var name: String { "max_pool3d_index_gather" }
    public func isDifferentiable(input index: Int) -> Bool { index == 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 2...2, name)
        guard inputs[0].rank == 5, inputs[1].rank == 5, inputs[0].dims[..<2] == inputs[1].dims[..<2] else {
            throw ShapeError("\(name) expects values [N, C, D, H, W] and offsets [N, C, D', H', W'], got \(inputs)")
        }
        return [inputs[1]]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let scatter = MaxPool3DIndexScatter(inputShape: context.shape(context.inputs[0]))
        return [try context.apply(scatter, context.gradient, context.inputs[1]), nil]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let pooled = inputs[1].shape
        var y = [T](repeating: 0, count: pooled.count)
        y.withUnsafeMutableBufferPointer { target in
            inputs[0].scalars.withUnsafeBufferPointer { values in
                inputs[1].scalars.withUnsafeBufferPointer { offsets in
                    gatherAtOffsets(target.baseAddress!, values.baseAddress!, offsets.baseAddress!, pooled: pooled, input: inputs[0].shape)
                }
            }
        }
        return [Tensor(shape: pooled, scalars: y)]
    }

    static let samples = [
        OperatorSample("2x2x2", MaxPool3DIndexGather(), [.uniform([1, 2, 4, 4, 5]), .labels([1, 2, 2, 2, 2], classes: 80)])
    ]
}

/// The plane offset `offsets[o]` as an index, or nil outside `0..<limit` (the plane size).
@inline(__always)
private func planeOffset<T: KernelScalar>(_ offset: T, _ limit: T) -> Int? {
    guard offset >= 0, offset < limit else { return nil }
    return offset.truncatedInt
}

/// `dx` (zeroed here) += `dy` at the offsets, plane by plane.
@_specialize(where T == Float) @_specialize(where T == Double)
func scatterAtOffsets<T: KernelScalar>(
    _ dx: UnsafeMutablePointer<T>, _ dy: UnsafePointer<T>, _ offsets: UnsafePointer<T>, pooled: Shape, input: Shape
) {
    let planes = pooled[0] * pooled[1], pooledPlane = pooled.count / max(planes, 1), inputPlane = input.count / max(planes, 1)
    let dxp = SendablePointer(dx), dyp = SendableConstPointer(dy), op = SendableConstPointer(offsets)
    // Each core clears the planes it fills, each just before its scatter, while the plane is in
    // cache (clearing all first, on one core, took as long as the scatter; clearing a core's whole
    // range first sent every plane to memory and back).
    parallelRanges(planes, work: pooled.count) { range in
        for plane in range {
            let target = dxp.base + plane * inputPlane, base = plane * pooledPlane, limit = T(inputPlane)
            target.update(repeating: 0, count: inputPlane)
            for o in base..<(base + pooledPlane) {
                if let k = planeOffset(op.base[o], limit) { target[k] += dyp.base[o] }
            }
        }
    }
}

/// `y[o] = values[offsets[o]]` within each plane.
@_specialize(where T == Float) @_specialize(where T == Double)
func gatherAtOffsets<T: KernelScalar>(
    _ y: UnsafeMutablePointer<T>, _ values: UnsafePointer<T>, _ offsets: UnsafePointer<T>, pooled: Shape, input: Shape
) {
    let planes = pooled[0] * pooled[1], pooledPlane = pooled.count / max(planes, 1), inputPlane = input.count / max(planes, 1)
    for plane in 0..<planes {
        let source = values + plane * inputPlane, base = plane * pooledPlane, limit = T(inputPlane)
        for o in base..<(base + pooledPlane) { y[o] = planeOffset(offsets[o], limit).map { source[$0] } ?? 0 }
    }
}

extension MaxPool3DIndexed: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = PoolGeometry(input: inputShapes[0], output: try! outputShapes(for: inputShapes)[0], kernel: kernel, stride: stride, padding: padding)
        maxPoolForward(outputs[0].baseAddress!, inputs[0].baseAddress!, g, offsets: outputs[1].baseAddress!)
    }
}

extension MaxPool3DIndexScatter: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        scatterAtOffsets(outputs[0].baseAddress!, inputs[0].baseAddress!, inputs[1].baseAddress!, pooled: inputShapes[0], input: inputShape)
    }
}
