import Layers

/// An optimizer and its settings, with PyTorch's semantics and defaults (the paper: Adam, lr 1e-4).
public struct OptimizerConfig: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case sgd
        case adam
        /// Lookahead (k, alpha) wrapping Adam: the paper's "Lookahead+Adam".
        case lookaheadAdam = "lookahead_adam"
    }

    public var kind: Kind
    public var learningRate: Double
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var epsilon = 1e-8
    public var weightDecay = 0.0
    /// SGD's momentum (0: plain SGD) and Nesterov flag.
    public var momentum = 0.0
    public var nesterov = false
    public var lookaheadK = 5
    public var lookaheadAlpha = 0.5

    public init(kind: Kind, learningRate: Double = 1e-4) {
        self.kind = kind
        self.learningRate = learningRate
    }

    public static func adam(learningRate: Double = 1e-4, weightDecay: Double = 0) -> OptimizerConfig {
        var config = OptimizerConfig(kind: .adam, learningRate: learningRate)
        config.weightDecay = weightDecay
        return config
    }

    public static func lookaheadAdam(learningRate: Double = 1e-4, k: Int = 5, alpha: Double = 0.5) -> OptimizerConfig {
        var config = OptimizerConfig(kind: .lookaheadAdam, learningRate: learningRate)
        config.lookaheadK = k
        config.lookaheadAlpha = alpha
        return config
    }

    public static func sgd(learningRate: Double, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0) -> OptimizerConfig {
        var config = OptimizerConfig(kind: .sgd, learningRate: learningRate)
        config.momentum = momentum
        config.nesterov = nesterov
        config.weightDecay = weightDecay
        return config
    }

    /// Rejects settings PyTorch would reject, naming the field.
    public func validate() throws {
        func fail(_ field: String, _ message: String) throws -> Never { throw TrainingError.invalid("optimizer '\(field)': \(message)") }
        if !(learningRate > 0) || !learningRate.isFinite { try fail("learningRate", "expected a positive number, got \(learningRate)") }
        if !(0..<1).contains(beta1) || !(0..<1).contains(beta2) { try fail("betas", "expected values in [0, 1), got \(beta1), \(beta2)") }
        if !(epsilon >= 0) { try fail("epsilon", "expected ≥ 0, got \(epsilon)") }
        if !(weightDecay >= 0) { try fail("weightDecay", "expected ≥ 0, got \(weightDecay)") }
        if !(momentum >= 0) { try fail("momentum", "expected ≥ 0, got \(momentum)") }
        if nesterov && momentum == 0 { try fail("nesterov", "needs a momentum > 0") }
        if lookaheadK < 1 { try fail("lookaheadK", "expected ≥ 1, got \(lookaheadK)") }
        if !(0...1).contains(lookaheadAlpha) { try fail("lookaheadAlpha", "expected a value in [0, 1], got \(lookaheadAlpha)") }
    }

    /// Appends the optimizer step to `graph` as nodes and state updates: each parameter (and each
    /// optimizer state) takes its new value after a run. Returns the optimizer's state buffers
    /// (`optimizer.step`, `optimizer.<path>.exp_avg`, …) with their initial values; the session
    /// must hold them. The Lookahead slow weights start as copies of the parameters
    /// (`initialValues` fills them from the given parameter values).
    public func append(
        to graph: Graph, parameters: [VariableSpec], gradients: [String: Value]
    ) throws -> [VariableSpec] {
        try validate()
        var states: [VariableSpec] = []
        func state(_ name: String, _ shape: Shape, _ initial: Double = 0) throws -> Value {
            let value = try graph.leaf(.state, name, shape: shape)
            states.append(VariableSpec(path: name, shape: shape, initializer: .constant(initial), value: value))
            return value
        }
        let step = try state("optimizer.step", [1])
        let nextStep = try graph.apply(Affine(scale: 1, shift: 1), [step], scope: "optimizer")[0]
        try graph.update(step, to: nextStep)
        for parameter in parameters {
            guard let gradient = gradients[parameter.path] else {
                throw TrainingError.invalid("no gradient for parameter '\(parameter.path)'")
            }
            let scope = "optimizer.\(parameter.path)"
            var newValue: Value
            switch kind {
            case .sgd:
                let buffer = try state("\(scope).momentum_buffer", parameter.shape)
                let op = SGDUpdate(learningRate: learningRate, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
                let outputs = try graph.apply(op, [parameter.value, gradient, buffer, nextStep], scope: scope)
                newValue = outputs[0]
                try graph.update(buffer, to: outputs[1])
            case .adam, .lookaheadAdam:
                let m = try state("\(scope).exp_avg", parameter.shape), v = try state("\(scope).exp_avg_sq", parameter.shape)
                let op = AdamUpdate(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
                let outputs = try graph.apply(op, [parameter.value, gradient, m, v, nextStep], scope: scope)
                newValue = outputs[0]
                try graph.update(m, to: outputs[1])
                try graph.update(v, to: outputs[2])
            }
            if kind == .lookaheadAdam {
                let slow = try state("\(scope).slow", parameter.shape)
                let outputs = try graph.apply(LookaheadSync(k: lookaheadK, alpha: lookaheadAlpha), [newValue, slow, nextStep], scope: scope)
                newValue = outputs[0]
                try graph.update(slow, to: outputs[1])
            }
            try graph.update(parameter.value, to: newValue)
        }
        return states
    }

    /// Initial values of the optimizer's states: zeros, and the parameters themselves for
    /// Lookahead's slow weights.
    public static func initialValues(_ states: [VariableSpec], parameters: [String: Tensor<Float>]) -> [String: Tensor<Float>] {
        var values: [String: Tensor<Float>] = [:]
        for spec in states {
            if spec.path.hasSuffix(".slow"), let parameter = parameters[String(spec.path.dropFirst("optimizer.".count).dropLast(".slow".count))] {
                values[spec.path] = parameter
            } else {
                values[spec.path] = Tensor(repeating: 0, shape: spec.shape)
            }
        }
        return values
    }
}
