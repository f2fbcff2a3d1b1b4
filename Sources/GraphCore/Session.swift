/// Holds the values of a graph's parameters and states and runs the graph on inputs, applying
/// the graph's state updates (BatchNorm statistics, optimizer steps) after each run.
public final class Session {
    public let graph: Graph
    /// Parameter and state values by leaf name.
    public private(set) var values: [String: Tensor<Float>]
    /// Seed of random operators (dropout); with `step`, it fixes every mask.
    public let seed: UInt64
    /// Number of completed runs that applied updates.
    public private(set) var step: Int

    /// `values` must hold every parameter and state leaf of `graph` with its shape.
    public init(graph: Graph, values: [String: Tensor<Float>], seed: UInt64 = 0, step: Int = 0) throws {
        for kind in [Leaf.Kind.parameter, .state] {
            for (name, value) in graph.leaves(of: kind) {
                guard let tensor = values[name] else {
                    throw GraphError.binding(name: name, message: "the session has no value for this \(kind.rawValue)")
                }
                guard tensor.shape == graph.shape(of: value) else {
                    throw GraphError.binding(name: name, message: "expected shape \(graph.shape(of: value)), got \(tensor.shape)")
                }
            }
        }
        self.graph = graph
        self.values = values
        self.seed = seed
        self.step = step
    }

    /// Evaluates `outputs` for the given inputs. With `applyUpdates`, also computes the state
    /// updates and stores them (one training step).
    public func run(
        _ outputs: [Value], inputs: [String: Tensor<Float>], applyUpdates: Bool = true
    ) throws -> [Value: Tensor<Float>] {
        let updates = applyUpdates ? graph.stateUpdates : []
        var bindings = values
        for (name, tensor) in inputs { bindings[name] = tensor }
        let context = EvaluationContext(seed: seed, step: step)
        let results = try Interpreter<Float>(graph: graph).run(outputs + updates.map(\.value), bindings: bindings, context: context)
        for update in updates {
            guard let leaf = graph.leafInfo(update.target.node) else { continue }
            values[leaf.leafName] = results[update.value]!
        }
        if !updates.isEmpty { step += 1 }
        return results
    }
}
