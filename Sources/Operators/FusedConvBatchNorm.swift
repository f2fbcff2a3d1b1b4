import GraphCore

/// The activation a fused convolution applies in its epilogue.
public enum EpilogueActivation: Hashable, Sendable, CustomStringConvertible {
    case identity
    case function(ActivationKind)
    /// `max(0, x) + a·min(0, x)` with the slope `a` as the fused operator's last input (`[1]`).
    case prelu

    public var description: String {
        switch self {
        case .identity: "identity"
        case let .function(kind): kind.description
        case .prelu: "prelu"
        }
    }
}

/// Inference-only fusion of Conv3D → BatchNorm3D (running statistics) → activation.
///
/// Inputs: `x [N, Cin, D, H, W]`, `weight [Cout, Cin, kD, kH, kW]`, optional conv `bias [Cout]`,
/// then BatchNorm's `gamma`, `beta`, `running_mean`, `running_var` (each `[Cout]`), then the PReLU
/// slope `[1]` for `.prelu`. Output as the convolution's. The `Float` kernel folds the
/// normalisation into the weights and bias (`s = γ/√(var+ε)`, `w' = w·s`, `b' = (b − mean)·s + β`)
/// and applies the activation in the epilogue that writes the output, so the tensor is written
/// once. Not differentiable: the compiler emits it for inference graphs only.
public struct FusedConvBatchNorm: ReferenceOperator {
    public let stride: Triple
    public let padding: Triple
    public let epsilon: Double
    public let hasBias: Bool
    public let activation: EpilogueActivation

    public init(stride: Triple, padding: Triple, epsilon: Double, hasBias: Bool, activation: EpilogueActivation) {
        self.stride = stride
        self.padding = padding
        self.epsilon = epsilon
        self.hasBias = hasBias
        self.activation = activation
    }

    public var name: String { "fused_conv_batchnorm" }
    public var attributes: KeyValuePairs<String, String> {
        ["stride": stride.description, "padding": padding.description, "epsilon": "\(epsilon)", "bias": "\(hasBias)",
         "activation": activation.description]
    }

    private var statisticsStart: Int { hasBias ? 3 : 2 }
    private var inputCount: Int { statisticsStart + 4 + (activation == .prelu ? 1 : 0) }

    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, inputCount...inputCount, name)
        let conv = Conv3D(stride: stride, padding: padding)
        let y = try conv.outputShapes(for: Array(inputs[0..<statisticsStart]))[0]
        for index in statisticsStart..<(statisticsStart + 4) where inputs[index] != [y[1]] {
            throw ShapeError("\(name) expects BatchNorm vectors [\(y[1])], got \(inputs[index]) at input \(index)")
        }
        if activation == .prelu, inputs[inputCount - 1] != [1] {
            throw ShapeError("\(name) expects a PReLU slope [1], got \(inputs[inputCount - 1])")
        }
        return [y]
    }

    public func isDifferentiable(input index: Int) -> Bool { false }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        throw GraphError.invalid(
            "layer '\(context.graph.nodes[context.node].scope)' (\(name)): the fused inference operator has no backward rule; "
                + "fuse inference graphs only")
    }

    /// Conv3D, BatchNorm and activation one after another, in plain loops (the unfused semantics).
    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        var y = Conv3D(stride: stride, padding: padding).reference(Array(inputs[0..<statisticsStart]), context)[0]
        let s = statisticsStart
        let gamma = inputs[s].scalars, beta = inputs[s + 1].scalars, mean = inputs[s + 2].scalars, variance = inputs[s + 3].scalars
        let channels = y.shape[1], plane = y.shape.count / (y.shape[0] * channels)
        let slope = activation == .prelu ? inputs[inputCount - 1].scalars[0] : 0
        for n in 0..<y.shape[0] {
            for c in 0..<channels {
                let inverse = 1 / (variance[c] + T(epsilon)).squareRoot()
                for k in 0..<plane {
                    let index = (n * channels + c) * plane + k
                    let v = (y.scalars[index] - mean[c]) * (inverse * gamma[c]) + beta[c]
                    switch activation {
                    case .identity: y.scalars[index] = v
                    case let .function(kind): y.scalars[index] = kind.derivative(v, order: 0)
                    case .prelu: y.scalars[index] = max(v, 0) + slope * min(v, 0)
                    }
                }
            }
        }
        return [y]
    }

    /// Folded weights and bias, one fast convolution with the activation in its epilogue.
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        let g = ConvGeometry(input: inputs[0].shape, weight: inputs[1].shape, stride: stride, padding: padding)
        let s = statisticsStart, cout = g.outChannels, perFilter = inputs[1].shape.count / cout
        var weight = inputs[1].scalars
        var bias = [Float](repeating: 0, count: cout)
        for o in 0..<cout {
            let scale = inputs[s].scalars[o] / (inputs[s + 3].scalars[o] + Float(epsilon)).squareRoot()
            for k in 0..<perFilter { weight[o * perFilter + k] *= scale }
            bias[o] = ((hasBias ? inputs[2].scalars[o] : 0) - inputs[s + 2].scalars[o]) * scale + inputs[s + 1].scalars[o]
        }
        let kind: ActivationKind? =
            switch activation {
            case .identity: nil
            case let .function(kind): kind
            case .prelu: .leakyRelu(slope: Double(inputs[inputCount - 1].scalars[0]))
            }
        let shape: Shape = [g.batch, cout, g.output.d, g.output.h, g.output.w]
        let y = [Float](unsafeUninitializedCapacity: shape.count) { buffer, count in
            inputs[0].scalars.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        convolutionForward(g, buffer.baseAddress!, x.baseAddress!, w.baseAddress!, ConvEpilogue(bias: b.baseAddress, activation: kind))
                    }
                }
            }
            count = shape.count
        }
        return [Tensor(shape: shape, scalars: y)]
    }

    static let samples: [OperatorSample] =
        [EpilogueActivation.function(.relu), .function(.elu(alpha: 1)), .function(.leakyRelu(slope: 0.01)), .function(.mish)].map {
            OperatorSample(
                "\($0), 3x3x3 pad 1", FusedConvBatchNorm(stride: Triple(1), padding: Triple(1), epsilon: 1e-5, hasBias: true, activation: $0),
                [.uniform([2, 3, 3, 5, 6]), .uniform([4, 3, 3, 3, 3]), .uniform([4]), .uniform([4]), .uniform([4]), .uniform([4]),
                 .positive([4])])
        } + [
            OperatorSample(
                "prelu, no bias, stride 2, padding (0,1,1)",
                FusedConvBatchNorm(stride: Triple(1, 2, 2), padding: Triple(0, 1, 1), epsilon: 1e-5, hasBias: false, activation: .prelu),
                [.uniform([1, 2, 2, 7, 5]), .uniform([3, 2, 1, 3, 3]), .uniform([3]), .uniform([3]), .uniform([3]), .positive([3]),
                 .uniform([1])]),
            OperatorSample(
                "identity, one channel", FusedConvBatchNorm(stride: Triple(1), padding: Triple(1), epsilon: 1e-3, hasBias: true, activation: .identity),
                [.uniform([1, 1, 1, 3, 4]), .uniform([1, 1, 3, 3, 3]), .uniform([1]), .uniform([1]), .uniform([1]), .uniform([1]),
                 .positive([1])]),
        ]
}
