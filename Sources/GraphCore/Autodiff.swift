/// Reverse-mode automatic differentiation as a graph transformation: backward nodes are
/// appended to the same graph.
///
/// Only nodes that both depend on a requested target and feed the loss are differentiated, and a
/// backward rule is asked only for the input gradients that lead to a target. Where a value feeds
/// several nodes, its gradients are summed with `accumulate`. The operators module provides the
/// usual entry point, `Graph.gradients(of:withRespectTo:)`, which supplies the seed and `Add`.
public enum Autodiff {
    /// Gradients of `output` (seeded with `seed`, same shape) with respect to `targets`.
    /// A target the output does not depend on is absent from the result.
    public static func gradients(
        of output: Value, seed: Value, withRespectTo targets: [Value], in graph: Graph,
        accumulate: (Value, Value) throws -> Value
    ) throws -> [Value: Value] {
        let forwardCount = output.node + 1
        let targetSet = Set(targets)

        // Nodes whose outputs depend on a target through differentiable inputs.
        var dependsOnTarget = [Bool](repeating: false, count: forwardCount)
        for index in 0..<forwardCount {
            let node = graph.nodes[index]
            if targetSet.contains(where: { $0.node == index }) { dependsOnTarget[index] = true; continue }
            dependsOnTarget[index] = node.inputs.enumerated().contains { position, input in
                node.op.isDifferentiable(input: position) && input.node < forwardCount && dependsOnTarget[input.node]
            }
        }
        // Nodes the output depends on.
        var feedsOutput = [Bool](repeating: false, count: forwardCount)
        feedsOutput[output.node] = true
        for index in stride(from: forwardCount - 1, through: 0, by: -1) where feedsOutput[index] {
            for input in graph.nodes[index].inputs { feedsOutput[input.node] = true }
        }

        var pending: [Value: Value] = [output: seed]
        func add(_ gradient: Value, to value: Value) throws {
            guard graph.shape(of: gradient) == graph.shape(of: value) else {
                throw GraphError.invalid(
                    "backward rule of '\(graph.nodes[value.node].scope)' (\(graph.nodes[value.node].op.name)) "
                        + "produced a gradient of shape \(graph.shape(of: gradient)) for a value of shape \(graph.shape(of: value))")
            }
            if let existing = pending[value] {
                pending[value] = try accumulate(existing, gradient)
            } else {
                pending[value] = gradient
            }
        }

        for index in stride(from: forwardCount - 1, through: 0, by: -1)
        where dependsOnTarget[index] && feedsOutput[index] {
            let node = graph.nodes[index]
            let outputs = node.outputShapes.indices.map { Value(node: index, output: $0) }
            let outputGradients = outputs.map { pending[$0] }
            guard outputGradients.contains(where: { $0 != nil }), !(node.op is Leaf) else { continue }
            let needs = node.inputs.enumerated().map { position, input in
                node.op.isDifferentiable(input: position) && dependsOnTarget[input.node]
            }
            guard needs.contains(true) else { continue }
            let context = BackwardContext(
                graph: graph, node: index, inputs: node.inputs, outputs: outputs,
                outputGradients: outputGradients, needsGradient: needs)
            let inputGradients = try node.op.backward(context)
            guard inputGradients.count == node.inputs.count else {
                throw GraphError.invalid(
                    "backward rule of \(node.op.name) returned \(inputGradients.count) gradients for \(node.inputs.count) inputs")
            }
            for (position, gradient) in inputGradients.enumerated() where needs[position] {
                if let gradient { try add(gradient, to: node.inputs[position]) }
            }
        }
        var result: [Value: Value] = [:]
        for target in targets { result[target] = pending[target] }
        return result
    }
}
