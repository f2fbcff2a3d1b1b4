import GraphCore

/// Training-mode Conv3D → BatchNorm → activation whose convolution output is not kept: the
/// backward pass computes it again from the input and the weights.
///
/// Inputs `x, weight[, bias], gamma, beta`; outputs `y` (normalised and activated), the batch
/// `mean` and the biased batch `variance` of the convolution's output, as `BatchNormActivation`.
/// The compiler emits it for training graphs where the convolution is cheap against the memory it
/// holds: the paper's first layer (3 input channels) does 81 multiply-adds per output element,
/// and its output is the largest value of the network (919 MiB at batch 30), which otherwise
/// lives from the forward pass to the end of the backward pass. Recomputing it costs one extra
/// forward of that layer per step.
public struct ConvBatchNormActivation: ReferenceOperator {
    public let stride: Triple, padding: Triple
    public let epsilon: Double
    public let activation: ActivationKind?
    public let hasBias: Bool

    public init(stride: Triple, padding: Triple, epsilon: Double, activation: ActivationKind?, hasBias: Bool) {
        self.stride = stride
        self.padding = padding
        self.epsilon = epsilon
        self.activation = activation
        self.hasBias = hasBias
    }

    public var name: String { "conv_batchnorm_activation" }
    public var attributes: KeyValuePairs<String, String> {
        [
            "stride": stride.description, "padding": padding.description, "epsilon": "\(epsilon)",
            "activation": activation?.description ?? "identity", "bias": "\(hasBias)",
        ]
    }

    var convolution: Conv3D { Conv3D(stride: stride, padding: padding) }
    var normalisation: BatchNormActivation { BatchNormActivation(epsilon: epsilon, activation: activation) }
    /// Index of `gamma` among the inputs.
    var gammaIndex: Int { hasBias ? 3 : 2 }

    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, (gammaIndex + 2)...(gammaIndex + 2), name)
        let convolved = try convolution.outputShapes(for: Array(inputs[..<gammaIndex]))[0]
        return try normalisation.outputShapes(for: [convolved] + inputs[gammaIndex...])
    }

    /// Recomputes the convolution, then the BatchNorm + activation backward and the convolution's.
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let graph = context.graph, scope = graph.nodes[context.node].scope + "/grad"
        let x = context.inputs[0], w = context.inputs[1]
        let convolved = try graph.apply(convolution, Array(context.inputs[..<gammaIndex]), scope: scope)[0]
        let gradients = try BatchNormActivation.outputGradients(context, scope: scope)
        let normalised = try graph.apply(
            BatchNormActivationBackward(epsilon: epsilon, activation: activation),
            [convolved, context.inputs[gammaIndex], context.inputs[gammaIndex + 1], context.outputs[1], context.outputs[2]] + gradients,
            scope: scope)
        let dy = normalised[0]
        var result: [Value?] = [
            context.needsGradient[0]
                ? try context.apply(Conv3DBackwardData(stride: stride, padding: padding, inputShape: context.shape(x)), dy, w) : nil,
            context.needsGradient[1]
                ? try context.apply(Conv3DBackwardFilter(stride: stride, padding: padding, weightShape: context.shape(w)), dy, x) : nil,
        ]
        if hasBias { result.append(context.needsGradient[2] ? try context.apply(ReduceToAxis(axis: 1), dy) : nil) }
        return result + [normalised[1], normalised[2]]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let convolved = convolution.reference(Array(inputs[..<gammaIndex]), context)[0]
        return normalisation.reference([convolved] + inputs[gammaIndex...], context)
    }

    static let samples: [OperatorSample] =
        [ActivationKind?.none, .relu, .elu(alpha: 1)].map { kind in
            OperatorSample(
                "\(kind?.description ?? "identity"), 3x3x3 pad 1, bias",
                ConvBatchNormActivation(stride: Triple(1), padding: Triple(1), epsilon: 1e-5, activation: kind, hasBias: true),
                [.uniform([2, 3, 2, 4, 3]), .uniform([4, 3, 3, 3, 3]), .uniform([4]), .positive([4]), .uniform([4])])
        } + [
            OperatorSample(
                "leaky relu, no bias, stride 2, padding (0,1,1)",
                ConvBatchNormActivation(
                    stride: Triple(1, 2, 2), padding: Triple(0, 1, 1), epsilon: 1e-3, activation: .leakyRelu(slope: 0.1), hasBias: false),
                [.uniform([2, 2, 2, 5, 4]), .uniform([3, 2, 1, 3, 3]), .positive([3]), .uniform([3])])
        ]
}

extension ConvBatchNormActivation: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }

    /// The convolution into output 0 (with the forward convolution's scratch), then BatchNorm + activation over it in place (each element is
    /// read before it is written): the convolution's output never needs memory of its own.
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = ConvGeometry(input: inputShapes[0], weight: inputShapes[1], stride: stride, padding: padding)
        let convolved = outputs[0]
        convolutionForward(
            g, convolved.baseAddress!, inputs[0].baseAddress!, inputs[1].baseAddress!,
            ConvEpilogue(bias: hasBias ? inputs[2].baseAddress : nil, activation: nil), scratch: scratch)
        normalisation.evaluate(
            into: outputs, [UnsafeBufferPointer(convolved), inputs[gammaIndex], inputs[gammaIndex + 1]],
            inputShapes: [[g.batch, g.outChannels, g.output.d, g.output.h, g.output.w], inputShapes[gammaIndex],
                inputShapes[gammaIndex + 1]], scratch: nil, context)
    }
}
