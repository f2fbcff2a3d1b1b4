import GraphCore

/// The element-wise activations. PReLU is built from `negativePart` and a learnable scale
/// (see `ScaleByScalar`), so that its slope is a parameter rather than an attribute.
public enum ActivationKind: Hashable, Sendable, Codable, CustomStringConvertible {
    case relu
    /// `x` for x > 0, `slope · x` otherwise (PyTorch's default slope is 0.01).
    case leakyRelu(slope: Double)
    /// `x` for x > 0, `alpha · (eˣ − 1)` otherwise.
    case elu(alpha: Double)
    /// `x · tanh(softplus(x))`.
    case mish
    /// `min(0, x)`.
    case negativePart

    public var description: String {
        switch self {
        case .relu: "relu"
        case let .leakyRelu(slope): "leaky_relu(\(slope))"
        case let .elu(alpha): "elu(\(alpha))"
        case .mish: "mish"
        case .negativePart: "negative_part"
        }
    }

    /// The `order`-th derivative at `x` (order 0 is the function itself). Kinks take the
    /// derivative from the left side, as PyTorch does at 0.
    @inline(__always)
    func derivative<T: KernelScalar>(_ x: T, order: Int) -> T {
        switch self {
        case .relu:
            return order == 0 ? max(x, 0) : (order == 1 && x > 0 ? 1 : 0)
        case let .leakyRelu(slope):
            let s = T(slope)
            return order == 0 ? (x > 0 ? x : s * x) : (order == 1 ? (x > 0 ? 1 : s) : 0)
        case let .elu(alpha):
            if x > 0 { return order == 0 ? x : (order == 1 ? 1 : 0) }
            let a = T(alpha)
            return order == 0 ? a * (T.exp(x) - 1) : a * T.exp(x)
        case .negativePart:
            return order == 0 ? min(x, 0) : (order == 1 && x < 0 ? 1 : 0)
        case .mish:
            return mishDerivative(x, order: order)
        }
    }
}

extension Optional where Wrapped == ActivationKind {
    /// The slope at and below 0 of an activation that is the identity above 0 and linear below
    /// (none, ReLU, leaky ReLU), so kernels can apply it with vector selects; nil for the others.
    var slopeBelowZero: Float? {
        switch self {
        case nil: 1
        case .relu?: 0
        case let .leakyRelu(slope)?: Float(slope)
        default: nil
        }
    }
}

/// Mish and its derivatives. Orders 0 and 1 have closed forms (the training path); higher orders
/// (needed only by gradient checks of gradients) come from a truncated Taylor series of
/// mish(x + ε) = (x + ε) · q(x + ε), with q = (e²ᵘ + 2eᵘ) / (e²ᵘ + 2eᵘ + 2) = tanh(softplus(u)).
@inline(__always)
func mishDerivative<T: KernelScalar>(_ x: T, order: Int) -> T {
    let softplus = x > 20 ? x : T.log(1 + T.exp(x))
    let t = T.tanh(softplus)
    if order == 0 { return x * t }
    let sigmoid = 1 / (1 + T.exp(-x))
    if order == 1 { return t + x * (1 - t * t) * sigmoid }
    if x > 20 { return 0 }  // mish(x) = x to working precision
    // Taylor coefficients of eᵘ at u = x + ε: eˣ / k!.
    let n = order + 1
    var e = [T](repeating: 0, count: n)
    e[0] = T.exp(x)
    for k in 1..<n { e[k] = e[k - 1] / T(k) }
    func product(_ a: [T], _ b: [T]) -> [T] {
        (0..<n).map { k in (0...k).reduce(T(0)) { $0 + a[$1] * b[k - $1] } }
    }
    let e2 = product(e, e)
    let numerator = (0..<n).map { e2[$0] + 2 * e[$0] }
    var denominator = numerator
    denominator[0] += 2
    var q = [T](repeating: 0, count: n)
    for k in 0..<n {
        var sum = numerator[k]
        for j in stride(from: 1, through: k, by: 1) { sum -= denominator[j] * q[k - j] }
        q[k] = sum / denominator[0]
    }
    // (x + ε) · q: coefficient k is x·q_k + q_{k−1}; the k-th derivative is k! times it.
    let coefficient = x * q[order] + q[order - 1]
    var factorial: T = 1
    for k in 1...order { factorial *= T(k) }
    return coefficient * factorial
}

/// An activation function applied element-wise.
public struct Activation: ReferenceOperator {
    public let kind: ActivationKind
    public init(_ kind: ActivationKind) { self.kind = kind }

    public var name: String { "activation" }
    public var attributes: KeyValuePairs<String, String> { ["kind": kind.description] }
    public var inPlaceInput: Int? { 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        return inputs
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(ActivationGradient(kind, order: 1), context.gradient, context.inputs[0])]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let kind = self.kind
        return [map(inputs[0]) { kind.derivative($0, order: 0) }]
    }

    static let samples: [OperatorSample] =
        [ActivationKind.relu, .leakyRelu(slope: 0.01), .elu(alpha: 1), .mish, .negativePart].map {
            OperatorSample("\($0)", Activation($0), [.awayFromZero([2, 3, 5])])
        } + [OperatorSample("mish wide range", Activation(.mish), [.uniform([4, 6], -4...4)])]
}

/// Backward-only: `dy · f⁽ᵒʳᵈᵉʳ⁾(x)`. Linear in `dy`; its own gradient with respect to `x` is the
/// next order, so gradients of gradients are exact too.
public struct ActivationGradient: ReferenceOperator {
    public let kind: ActivationKind
    public let order: Int
    public init(_ kind: ActivationKind, order: Int) {
        self.kind = kind
        self.order = order
    }

    public var name: String { "activation_gradient" }
    public var attributes: KeyValuePairs<String, String> { ["kind": kind.description, "order": "\(order)"] }
    public var inPlaceInput: Int? { 0 }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] { try sameShapes(inputs, name) }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        let g = context.gradient, dy = context.inputs[0], x = context.inputs[1]
        return [
            context.needsGradient[0] ? try context.apply(self, g, x) : nil,
            context.needsGradient[1]
                ? try context.apply(ActivationGradient(kind, order: order + 1), try context.apply(Multiply(), g, dy), x) : nil,
        ]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let kind = self.kind, order = self.order
        return [zipMap(inputs[0], inputs[1]) { dy, x in dy * kind.derivative(x, order: order) }]
    }

    static let samples: [OperatorSample] =
        [ActivationKind.relu, .leakyRelu(slope: 0.01), .elu(alpha: 1), .mish, .negativePart].flatMap { kind in
            [1, 2].map { order in
                OperatorSample(
                    "\(kind) order \(order)", ActivationGradient(kind, order: order),
                    [.uniform([2, 3, 4]), .awayFromZero([2, 3, 4])])
            }
        }
}

extension Activation: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let kind = self.kind
        mapBuffer(outputs[0], inputs[0]) { kind.derivative($0, order: 0) }
    }
}

extension ActivationGradient: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let kind = self.kind, order = self.order
        zipMapBuffer(outputs[0], inputs[0], inputs[1]) { dy, x in dy * kind.derivative(x, order: order) }
    }
}
