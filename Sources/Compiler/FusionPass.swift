import GraphCore
import Operators

/// Fuses Conv3D → BatchNorm3D → activation of inference graphs into `FusedConvBatchNorm`.
///
/// It matches the primitive subgraph the `BatchNorm3D` layer emits in inference mode —
/// `(conv + spread(−mean)) · spread(rsqrt(var) · γ) + spread(β)` — rather than a layer marker, so
/// graphs built by any front end (or read back from a description) fuse the same way and the
/// graph keeps one kind of node. Every intermediate value must have a single consumer; otherwise
/// the nodes stay as they are. The activation is one `Activation` node (ReLU, ELU, LeakyReLU,
/// Mish) or PReLU's `relu(y) + slope · negative_part(y)`; without one the BatchNorm alone folds.
public enum FusionPass {
    public struct Result {
        /// The rewritten graph: same leaves (names, order), fused nodes in place of the patterns.
        public let graph: Graph
        /// Old value → new value, for every value that survives (graph outputs among them).
        public let values: [Value: Value]
        /// Number of fused operators emitted.
        public let fusedCount: Int
    }

    /// Rewrites `graph`; `outputs` are values the caller reads (never fused away). Training graphs
    /// come back unchanged (their BatchNorm uses batch statistics).
    public static func run(_ graph: Graph, outputs: [Value]) throws -> Result {
        var uses: [Value: Int] = [:]
        var consumers: [Value: [Int]] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for input in node.inputs {
                uses[input, default: 0] += 1
                consumers[input, default: []].append(index)
            }
        }
        for update in graph.stateUpdates { uses[update.value, default: 0] += 1 }
        for output in outputs { uses[output, default: 0] += 1 }

        var fused: [Int: (op: any Operator, inputs: [Value], scope: String)] = [:]
        var skipped: Set<Int> = []
        if graph.mode == .inference {
            for index in graph.nodes.indices where graph.nodes[index].op is Operators.Conv3D {
                if let match = matchPattern(conv: index, graph, uses, consumers) {
                    fused[match.final] = (match.op, match.inputs, graph.nodes[index].scope)
                    skipped.formUnion(match.nodes.filter { $0 != match.final })
                }
            }
        }

        let rewritten = Graph(mode: graph.mode)
        var map: [Value: Value] = [:]
        for (index, node) in graph.nodes.enumerated() where !skipped.contains(index) {
            if let leaf = node.op as? Leaf {
                map[Value(node: index)] = try rewritten.leaf(leaf.kind, leaf.leafName, shape: leaf.shape)
            } else if let replacement = fused[index] {
                map[Value(node: index)] = try rewritten.apply(replacement.op, replacement.inputs.map { map[$0]! }, scope: replacement.scope)[0]
            } else {
                let values = try rewritten.apply(node.op, node.inputs.map { map[$0]! }, scope: node.scope)
                for (position, value) in values.enumerated() { map[Value(node: index, output: position)] = value }
            }
        }
        for update in graph.stateUpdates { try rewritten.update(map[update.target]!, to: map[update.value]!) }
        return Result(graph: rewritten, values: map, fusedCount: fused.count)
    }

    private struct Match {
        let op: FusedConvBatchNorm
        let inputs: [Value]
        /// Every node of the pattern; `final` produces the fused value.
        let nodes: [Int]
        let final: Int
    }

    private static func matchPattern(
        conv: Int, _ graph: Graph, _ uses: [Value: Int], _ consumers: [Value: [Int]]
    ) -> Match? {
        let nodes = graph.nodes
        /// The only consumer of `value`, if it has exactly one use.
        func single(_ value: Value) -> Int? {
            uses[value] == 1 ? consumers[value]?.first : nil
        }
        /// The vector spread by a single-use `BroadcastAxis(axis: 1, scale: scale)` node.
        func spread(_ value: Value, scale: Double) -> Value? {
            guard uses[value] == 1, let op = nodes[value.node].op as? BroadcastAxis, op.axis == 1, op.scale == scale else { return nil }
            return nodes[value.node].inputs[0]
        }
        let convolution = nodes[conv].op as! Operators.Conv3D
        let convOut = Value(node: conv)
        guard let centered = single(convOut), nodes[centered].op is Add, nodes[centered].inputs[0] == convOut,
            let mean = spread(nodes[centered].inputs[1], scale: -1),
            let scaled = single(Value(node: centered)), nodes[scaled].op is Multiply, nodes[scaled].inputs[0] == Value(node: centered),
            let scale = spread(nodes[scaled].inputs[1], scale: 1), uses[scale] == 1, nodes[scale.node].op is Multiply,
            let rsqrtValue = Optional(nodes[scale.node].inputs[0]), uses[rsqrtValue] == 1,
            let rsqrt = nodes[rsqrtValue.node].op as? Rsqrt,
            let shifted = single(Value(node: scaled)), nodes[shifted].op is Add, nodes[shifted].inputs[0] == Value(node: scaled),
            let beta = spread(nodes[shifted].inputs[1], scale: 1)
        else { return nil }
        let gamma = nodes[scale.node].inputs[1], variance = nodes[rsqrtValue.node].inputs[0]
        var pattern = [
            conv, centered, nodes[centered].inputs[1].node, scaled, nodes[scaled].inputs[1].node, scale.node, rsqrtValue.node, shifted,
            nodes[shifted].inputs[1].node,
        ]
        let normalised = Value(node: shifted)
        var activation = EpilogueActivation.identity
        var final = shifted
        var slope: Value?
        let readers = uses[normalised] == consumers[normalised]?.count ? consumers[normalised] ?? [] : []
        if readers.count == 1, let act = nodes[readers[0]].op as? Activation, act.kind != .negativePart {
            activation = .function(act.kind)
            final = readers[0]
            pattern.append(final)
        } else if readers.count == 2,
            let positive = readers.first(where: { (nodes[$0].op as? Activation)?.kind == .relu }),
            let negative = readers.first(where: { (nodes[$0].op as? Activation)?.kind == .negativePart }),
            let product = single(Value(node: negative)), nodes[product].op is ScaleByScalar,
            nodes[product].inputs[0] == Value(node: negative),
            let sum = single(Value(node: positive)), nodes[sum].op is Add,
            nodes[sum].inputs == [Value(node: positive), Value(node: product)],
            single(Value(node: product)) == sum
        {
            activation = .prelu
            slope = nodes[product].inputs[1]
            final = sum
            pattern += [positive, negative, product, sum]
        }
        let convInputs = nodes[conv].inputs
        let op = FusedConvBatchNorm(
            stride: convolution.stride, padding: convolution.padding, epsilon: rsqrt.epsilon, hasBias: convInputs.count == 3,
            activation: activation)
        return Match(op: op, inputs: convInputs + [gamma, beta, mean, variance] + (slope.map { [$0] } ?? []), nodes: pattern, final: final)
    }
}
