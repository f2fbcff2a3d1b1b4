import GraphCore
import Operators

/// A graph after the compiler's passes, with its memory plan.
public struct CompiledGraph {
    public let graph: Graph
    /// The requested outputs, as values of `graph`.
    public let outputs: [Value]
    /// Old value → new value for every surviving value of the input graph.
    public let values: [Value: Value]
    public let fusedCount: Int
    public let plan: MemoryPlan
    public let options: CompilerOptions
}

/// Runs the passes: fusion, (for training) autodiff and the update, then memory planning.
public enum GraphCompiler {
    /// Compiles a graph as it is (inference, or a training graph that already holds its updates).
    public static func compile(
        _ graph: Graph, outputs: [Value], options: CompilerOptions = .fromEnvironment()
    ) throws -> CompiledGraph {
        let (current, values, fused) = try fuse(graph, outputs: outputs, options: options)
        let mapped = outputs.map { values[$0]! }
        let plan = MemoryPlanner.plan(current, outputs: mapped, options: options)
        return CompiledGraph(graph: current, outputs: mapped, values: values, fusedCount: fused, plan: plan, options: options)
    }

    /// Compiles a training step from a forward graph with a scalar `loss` and no gradients yet:
    /// fusion first (so autodiff uses the fused backward rules), then the gradients of every
    /// parameter and a plain SGD update (`p ← p − lr·∇p`, as `BuiltModel.addSGDStep`), then the
    /// memory plan over forward, backward and update together. Outputs: `[loss]`.
    public static func compileTraining(
        _ graph: Graph, loss: Value, learningRate: Double, options: CompilerOptions = .fromEnvironment()
    ) throws -> CompiledGraph {
        guard graph.mode == .training else { throw GraphError.invalid("compileTraining needs a training graph, got \(graph.mode)") }
        let (current, values, fused) = try fuse(graph, outputs: [loss], options: options)
        let newLoss = values[loss]!
        let parameters = current.leaves(of: .parameter).map(\.value)
        let gradients = try current.gradients(of: newLoss, withRespectTo: parameters)
        for parameter in parameters {
            let scope = current.nodes[parameter.node].scope + "/sgd"
            let step = try current.apply(Affine(scale: -learningRate), [gradients[parameter]!], scope: scope)[0]
            try current.update(parameter, to: try current.apply(Add(), [parameter, step], scope: scope)[0])
        }
        let plan = MemoryPlanner.plan(current, outputs: [newLoss], options: options)
        return CompiledGraph(graph: current, outputs: [newLoss], values: values, fusedCount: fused, plan: plan, options: options)
    }

    private static func fuse(_ graph: Graph, outputs: [Value], options: CompilerOptions) throws -> (Graph, [Value: Value], Int) {
        let identity = Dictionary(uniqueKeysWithValues: graph.nodes.indices.flatMap { index in
            graph.nodes[index].outputShapes.indices.map { (Value(node: index, output: $0), Value(node: index, output: $0)) }
        })
        guard options.fusion else { return (graph, identity, 0) }
        let result = try FusionPass.run(graph, outputs: outputs, recomputeAbove: options.recomputeAbove)
        return (result.graph, result.values, result.fusedCount)
    }
}
