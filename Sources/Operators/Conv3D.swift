import GraphCore

/// Sizes of one 3D convolution, shared by its forward and backward kernels.
struct ConvGeometry {
    let batch: Int, inChannels: Int, outChannels: Int
    let input: Triple, output: Triple, kernel: Triple, stride: Triple, padding: Triple

    init(input x: Shape, weight w: Shape, stride: Triple, padding: Triple) {
        batch = x[0]
        inChannels = x[1]
        outChannels = w[0]
        input = Triple(x[2], x[3], x[4])
        kernel = Triple(w[2], w[3], w[4])
        self.stride = stride
        self.padding = padding
        output = Triple(
            slidingOutput(input.d, kernel: kernel.d, stride: stride.d, padding: padding.d),
            slidingOutput(input.h, kernel: kernel.h, stride: stride.h, padding: padding.h),
            slidingOutput(input.w, kernel: kernel.w, stride: stride.w, padding: padding.w))
    }

    /// Multiply-adds of the dense convolution, padding taps included (the size the kernel rules go by).
    var multiplyAdds: Int { batch * outChannels * inChannels * kernel.product * output.product }

    /// Depth taps `a` for which output plane `od` reads an input plane.
    @inline(__always)
    func depthTaps(_ od: Int) -> Range<Int> {
        let base = od * stride.d - padding.d
        let low = max(0, -base), high = min(kernel.d, input.d - base)
        return low < high ? low..<high : 0..<0
    }

    /// The depth taps any output plane reads: the only ones whose weights the products use (the
    /// middle one of 3 on the 1-frame deep layers).
    var usedTaps: Range<Int> {
        let ranges = (0..<output.d).map(depthTaps).filter { !$0.isEmpty }
        guard let low = ranges.map(\.lowerBound).min(), let high = ranges.map(\.upperBound).max() else { return 0..<0 }
        return low..<high
    }

    /// Visits every (output row, input row, weight tap) triple of one (output, input) channel pair
    /// where the tap falls inside the input: `body(outRowOffset, inRowOffset, tapOffset, validColumns, kw)`
    /// with offsets relative to the channel planes. Padding taps are skipped, not multiplied by 0.
    @inline(__always)
    func forEachRow(_ body: (Int, Int, Int, Range<Int>, Int) -> Void) {
        for a in 0..<kernel.d {
            for od in validOutputs(tap: a, stride: stride.d, padding: padding.d, extent: input.d, outputs: output.d) {
                let id = od * stride.d + a - padding.d
                for b in 0..<kernel.h {
                    for oh in validOutputs(tap: b, stride: stride.h, padding: padding.h, extent: input.h, outputs: output.h) {
                        let ih = oh * stride.h + b - padding.h
                        let outRow = (od * output.h + oh) * output.w
                        let inRow = (id * input.h + ih) * input.w
                        for c in 0..<kernel.w {
                            let columns = validOutputs(tap: c, stride: stride.w, padding: padding.w, extent: input.w, outputs: output.w)
                            body(outRow, inRow, (a * kernel.h + b) * kernel.w + c, columns, c)
                        }
                    }
                }
            }
        }
    }
}

/// 3D convolution (cross-correlation, as PyTorch): `x [N, Cin, D, H, W]`, `weight [Cout, Cin, kD, kH, kW]`,
/// optional `bias [Cout]` → `[N, Cout, D', H', W']`.
public struct Conv3D: ReferenceOperator {
    public let stride: Triple
    public let padding: Triple
    public init(stride: Triple = Triple(1), padding: Triple = Triple(0)) {
        self.stride = stride
        self.padding = padding
    }

    public var name: String { "conv3d" }
    public var attributes: KeyValuePairs<String, String> { ["stride": stride.description, "padding": padding.description] }

    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 2...3, name)
        let x = inputs[0], w = inputs[1]
        guard w.rank == 5 else { throw ShapeError("conv3d expects a weight [Cout, Cin, kD, kH, kW], got \(w)") }
        guard x.rank == 5, x[1] == w[1] else {
            throw ShapeError("conv3d expects an input [N, \(w[1]), D, H, W] for weight \(w), got \(x)")
        }
        if inputs.count == 3, inputs[2] != [w[0]] {
            throw ShapeError("conv3d expects a bias [\(w[0])], got \(inputs[2])")
        }
        let out = try slidingShape(x, kernel: Triple(w[2], w[3], w[4]), stride: stride, padding: padding, name)
        return [[x[0], w[0], out.d, out.h, out.w]]
    }

    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let g = context.gradient, x = context.inputs[0], w = context.inputs[1]
        var result: [Value?] = [
            context.needsGradient[0]
                ? try context.apply(Conv3DBackwardData(stride: stride, padding: padding, inputShape: context.shape(x)), g, w) : nil,
            context.needsGradient[1]
                ? try context.apply(
                    Conv3DBackwardFilter(stride: stride, padding: padding, weightShape: context.shape(w)), g, x) : nil,
        ]
        if context.inputs.count == 3 {
            result.append(context.needsGradient[2] ? try context.apply(ReduceToAxis(axis: 1), g) : nil)
        }
        return result
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let x = inputs[0], w = inputs[1]
        let g = ConvGeometry(input: x.shape, weight: w.shape, stride: stride, padding: padding)
        let outPlane = g.output.product, inPlane = g.input.product, taps = g.kernel.product, sw = g.stride.w, pw = g.padding.w
        let outputCount = g.batch * g.outChannels * outPlane
        var y = [T](repeating: 0, count: outputCount)
        let bias = inputs.count == 3 ? inputs[2].scalars : nil
        y.withUnsafeMutableBufferPointer { yBuffer in
            x.scalars.withUnsafeBufferPointer { xBuffer in
                w.scalars.withUnsafeBufferPointer { wBuffer in
                    let yp = SendablePointer(yBuffer.baseAddress!), xp = SendableConstPointer(xBuffer.baseAddress!)
                    let wp = SendableConstPointer(wBuffer.baseAddress!)
                    // One task per (sample, output channel): tasks write disjoint output planes.
                    parallelFor(g.batch * g.outChannels, work: outputCount * g.inChannels * taps) { task in
                        let n = task / g.outChannels, o = task % g.outChannels
                        let out = yp.base + task * outPlane
                        if let bias { out.update(repeating: bias[o], count: outPlane) }
                        for i in 0..<g.inChannels {
                            let input = xp.base + (n * g.inChannels + i) * inPlane
                            let weights = wp.base + (o * g.inChannels + i) * taps
                            g.forEachRow { outRow, inRow, tap, columns, c in
                                let weight = weights[tap]
                                let source = input + inRow + c - pw, target = out + outRow
                                for ow in columns { target[ow] += weight * source[ow * sw] }
                            }
                        }
                    }
                }
            }
        }
        return [Tensor(shape: [g.batch, g.outChannels, g.output.d, g.output.h, g.output.w], scalars: y)]
    }

    /// Fast `Float` kernel (direct or vol2col + sgemm, whichever measures faster for the shape); `reference` stays the plain-loop
    /// kernel for `Double` and for the fast-vs-reference tests.
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        let g = ConvGeometry(input: inputs[0].shape, weight: inputs[1].shape, stride: stride, padding: padding)
        let shape: Shape = [g.batch, g.outChannels, g.output.d, g.output.h, g.output.w]
        let bias = inputs.count == 3 ? inputs[2].scalars : []
        let y = [Float](unsafeUninitializedCapacity: shape.count) { buffer, count in
            inputs[0].scalars.withUnsafeBufferPointer { x in
                inputs[1].scalars.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        convolutionForward(
                            g, buffer.baseAddress!, x.baseAddress!, w.baseAddress!,
                            ConvEpilogue(bias: inputs.count == 3 ? b.baseAddress : nil, activation: nil))
                    }
                }
            }
            count = shape.count
        }
        return [Tensor(shape: shape, scalars: y)]
    }

    /// Multiply-adds of this convolution that do not fall on padding (for GFLOP/s reports).
    public func usefulMultiplyAdds(input: Shape, weight: Shape) -> Int {
        FastConv3D(ConvGeometry(input: input, weight: weight, stride: stride, padding: padding)).usefulMultiplyAdds
    }

    static let samples: [OperatorSample] = [
        OperatorSample("3x3x3 pad 1", Conv3D(padding: Triple(1)), [.uniform([2, 2, 3, 4, 5]), .uniform([3, 2, 3, 3, 3])]),
        OperatorSample(
            "bias, stride 2, odd sizes", Conv3D(stride: Triple(1, 2, 2), padding: Triple(0, 1, 1)),
            [.uniform([1, 3, 3, 5, 6]), .uniform([2, 3, 2, 3, 3]), .uniform([2])]),
        OperatorSample(
            "temporal 5, one channel", Conv3D(padding: Triple(2, 1, 1)),
            [.uniform([1, 1, 5, 3, 3]), .uniform([2, 1, 5, 3, 3]), .uniform([2])]),
        OperatorSample("temporal 1", Conv3D(padding: Triple(0, 1, 1)), [.uniform([2, 2, 2, 3, 4]), .uniform([2, 2, 1, 3, 3])]),
    ]
}

/// Backward-only: the gradient of a 3D convolution with respect to its input,
/// `dy [N, Cout, D', H', W']`, `weight [Cout, Cin, kD, kH, kW]` → `dx` of `inputShape`.
/// It is the transposed convolution; linear in both arguments.
public struct Conv3DBackwardData: ReferenceOperator {
    public let stride: Triple
    public let padding: Triple
    public let inputShape: Shape
    public init(stride: Triple, padding: Triple, inputShape: Shape) {
        self.stride = stride
        self.padding = padding
        self.inputShape = inputShape
    }

    public var name: String { "conv3d_backward_data" }
    public var attributes: KeyValuePairs<String, String> {
        ["stride": stride.description, "padding": padding.description, "input": inputShape.description]
    }

    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 2...2, name)
        let forward = try Conv3D(stride: stride, padding: padding).outputShapes(for: [inputShape, inputs[1]])[0]
        guard inputs[0] == forward else {
            throw ShapeError("\(name) expects dy \(forward) for input \(inputShape) and weight \(inputs[1]), got \(inputs[0])")
        }
        return [inputShape]
    }

    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let g = context.gradient, dy = context.inputs[0], w = context.inputs[1]
        return [
            context.needsGradient[0] ? try context.apply(Conv3D(stride: stride, padding: padding), g, w) : nil,
            context.needsGradient[1]
                ? try context.apply(Conv3DBackwardFilter(stride: stride, padding: padding, weightShape: context.shape(w)), dy, g)
                : nil,
        ]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let dy = inputs[0], w = inputs[1]
        let g = ConvGeometry(input: inputShape, weight: w.shape, stride: stride, padding: padding)
        let outPlane = g.output.product, inPlane = g.input.product, taps = g.kernel.product, sw = g.stride.w, pw = g.padding.w
        var dx = [T](repeating: 0, count: inputShape.count)
        dx.withUnsafeMutableBufferPointer { dxBuffer in
            dy.scalars.withUnsafeBufferPointer { dyBuffer in
                w.scalars.withUnsafeBufferPointer { wBuffer in
                    let dxp = SendablePointer(dxBuffer.baseAddress!), dyp = SendableConstPointer(dyBuffer.baseAddress!)
                    let wp = SendableConstPointer(wBuffer.baseAddress!)
                    // One task per (sample, input channel): tasks write disjoint input planes.
                    parallelFor(g.batch * g.inChannels, work: dy.scalars.count * g.inChannels * taps) { task in
                        let n = task / g.inChannels, i = task % g.inChannels
                        let target = dxp.base + task * inPlane
                        for o in 0..<g.outChannels {
                            let source = dyp.base + (n * g.outChannels + o) * outPlane
                            let weights = wp.base + (o * g.inChannels + i) * taps
                            g.forEachRow { outRow, inRow, tap, columns, c in
                                let weight = weights[tap]
                                let row = target + inRow + c - pw, gradient = source + outRow
                                for ow in columns { row[ow * sw] += weight * gradient[ow] }
                            }
                        }
                    }
                }
            }
        }
        return [Tensor(shape: inputShape, scalars: dx)]
    }

    /// Fast `Float` kernel (direct transposed convolution or sgemm + col2vol, whichever measures
    /// faster for the shape); `reference` is the plain-loop kernel.
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        let g = ConvGeometry(input: inputShape, weight: inputs[1].shape, stride: stride, padding: padding)
        let dx = [Float](unsafeUninitializedCapacity: inputShape.count) { buffer, count in
            inputs[0].scalars.withUnsafeBufferPointer { dy in
                inputs[1].scalars.withUnsafeBufferPointer { w in
                    convolutionBackwardData(g, buffer.baseAddress!, dy.baseAddress!, w.baseAddress!)
                }
            }
            count = inputShape.count
        }
        return [Tensor(shape: inputShape, scalars: dx)]
    }

    static let samples: [OperatorSample] = [
        OperatorSample(
            "3x3x3 pad 1", Conv3DBackwardData(stride: Triple(1), padding: Triple(1), inputShape: [2, 2, 3, 4, 5]),
            [.uniform([2, 3, 3, 4, 5]), .uniform([3, 2, 3, 3, 3])]),
        OperatorSample(
            "stride 2", Conv3DBackwardData(stride: Triple(1, 2, 2), padding: Triple(0, 1, 1), inputShape: [1, 3, 3, 5, 6]),
            [.uniform([1, 2, 2, 3, 3]), .uniform([2, 3, 2, 3, 3])]),
    ]
}

/// Backward-only: the gradient of a 3D convolution with respect to its weight,
/// `dy [N, Cout, D', H', W']`, `x [N, Cin, D, H, W]` → `dw` of `weightShape`. Linear in both arguments.
public struct Conv3DBackwardFilter: ReferenceOperator {
    public let stride: Triple
    public let padding: Triple
    public let weightShape: Shape
    public init(stride: Triple, padding: Triple, weightShape: Shape) {
        self.stride = stride
        self.padding = padding
        self.weightShape = weightShape
    }

    public var name: String { "conv3d_backward_filter" }
    public var attributes: KeyValuePairs<String, String> {
        ["stride": stride.description, "padding": padding.description, "weight": weightShape.description]
    }

    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 2...2, name)
        let forward = try Conv3D(stride: stride, padding: padding).outputShapes(for: [inputs[1], weightShape])[0]
        guard inputs[0] == forward else {
            throw ShapeError("\(name) expects dy \(forward) for input \(inputs[1]) and weight \(weightShape), got \(inputs[0])")
        }
        return [weightShape]
    }

    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let g = context.gradient, dy = context.inputs[0], x = context.inputs[1]
        return [
            context.needsGradient[0] ? try context.apply(Conv3D(stride: stride, padding: padding), x, g) : nil,
            context.needsGradient[1]
                ? try context.apply(Conv3DBackwardData(stride: stride, padding: padding, inputShape: context.shape(x)), dy, g)
                : nil,
        ]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let dy = inputs[0], x = inputs[1]
        let g = ConvGeometry(input: x.shape, weight: weightShape, stride: stride, padding: padding)
        let outPlane = g.output.product, inPlane = g.input.product, taps = g.kernel.product, sw = g.stride.w, pw = g.padding.w
        var dw = [T](repeating: 0, count: weightShape.count)
        dw.withUnsafeMutableBufferPointer { dwBuffer in
            dy.scalars.withUnsafeBufferPointer { dyBuffer in
                x.scalars.withUnsafeBufferPointer { xBuffer in
                    let dwp = SendablePointer(dwBuffer.baseAddress!), dyp = SendableConstPointer(dyBuffer.baseAddress!)
                    let xp = SendableConstPointer(xBuffer.baseAddress!)
                    // One task per output channel: tasks write disjoint filters.
                    parallelFor(g.outChannels, work: dy.scalars.count * g.inChannels * taps) { o in
                        for n in 0..<g.batch {
                            let gradient = dyp.base + (n * g.outChannels + o) * outPlane
                            for i in 0..<g.inChannels {
                                let input = xp.base + (n * g.inChannels + i) * inPlane
                                let filter = dwp.base + (o * g.inChannels + i) * taps
                                g.forEachRow { outRow, inRow, tap, columns, c in
                                    let row = input + inRow + c - pw, dyRow = gradient + outRow
                                    var sum: T = 0
                                    for ow in columns { sum += dyRow[ow] * row[ow * sw] }
                                    filter[tap] += sum
                                }
                            }
                        }
                    }
                }
            }
        }
        return [Tensor(shape: weightShape, scalars: dw)]
    }

    /// Fast `Float` kernel (vol2col + sgemm accumulating over tiles); `reference` is the plain-loop kernel.
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        let g = ConvGeometry(input: inputs[1].shape, weight: weightShape, stride: stride, padding: padding)
        let dw = [Float](unsafeUninitializedCapacity: weightShape.count) { buffer, count in
            inputs[0].scalars.withUnsafeBufferPointer { dy in
                inputs[1].scalars.withUnsafeBufferPointer { x in
                    convolutionBackwardFilter(g, buffer.baseAddress!, dy.baseAddress!, x.baseAddress!)
                }
            }
            count = weightShape.count
        }
        return [Tensor(shape: weightShape, scalars: dw)]
    }

    static let samples: [OperatorSample] = [
        OperatorSample(
            "3x3x3 pad 1", Conv3DBackwardFilter(stride: Triple(1), padding: Triple(1), weightShape: [3, 2, 3, 3, 3]),
            [.uniform([2, 3, 3, 4, 5]), .uniform([2, 2, 3, 4, 5])]),
        OperatorSample(
            "stride 2", Conv3DBackwardFilter(stride: Triple(1, 2, 2), padding: Triple(0, 1, 1), weightShape: [2, 3, 2, 3, 3]),
            [.uniform([1, 2, 2, 3, 3]), .uniform([1, 3, 3, 5, 6])]),
    ]
}

extension Conv3D: BufferEvaluable {
    public var preparedFrom: [Int] { [1] }

    /// The fast kernel writing straight into `outputs[0]` (what `evaluate` runs on its own arrays).
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = ConvGeometry(input: inputShapes[0], weight: inputShapes[1], stride: stride, padding: padding)
        let bias = inputs.count == 3 ? inputs[2].baseAddress : nil
        convolutionForward(
            g, outputs[0].baseAddress!, inputs[0].baseAddress!, inputs[1].baseAddress!, ConvEpilogue(bias: bias, activation: nil, prepared: context.prepared), scratch: scratch)
    }
}

extension Conv3DBackwardData: BufferEvaluable {
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = ConvGeometry(input: inputShape, weight: inputShapes[1], stride: stride, padding: padding)
        convolutionBackwardData(g, outputs[0].baseAddress!, inputs[0].baseAddress!, inputs[1].baseAddress!, scratch: scratch)
    }
}

extension Conv3DBackwardFilter: BufferEvaluable {
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = ConvGeometry(input: inputShapes[1], weight: weightShape, stride: stride, padding: padding)
        convolutionBackwardFilter(g, outputs[0].baseAddress!, inputs[0].baseAddress!, inputs[1].baseAddress!, scratch: scratch)
    }
}
