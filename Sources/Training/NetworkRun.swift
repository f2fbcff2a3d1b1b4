import Layers

/// One evaluation of a network on given inputs, optionally with gradients: what `emotion3d run`
/// computes. The gradients are those of sum(output × upstream) with respect to the input and every
/// parameter (upstream = ones when not given).
public struct NetworkRun {
    public var output: Tensor<Float>
    /// `input` and every parameter path → gradient (empty unless asked).
    public var gradients: [String: Tensor<Float>]
    /// BatchNorm running statistics after the run (training mode only).
    public var statesAfter: [String: Tensor<Float>]

    /// Runs `architecture` with `weights` (parameters and states by path) on `input` `[N, C, D, H, W]`.
    public static func evaluate(
        architecture: Architecture, weights: [String: Tensor<Float>], input: Tensor<Float>, upstream: Tensor<Float>? = nil,
        gradients: Bool = false, trainingMode: Bool = false, seed: UInt64 = 0
    ) throws -> NetworkRun {
        guard input.shape.rank == 5, Shape(Array(input.shape.dims.dropFirst())) == architecture.inputShape else {
            throw TrainingError.invalidData("input is \(input.shape), the architecture '\(architecture.name)' expects [N] + \(architecture.inputShape)")
        }
        let built = try architecture.model.build(
            batchSize: input.shape[0], mode: trainingMode ? .training : .inference, initialization: architecture.initialization)
        let graph = built.graph
        var feeds = ["input": input]
        var fetch = [built.logits]
        var gradientValues: [String: Value] = [:]
        if gradients {
            let upstreamValue = try graph.leaf(.input, "upstream", shape: graph.shape(of: built.logits))
            let upstream = upstream ?? Tensor(repeating: 1, shape: graph.shape(of: built.logits))
            guard upstream.shape == graph.shape(of: built.logits) else {
                throw TrainingError.invalidData("upstream is \(upstream.shape), the output is \(graph.shape(of: built.logits))")
            }
            feeds["upstream"] = upstream
            let objective = try graph.apply(SumOfProducts(shape: []), [built.logits, upstreamValue], scope: "objective")[0]
            let targets = [built.input] + built.parameters.map(\.value)
            let result = try graph.gradients(of: objective, withRespectTo: targets)
            gradientValues["input"] = result[built.input]!
            for parameter in built.parameters { gradientValues[parameter.path] = result[parameter.value]! }
            fetch += gradientValues.values
        }
        for spec in built.parameters + built.states where weights[spec.path] == nil {
            throw TrainingError.invalidData("no value for '\(spec.path)' (expected shape \(spec.shape))")
        }
        let session = try Session(graph: graph, values: weights.filter { graph.leaves[$0.key] != nil }, seed: seed)
        let values = try session.run(fetch, inputs: feeds, applyUpdates: trainingMode)
        var statesAfter: [String: Tensor<Float>] = [:]
        if trainingMode { for spec in built.states { statesAfter[spec.path] = session.values[spec.path] } }
        return NetworkRun(output: values[built.logits]!, gradients: gradientValues.mapValues { values[$0]! }, statesAfter: statesAfter)
    }
}
