import Dispatch

/// Runs a graph node by node with the operators' reference kernels.
///
/// It evaluates only what the requested outputs need and frees each value after its last use,
/// so the full-size network fits in memory. `T` is `Float` for real runs and `Double` for
/// finite-difference checks.
public struct Interpreter<T: KernelScalar> {
    public let graph: Graph

    public init(graph: Graph) { self.graph = graph }

    /// Evaluates `outputs` given the leaf values in `bindings` (by leaf name). `observe`, when
    /// given, learns each evaluated node and the seconds its kernel took (profiles).
    public func run(
        _ outputs: [Value], bindings: [String: Tensor<T>], context: EvaluationContext = EvaluationContext(),
        observe: ((_ node: Int, _ seconds: Double) -> Void)? = nil
    ) throws -> [Value: Tensor<T>] {
        // Which nodes are needed, and the last node that reads each value.
        var needed = [Bool](repeating: false, count: graph.nodes.count)
        for output in outputs { needed[output.node] = true }
        var lastUse: [Value: Int] = [:]
        for index in stride(from: graph.nodes.count - 1, through: 0, by: -1) where needed[index] {
            for input in graph.nodes[index].inputs {
                needed[input.node] = true
                if lastUse[input] == nil { lastUse[input] = index }
            }
        }
        let keep = Set(outputs)

        var values: [Value: Tensor<T>] = [:]
        for index in graph.nodes.indices where needed[index] {
            let node = graph.nodes[index]
            if let leaf = node.op as? Leaf {
                guard let bound = bindings[leaf.leafName] else {
                    throw GraphError.binding(name: leaf.leafName, message: "no value was given (\(leaf.kind.rawValue) of shape \(leaf.shape))")
                }
                guard bound.shape == leaf.shape else {
                    throw GraphError.binding(name: leaf.leafName, message: "expected shape \(leaf.shape), got \(bound.shape)")
                }
                values[Value(node: index)] = bound
                continue
            }
            var context = context
            context.node = index
            let inputs = node.inputs.map { values[$0]! }
            let start = observe == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let results = node.op.evaluateGeneric(inputs, context)
            if let observe { observe(index, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            for (position, result) in results.enumerated() {
                values[Value(node: index, output: position)] = result
            }
            for input in node.inputs where lastUse[input] == index && !keep.contains(input) {
                values[input] = nil
            }
        }
        return values.filter { keep.contains($0.key) }
    }
}
