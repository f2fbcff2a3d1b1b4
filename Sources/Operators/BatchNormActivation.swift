import GraphCore

/// Training-mode BatchNorm over the channels of `[N, C, …]` followed by an optional activation, in
/// two passes over memory: channel statistics, then normalise + scale + shift + activation.
///
/// Inputs `x [N, C, …]`, `gamma [C]`, `beta [C]`. Outputs `y` (shape of `x`), the batch `mean [C]`
/// and the biased batch `variance [C]` (for the running statistics). Matches the primitive
/// subgraph of the `BatchNorm3D` layer followed by `Activation`; the compiler's fusion pass emits
/// it for training graphs before autodiff, so its backward rule replaces a dozen primitive nodes.
public struct BatchNormActivation: ReferenceOperator {
    public let epsilon: Double
    public let activation: ActivationKind?
    public init(epsilon: Double, activation: ActivationKind?) {
        self.epsilon = epsilon
        self.activation = activation
    }

    public var name: String { "batchnorm_activation" }
    public var attributes: KeyValuePairs<String, String> { ["epsilon": "\(epsilon)", "activation": activation?.description ?? "identity"] }

    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 3...3, name)
        let x = inputs[0]
        guard x.rank >= 2, x.count / x[1] > 1 else { throw ShapeError("\(name) needs [N, C, …] with more than one value per channel, got \(x)") }
        guard inputs[1] == [x[1]], inputs[2] == [x[1]] else {
            throw ShapeError("\(name) expects gamma and beta [\(x[1])], got \(inputs[1]) and \(inputs[2])")
        }
        return [x, [x[1]], [x[1]]]
    }

    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let graph = context.graph, scope = graph.nodes[context.node].scope + "/grad"
        let x = context.inputs[0]
        let gradients = try Self.outputGradients(context, scope: scope)
        let backward = BatchNormActivationBackward(epsilon: epsilon, activation: activation)
        let results = try graph.apply(
            backward, [x, context.inputs[1], context.inputs[2], context.outputs[1], context.outputs[2]] + gradients, scope: scope)
        return results.map { Optional($0) }
    }

    /// The gradients arriving at the outputs (y, mean, variance), zeros where none flows: the last
    /// three inputs of `BatchNormActivationBackward`.
    static func outputGradients(_ context: BackwardContext, scope: String) throws -> [Value] {
        try context.outputGradients.enumerated().map { position, gradient in
            if let gradient { return gradient }
            return try context.graph.apply(Fill(value: 0, shape: context.graph.shape(of: context.outputs[position])), [], scope: scope)[0]
        }
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let x = inputs[0], channels = x.shape[1]
        var y = [T](repeating: 0, count: x.shape.count)
        var mean = [T](repeating: 0, count: channels), variance = [T](repeating: 0, count: channels)
        y.withUnsafeMutableBufferPointer { yBuffer in
            mean.withUnsafeMutableBufferPointer { meanBuffer in
                variance.withUnsafeMutableBufferPointer { varianceBuffer in
                    x.scalars.withUnsafeBufferPointer { xBuffer in
                        inputs[1].scalars.withUnsafeBufferPointer { gammaBuffer in
                            inputs[2].scalars.withUnsafeBufferPointer { betaBuffer in
                                kernel(
                                    yBuffer.baseAddress!, meanBuffer.baseAddress!, varianceBuffer.baseAddress!, xBuffer.baseAddress!,
                                    gammaBuffer.baseAddress!, betaBuffer.baseAddress!, shape: x.shape)
                            }
                        }
                    }
                }
            }
        }
        return [Tensor(shape: x.shape, scalars: y), Tensor(shape: [channels], scalars: mean), Tensor(shape: [channels], scalars: variance)]
    }

    /// `y [N, C, …]`, `mean [C]`, `variance [C]` from `x` of `shape`, `gamma [C]`, `beta [C]`; shared by
    /// the reference (both precisions) and the buffer kernel.
    @_specialize(where T == Float) @_specialize(where T == Double)
    func kernel<T: KernelScalar>(
        _ y: UnsafeMutablePointer<T>, _ mean: UnsafeMutablePointer<T>, _ variance: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>,
        _ gamma: UnsafePointer<T>, _ beta: UnsafePointer<T>, shape: Shape
    ) {
        let channels = shape[1], batch = shape[0], plane = shape.count / (batch * channels)
        let count = Double(batch * plane), eps = epsilon, activation = self.activation
        let yp = SendablePointer(y), xp = SendableConstPointer(x)
        let mp = SendablePointer(mean), vp = SendablePointer(variance)
        let gp = SendableConstPointer(gamma), bp = SendableConstPointer(beta)
        // One task per channel: each reads and writes its own planes.
        parallelFor(channels, work: 4 * shape.count) { c in
            // Pass 1: statistics, accumulated in Double (shifted by the first value for stability).
            let shift = Double(xp.base[c * plane])
            var sum = 0.0, squares = 0.0
            for n in 0..<batch {
                let row = xp.base + (n * channels + c) * plane
                for k in 0..<plane {
                    let v = Double(row[k]) - shift
                    sum += v
                    squares += v * v
                }
            }
            let m = sum / count
            let v = max(squares / count - m * m, 0)
            mp.base[c] = T(m + shift)
            vp.base[c] = T(v)
            // Pass 2: y = act(γ·(x − mean)/√(var + ε) + β).
            let scale = gp.base[c] / T(v + eps).squareRoot(), offset = bp.base[c] - T(m + shift) * scale
            for n in 0..<batch {
                let row = xp.base + (n * channels + c) * plane, out = yp.base + (n * channels + c) * plane
                if let activation {
                    for k in 0..<plane { out[k] = activation.derivative(row[k] * scale + offset, order: 0) }
                } else {
                    for k in 0..<plane { out[k] = row[k] * scale + offset }
                }
            }
        }
    }

    static let samples: [OperatorSample] =
        [ActivationKind?.none, .relu, .elu(alpha: 1), .leakyRelu(slope: 0.01), .mish].map { kind in
            OperatorSample(
                "\(kind?.description ?? "identity")", BatchNormActivation(epsilon: 1e-5, activation: kind),
                [.uniform([3, 4, 2, 3, 2]), .positive([4]), .uniform([4])], absoluteTolerance: 1e-6, relativeTolerance: 1e-5)
        } + [
            OperatorSample("batch 1, one channel", BatchNormActivation(epsilon: 1e-3, activation: .relu), [.uniform([1, 1, 7]), .positive([1]), .uniform([1])],
                absoluteTolerance: 1e-6, relativeTolerance: 1e-5),
            // Planes of 8-lane vectors and a tail (the Float kernel's vector path).
            OperatorSample("leaky_relu, plane of 39", BatchNormActivation(epsilon: 1e-5, activation: .leakyRelu(slope: 0.1)),
                [.uniform([2, 3, 3, 13]), .positive([3]), .uniform([3])], absoluteTolerance: 1e-6, relativeTolerance: 1e-5),
            OperatorSample("elu, plane of 24", BatchNormActivation(epsilon: 1e-5, activation: .elu(alpha: 1)),
                [.uniform([2, 2, 4, 6]), .positive([2]), .uniform([2])], absoluteTolerance: 1e-6, relativeTolerance: 1e-5),
        ]
}

/// Backward-only: gradients of `BatchNormActivation` in two passes over memory (channel sums,
/// then `dx`). Inputs `x, gamma, beta, mean, variance, dy, dmean, dvariance`; outputs
/// `dx, dgamma, dbeta`. With `x̂ = (x − mean)/σ`, `g = dy · act′(γx̂ + β)`:
/// `dβ = Σg`, `dγ = Σg·x̂`, `dx = γ/(σm)·(m·g − dβ − x̂·dγ) + dmean/m + 2·dvar·(x − mean)/m`.
/// Not differentiable itself: training needs first-order gradients only.
public struct BatchNormActivationBackward: ReferenceOperator {
    public let epsilon: Double
    public let activation: ActivationKind?
    public init(epsilon: Double, activation: ActivationKind?) {
        self.epsilon = epsilon
        self.activation = activation
    }

    public var name: String { "batchnorm_activation_backward" }
    /// `dx` may take `dy`'s memory: the second pass reads each `dy` element just before writing
    /// that element of `dx`.
    public var inPlaceInput: Int? { 5 }
    public var attributes: KeyValuePairs<String, String> { ["epsilon": "\(epsilon)", "activation": activation?.description ?? "identity"] }

    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 8...8, name)
        let x = inputs[0]
        guard x.rank >= 2 else { throw ShapeError("\(name) expects x [N, C, …], got \(x)") }
        let vector: Shape = [x[1]]
        guard inputs[5] == x, [1, 2, 3, 4, 6, 7].allSatisfy({ inputs[$0] == vector }) else {
            throw ShapeError("\(name) expects x and dy \(x) and channel vectors \(vector), got \(inputs)")
        }
        return [x, vector, vector]
    }

    public func isDifferentiable(input index: Int) -> Bool { false }
    public func backward(_ context: BackwardContext) throws -> [Value?] { Array(repeating: nil, count: context.inputs.count) }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let x = inputs[0], channels = x.shape[1]
        var dx = [T](repeating: 0, count: x.shape.count)
        var dgamma = [T](repeating: 0, count: channels), dbeta = [T](repeating: 0, count: channels)
        let vectors = (1...4).map { inputs[$0].scalars } + [inputs[6].scalars, inputs[7].scalars]
        dx.withUnsafeMutableBufferPointer { dxBuffer in
            dgamma.withUnsafeMutableBufferPointer { dgBuffer in
                dbeta.withUnsafeMutableBufferPointer { dbBuffer in
                    x.scalars.withUnsafeBufferPointer { xBuffer in
                        inputs[5].scalars.withUnsafeBufferPointer { dyBuffer in
                            let vectors = vectors
                            kernel(dxBuffer.baseAddress!, dgBuffer.baseAddress!, dbBuffer.baseAddress!, xBuffer.baseAddress!, dyBuffer.baseAddress!,
                                shape: x.shape) { vectors[$0][$1] }
                        }
                    }
                }
            }
        }
        return [Tensor(shape: x.shape, scalars: dx), Tensor(shape: [channels], scalars: dgamma), Tensor(shape: [channels], scalars: dbeta)]
    }

    /// `dx`, `dgamma`, `dbeta` from `x` of `shape`, `dy`, and `vector(k, c)`: element `c` of gamma,
    /// beta, mean, variance, dmean, dvariance for k = 0…5. Shared by the reference and the buffer kernel.
    @_specialize(where T == Float) @_specialize(where T == Double)
    func kernel<T: KernelScalar>(
        _ dx: UnsafeMutablePointer<T>, _ dgamma: UnsafeMutablePointer<T>, _ dbeta: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>,
        _ dy: UnsafePointer<T>, shape: Shape, vector: @Sendable (Int, Int) -> T
    ) {
        let channels = shape[1], batch = shape[0], plane = shape.count / (batch * channels)
        let count = T(batch * plane), eps = T(epsilon), activation = self.activation
        let dxp = SendablePointer(dx), xp = SendableConstPointer(x), dyp = SendableConstPointer(dy)
        let dgp = SendablePointer(dgamma), dbp = SendablePointer(dbeta)
        parallelFor(channels, work: 6 * shape.count) { c in
            let gamma = vector(0, c), beta = vector(1, c), mean = vector(2, c)
            let inverse = 1 / (vector(3, c) + eps).squareRoot()
            @inline(__always) func g(_ xv: T, _ dyv: T) -> T {
                guard let activation else { return dyv }
                return dyv * activation.derivative(gamma * (xv - mean) * inverse + beta, order: 1)
            }
            // Pass 1: Σg and Σg·x̂ (in Double).
            var sumG = 0.0, sumGX = 0.0
            for n in 0..<batch {
                let offset = (n * channels + c) * plane
                let row = xp.base + offset, dyRow = dyp.base + offset
                for k in 0..<plane {
                    let gv = Double(g(row[k], dyRow[k]))
                    sumG += gv
                    sumGX += gv * Double((row[k] - mean) * inverse)
                }
            }
            dbp.base[c] = T(sumG)
            dgp.base[c] = T(sumGX)
            // Pass 2: dx.
            let factor = gamma * inverse / count, db = T(sumG), dg = T(sumGX)
            let meanTerm = vector(4, c) / count, varianceTerm = 2 * vector(5, c) / count
            for n in 0..<batch {
                let offset = (n * channels + c) * plane
                let row = xp.base + offset, dyRow = dyp.base + offset, out = dxp.base + offset
                for k in 0..<plane {
                    let centered = row[k] - mean
                    out[k] = factor * (count * g(row[k], dyRow[k]) - db - centered * inverse * dg) + meanTerm
                        + varianceTerm * centered
                }
            }
        }
    }

    static let samples: [OperatorSample] = [ActivationKind?.none, .relu, .mish].map { kind in
        OperatorSample(
            "\(kind?.description ?? "identity")", BatchNormActivationBackward(epsilon: 1e-5, activation: kind),
            [.uniform([2, 3, 2, 5]), .positive([3]), .uniform([3]), .uniform([3]), .positive([3]), .uniform([2, 3, 2, 5]), .uniform([3]),
             .uniform([3])])
    } + [
        // Planes of 8-lane vectors and a tail (the Float kernel's vector path).
        OperatorSample(
            "leaky_relu, plane of 39", BatchNormActivationBackward(epsilon: 1e-5, activation: .leakyRelu(slope: 0.1)),
            [.uniform([2, 2, 3, 13]), .positive([2]), .uniform([2]), .uniform([2]), .positive([2]), .uniform([2, 2, 3, 13]), .uniform([2]),
             .uniform([2])]),
        OperatorSample(
            "relu, plane of 1203 (sums over runs of 512)", BatchNormActivationBackward(epsilon: 1e-5, activation: .relu),
            [.uniform([2, 2, 3, 401]), .positive([2]), .uniform([2]), .uniform([2]), .positive([2]), .uniform([2, 2, 3, 401]), .uniform([2]),
             .uniform([2])]),
    ]
}

extension BatchNormActivation: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        vectorKernel(
            outputs[0].baseAddress!, outputs[1].baseAddress!, outputs[2].baseAddress!, inputs[0].baseAddress!, inputs[1].baseAddress!,
            inputs[2].baseAddress!, shape: inputShapes[0])
    }

    /// `kernel` in 8-lane vectors (`statistics`, `normalise`). The generic kernel's per-element
    /// Double chains and activation calls took ~19 ms of the small network's 35 ms first layer at
    /// batch 30.
    private func vectorKernel(
        _ y: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ variance: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>, shape: Shape
    ) {
        let channels = shape[1], batch = shape[0], plane = shape.count / (batch * channels)
        let yp = SendablePointer(y), xp = SendableConstPointer(x)
        let mp = SendablePointer(mean), vp = SendablePointer(variance)
        let gp = SendableConstPointer(gamma), bp = SendableConstPointer(beta)
        parallelFor(channels, work: 4 * shape.count) { c in
            let (scale, offset) = statistics(xp.base, channel: c, shape: shape, mean: mp.base, variance: vp.base, gamma: gp.base, beta: bp.base)
            for n in 0..<batch {
                let at = (n * channels + c) * plane
                normalise(yp.base + at, xp.base + at, count: plane, scale: scale, offset: offset)
            }
        }
    }

    /// Channel `c`'s batch mean and biased variance of `x` (`shape` `[N, C, …]`), stored at
    /// `mean[c]` and `variance[c]`, and the normalisation's scale and offset. The sums widen
    /// each 8-lane vector to Double: the generic kernel's shifted Double sums, in lane order.
    func statistics(
        _ x: UnsafePointer<Float>, channel c: Int, shape: Shape, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
    ) -> (scale: Float, offset: Float) {
        typealias W = SIMD8<Double>
        let channels = shape[1], batch = shape[0], plane = shape.count / (batch * channels), count = Double(batch * plane)
        let shift = Double(x[c * plane]), shifts = W(repeating: shift)
        var sums = W(), squares = W(), sum = 0.0, square = 0.0
        for n in 0..<batch {
            let row = x + (n * channels + c) * plane
            var k = 0
            while k + 8 <= plane {
                let v = W(UnsafeRawPointer(row + k).loadUnaligned(as: SIMD8<Float>.self)) - shifts
                sums += v
                squares += v * v
                k += 8
            }
            while k < plane {
                let v = Double(row[k]) - shift
                sum += v
                square += v * v
                k += 1
            }
        }
        let m = (sums.sum() + sum) / count
        let v = max((squares.sum() + square) / count - m * m, 0)
        mean[c] = Float(m + shift)
        variance[c] = Float(v)
        let scale = gamma[c] / Float(v + epsilon).squareRoot()
        return (scale, beta[c] - Float(m + shift) * scale)
    }

    /// `out[k] = act(row[k]·scale + offset)` for `count` elements: identity, ReLU and leaky ReLU
    /// in 8-lane vectors with selects, other activations per element.
    @inline(__always)
    func normalise(_ out: UnsafeMutablePointer<Float>, _ row: UnsafePointer<Float>, count: Int, scale: Float, offset: Float) {
        guard let slope = activation.slopeBelowZero else {
            if let activation { for k in 0..<count { out[k] = activation.derivative(row[k] * scale + offset, order: 0) } }
            return
        }
        typealias V = SIMD8<Float>
        var k = 0
        while k + 8 <= count {
            let value = UnsafeRawPointer(row + k).loadUnaligned(as: V.self) * scale + offset
            UnsafeMutableRawPointer(out + k).storeBytes(of: value.replacing(with: value * slope, where: value .<= 0), as: V.self)
            k += 8
        }
        while k < count {
            let value = row[k] * scale + offset
            out[k] = value > 0 ? value : value * slope
            k += 1
        }
    }
}

extension BatchNormActivationBackward: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        // Inputs 1…4 and 6, 7 are the channel vectors.
        let vectors = [1, 2, 3, 4, 6, 7].map { SendableConstPointer(inputs[$0].baseAddress!) }
        guard let slope = activation.slopeBelowZero else {
            return kernel(
                outputs[0].baseAddress!, outputs[1].baseAddress!, outputs[2].baseAddress!, inputs[0].baseAddress!, inputs[5].baseAddress!,
                shape: inputShapes[0]) { vectors[$0].base[$1] }
        }
        piecewiseLinearKernel(
            outputs[0].baseAddress!, outputs[1].baseAddress!, outputs[2].baseAddress!, inputs[0].baseAddress!, inputs[5].baseAddress!,
            shape: inputShapes[0], slope: slope) { vectors[$0].base[$1] }
    }

    /// `kernel` for an activation whose derivative is 1 above 0 and `slope` below (identity, ReLU,
    /// leaky ReLU), in 8-lane vectors with selects: the generic kernel's per-element Double sums
    /// and activation calls made it ~3 GB/s on the paper's first layer. Sums run in `Float` vectors
    /// over runs of at most 512 elements, then in Double.
    private func piecewiseLinearKernel(
        _ dx: UnsafeMutablePointer<Float>, _ dgamma: UnsafeMutablePointer<Float>, _ dbeta: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, shape: Shape, slope: Float, vector: @Sendable (Int, Int) -> Float
    ) {
        typealias V = SIMD8<Float>
        let channels = shape[1], batch = shape[0], plane = shape.count / (batch * channels)
        let count = Float(batch * plane), eps = Float(epsilon)
        let dxp = SendablePointer(dx), xp = SendableConstPointer(x), dyp = SendableConstPointer(dy)
        let dgp = SendablePointer(dgamma), dbp = SendablePointer(dbeta)
        parallelFor(channels, work: 6 * shape.count) { c in
            let gamma = vector(0, c), beta = vector(1, c), mean = vector(2, c)
            let inverse = 1 / (vector(3, c) + eps).squareRoot()
            // g = dy · f'(γ·(x − mean)·inverse + β): dy where that value is above 0, slope · dy
            // elsewhere; the value is rounded as the generic kernel rounds it, so kinks agree.
            @inline(__always) func g(_ xv: V, _ dyv: V) -> V {
                dyv.replacing(with: dyv * slope, where: gamma * (xv - mean) * inverse + beta .<= 0)
            }
            @inline(__always) func g(_ xv: Float, _ dyv: Float) -> Float { gamma * (xv - mean) * inverse + beta > 0 ? dyv : slope * dyv }
            var sumG = 0.0, sumGX = 0.0
            for n in 0..<batch {
                let offset = (n * channels + c) * plane
                let row = xp.base + offset, dyRow = dyp.base + offset
                var k = 0
                while k < plane {
                    let end = min(plane, k + 512)
                    var accG = V(), accGX = V(), tailG: Float = 0, tailGX: Float = 0
                    while k + 8 <= end {
                        let xv = UnsafeRawPointer(row + k).loadUnaligned(as: V.self), dyv = UnsafeRawPointer(dyRow + k).loadUnaligned(as: V.self)
                        let gv = g(xv, dyv)
                        accG += gv
                        accGX = accGX.addingProduct(gv, (xv - mean) * inverse)
                        k += 8
                    }
                    while k < end {
                        let gv = g(row[k], dyRow[k])
                        tailG += gv
                        tailGX += gv * ((row[k] - mean) * inverse)
                        k += 1
                    }
                    sumG += Double(accG.sum() + tailG)
                    sumGX += Double(accGX.sum() + tailGX)
                }
            }
            dbp.base[c] = Float(sumG)
            dgp.base[c] = Float(sumGX)
            let factor = gamma * inverse / count, db = Float(sumG), dg = Float(sumGX)
            let meanTerm = vector(4, c) / count, varianceTerm = 2 * vector(5, c) / count
            for n in 0..<batch {
                let offset = (n * channels + c) * plane
                let row = xp.base + offset, dyRow = dyp.base + offset, out = dxp.base + offset
                var k = 0
                while k + 8 <= plane {
                    let xv = UnsafeRawPointer(row + k).loadUnaligned(as: V.self), dyv = UnsafeRawPointer(dyRow + k).loadUnaligned(as: V.self)
                    let centered = xv - mean
                    let value = factor * (count * g(xv, dyv) - db - centered * inverse * dg) + meanTerm + varianceTerm * centered
                    UnsafeMutableRawPointer(out + k).storeBytes(of: value, as: V.self)
                    k += 8
                }
                while k < plane {
                    let centered = row[k] - mean
                    out[k] = factor * (count * g(row[k], dyRow[k]) - db - centered * inverse * dg) + meanTerm + varianceTerm * centered
                    k += 1
                }
            }
        }
    }
}
