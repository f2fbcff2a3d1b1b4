import GraphCore

/// Training-mode BatchNorm + activation (`BatchNormActivation`) whose output goes only to a max
/// pool without padding (`MaxPool3DIndexed`): the activation is pooled plane by plane while the
/// plane is still in cache, so it is never written to memory and read back.
///
/// Inputs `x [N, C, D, H, W]`, `gamma [C]`, `beta [C]`. Outputs the pooled activation
/// `[N, C, D', H', W']`, the batch `mean [C]` and biased `variance [C]` (as `BatchNormActivation`),
/// and the maxima's offsets within their `[D, H, W]` plane (as `MaxPool3DIndexed`). The compiler's
/// fusion pass emits it in training graphs; on the paper's small configuration the first layer's
/// activation is 44 MiB at batch 30.
public struct BatchNormActivationMaxPool: ReferenceOperator {
    public let normalisation: BatchNormActivation
    public let pool: MaxPool3DIndexed

    public init(epsilon: Double, activation: ActivationKind?, kernel: Triple, stride: Triple) {
        normalisation = BatchNormActivation(epsilon: epsilon, activation: activation)
        pool = MaxPool3DIndexed(kernel: kernel, stride: stride)
    }

    public var name: String { "batchnorm_activation_max_pool3d" }
    public var attributes: KeyValuePairs<String, String> {
        [
            "epsilon": "\(normalisation.epsilon)", "activation": normalisation.activation?.description ?? "identity",
            "kernel": pool.kernel.description, "stride": pool.stride.description,
        ]
    }

    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 3...3, name)
        guard inputs[0].rank == 5 else { throw ShapeError("\(name) expects x [N, C, D, H, W], got \(inputs[0])") }
        let normalised = try normalisation.outputShapes(for: inputs)
        let pooled = try pool.outputShapes(for: [normalised[0]])
        return [pooled[0], normalised[1], normalised[2], pooled[1]]
    }

    /// Scatters the pooled gradient to the activation's shape (the offsets carry none), then
    /// BatchNorm + activation's backward.
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let graph = context.graph, scope = graph.nodes[context.node].scope + "/grad"
        let x = context.inputs[0], shape = context.shape(x)
        let pooledGradient =
            try context.outputGradients[0]
            ?? graph.apply(Fill(value: 0, shape: graph.shape(of: context.outputs[0])), [], scope: scope)[0]
        let dy = try context.apply(MaxPool3DIndexScatter(inputShape: shape), pooledGradient, context.outputs[3])
        let statistics = try [1, 2].map { position in
            try context.outputGradients[position]
                ?? graph.apply(Fill(value: 0, shape: graph.shape(of: context.outputs[position])), [], scope: scope)[0]
        }
        let results = try graph.apply(
            BatchNormActivationBackward(epsilon: normalisation.epsilon, activation: normalisation.activation),
            [x, context.inputs[1], context.inputs[2], context.outputs[1], context.outputs[2], dy] + statistics, scope: scope)
        return results.map { Optional($0) }
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let normalised = normalisation.reference(inputs, context)
        let pooled = pool.reference([normalised[0]], context)
        return [pooled[0], normalised[1], normalised[2], pooled[1]]
    }

    static let samples: [OperatorSample] = [
        OperatorSample(
            "relu, 1x2x2", BatchNormActivationMaxPool(epsilon: 1e-5, activation: .relu, kernel: Triple(1, 2, 2), stride: Triple(1, 2, 2)),
            [.distinct([2, 3, 2, 4, 6]), .positive([3]), .uniform([3])], absoluteTolerance: 1e-6, relativeTolerance: 1e-5),
        OperatorSample(
            "elu, 2x2x2, odd sizes", BatchNormActivationMaxPool(epsilon: 1e-3, activation: .elu(alpha: 1), kernel: Triple(2), stride: Triple(2)),
            [.distinct([3, 2, 3, 5, 7]), .positive([2]), .uniform([2])], absoluteTolerance: 1e-6, relativeTolerance: 1e-5),
    ]
}

extension BatchNormActivationMaxPool: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }

    /// Floats of scratch: one activation plane per worker.
    public static func scratchCount(input: Shape) -> Int {
        Scratch.floats(Array(repeating: input.dims[2...].reduce(1, *), count: KernelThreads.count))
    }

    /// Channels split over the workers; per channel the statistics, then per sample the
    /// normalised plane into the worker's scratch and the pool from there (the same arithmetic,
    /// so the same bits, as `BatchNormActivation` followed by `MaxPool3DIndexed`).
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let shape = inputShapes[0], batch = shape[0], channels = shape[1], plane = shape.count / (batch * channels)
        let pooled = try! outputShapes(for: inputShapes)[0]
        let geometry = PoolGeometry(
            input: [1, 1, shape[2], shape[3], shape[4]], output: [1, 1, pooled[2], pooled[3], pooled[4]], kernel: pool.kernel,
            stride: pool.stride, padding: Triple(0))
        let pooledPlane = pooled.count / (batch * channels), workers = KernelThreads.count
        let y = SendablePointer(outputs[0].baseAddress!), mean = SendablePointer(outputs[1].baseAddress!)
        let variance = SendablePointer(outputs[2].baseAddress!), offsets = SendablePointer(outputs[3].baseAddress!)
        let x = SendableConstPointer(inputs[0].baseAddress!), gamma = SendableConstPointer(inputs[1].baseAddress!)
        let beta = SendableConstPointer(inputs[2].baseAddress!)
        Scratch.with(scratch, floats: Self.scratchCount(input: shape)) { scratch in
            let planes = (0..<workers).map { _ in SendablePointer(scratch.take(plane)) }
            claimRanges(channels, workers: shape.count >= 1_000_000 ? workers : 1) { worker, range in
                let activation = planes[worker].base
                for c in range {
                    let (scale, offset) = normalisation.statistics(
                        x.base, channel: c, shape: shape, mean: mean.base, variance: variance.base, gamma: gamma.base, beta: beta.base)
                    for n in 0..<batch {
                        let index = n * channels + c
                        normalisation.normalise(activation, x.base + index * plane, count: plane, scale: scale, offset: offset)
                        geometry.maxOfWindows(y.base + index * pooledPlane, activation, offsets: offsets.base + index * pooledPlane, planes: 0..<1)
                    }
                }
            }
        }
    }
}
