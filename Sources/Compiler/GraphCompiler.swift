import GraphCore

/// A graph after the compiler's passes, with its memory plan.
public struct CompiledGraph {
    public let graph: Graph
    /// The requested outputs, as values of `graph`.
    public let outputs: [Value]
    /// Old value → new value for every surviving value.
    public let values: [Value: Value]
    public let fusedCount: Int
    public let plan: MemoryPlan
    public let options: CompilerOptions
}

/// Runs the passes: fusion (inference graphs), then memory planning.
public enum GraphCompiler {
    public static func compile(
        _ graph: Graph, outputs: [Value], options: CompilerOptions = .fromEnvironment()
    ) throws -> CompiledGraph {
        var current = graph
        var values = Dictionary(uniqueKeysWithValues: graph.nodes.indices.flatMap { index in
            graph.nodes[index].outputShapes.indices.map { (Value(node: index, output: $0), Value(node: index, output: $0)) }
        })
        var fused = 0
        if options.fusion {
            let result = try FusionPass.run(current, outputs: outputs)
            current = result.graph
            values = values.compactMapValues { result.values[$0] }
            fused = result.fusedCount
        }
        let mapped = outputs.map { values[$0]! }
        let plan = MemoryPlanner.plan(current, outputs: mapped, options: options)
        return CompiledGraph(graph: current, outputs: mapped, values: values, fusedCount: fused, plan: plan, options: options)
    }
}
