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
/// normalisation into a filter scale and a bias (`s = γ/√(var+ε)`, `w' = w·s` as the convolution
/// packs its weights, `b' = (b − mean)·s + β`) and applies the activation in the epilogue that
/// writes the output, so the tensor is written once. Not differentiable: the compiler emits it for inference graphs only.
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

    /// The folded scale and bias, one fast convolution with the activation in its epilogue.
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        let shapes = inputs.map(\.shape)
        let output = (try? outputShapes(for: shapes))![0]
        let folded = 2 * shapes[1][0]
        var scratch = [Float](repeating: 0, count: folded)
        let y = [Float](unsafeUninitializedCapacity: output.count) { buffer, count in
            withBuffers(inputs) { pointers in
                scratch.withUnsafeMutableBufferPointer { s in
                    evaluate(into: [buffer], pointers, inputShapes: shapes, scratch: s, context)
                }
            }
            count = output.count
        }
        return [Tensor(shape: output, scalars: y)]
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

extension FusedConvBatchNorm: BufferEvaluable {
    /// The weights, gamma and variance: what the filter scale and the kernel's packed or transformed weights derive from.
    public var preparedFrom: [Int] { [1, statisticsStart, statisticsStart + 3] }

    /// Folds the statistics into a per-channel filter scale and a bias held at the end of
    /// `scratch` (the planner reserves them after the convolution's own), which the convolution
    /// applies as it packs its weights and writes its output: the scaled filter is never written out.
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let g = ConvGeometry(input: inputShapes[0], weight: inputShapes[1], stride: stride, padding: padding)
        let s = statisticsStart, cout = g.outChannels
        let scratch = scratch!
        precondition(scratch.count >= 2 * cout, "fused_conv_batchnorm: scratch too small")
        // The filter scale [Cout], then the folded bias [Cout].
        let scale = scratch.baseAddress! + (scratch.count - 2 * cout), bias = scale + cout
        for o in 0..<cout {
            scale[o] = inputs[s][o] / (inputs[s + 3][o] + Float(epsilon)).squareRoot()
            bias[o] = ((hasBias ? inputs[2][o] : 0) - inputs[s + 2][o]) * scale[o] + inputs[s + 1][o]
        }
        let kind: ActivationKind? =
            switch activation {
            case .identity: nil
            case let .function(kind): kind
            case .prelu: .leakyRelu(slope: Double(inputs[inputCount - 1][0]))
            }
        let convolutionScratch = UnsafeMutableBufferPointer(rebasing: scratch[..<(scratch.count - 2 * cout)])
        convolutionForward(
            g, outputs[0].baseAddress!, inputs[0].baseAddress!, inputs[1].baseAddress!, ConvEpilogue(bias: bias, activation: kind, scale: scale, prepared: context.prepared),
            scratch: convolutionScratch)
    }
}
