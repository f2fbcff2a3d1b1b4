import GraphCore
import Operators

/// Fuses Conv3D → BatchNorm3D → activation of inference graphs into `FusedConvBatchNorm`, and
/// BatchNorm3D → activation of training graphs (before autodiff) into `BatchNormActivation`.
/// In training graphs it also puts `MaxPool3DIndexed` in place of `MaxPool3D`: the backward then
/// needs the window maxima's offsets instead of the pool's input, which is freed after the pool.
/// A pool without padding that alone reads a BatchNorm + activation joins it
/// (`BatchNormActivationMaxPool`): the activation is then never written out.
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
    /// must not hold gradients yet: fusing first lets autodiff use the fused backward rule.
    /// `recomputeAbove`: bytes a cheap convolution's output must exceed before the backward pass
    /// recomputes it instead of keeping it (`recomputeLimit`).
    public static func run(_ graph: Graph, outputs: [Value], recomputeAbove: Int = recomputeBytes) throws -> Result {
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

        // Emission node → the fused operator, its inputs, and the old values its outputs replace.
        var fused: [Int: (op: any Operator, inputs: [Value], scope: String, replaces: [Value])] = [:]
        var skipped: Set<Int> = []
        if graph.mode == .inference {
            for index in graph.nodes.indices where graph.nodes[index].op is Operators.Conv3D {
                if let match = matchPattern(conv: index, graph, uses, consumers) {
                    fused[match.final] = (match.op, match.inputs, graph.nodes[index].scope, [Value(node: match.final)])
                    skipped.formUnion(match.nodes.filter { $0 != match.final })
                }
            }
        } else {
            for index in graph.nodes.indices where (graph.nodes[index].op as? ReduceToAxis)?.axis == 1 {
                if let match = matchTraining(mean: index, graph, uses, consumers) {
                    fused[index] = (match.op, match.inputs, graph.nodes[index].scope, match.replaces)
                    skipped.formUnion(match.nodes.filter { $0 != index })
                    if let conv = recomputable(match.inputs[0], readers: Set(match.nodes), above: recomputeAbove, graph, uses, consumers) {
                        let op = ConvBatchNormActivation(
                            stride: conv.op.stride, padding: conv.op.padding, epsilon: match.op.epsilon, activation: match.op.activation,
                            hasBias: graph.nodes[conv.node].inputs.count == 3)
                        fused[index] = (op, graph.nodes[conv.node].inputs + match.inputs[1...], graph.nodes[conv.node].scope, match.replaces)
                        skipped.insert(conv.node)
                    }
                }
            }
            // Each BatchNorm + activation and the node it is emitted at, by the value of its activation.
            let normalised = Dictionary(
                fused.compactMap { key, entry in (entry.op as? BatchNormActivation).map { (entry.replaces[0], (key: key, op: $0)) } }) { a, _ in a }
            for index in graph.nodes.indices {
                guard let pool = graph.nodes[index].op as? Operators.MaxPool3D else { continue }
                let indexed = MaxPool3DIndexed(kernel: pool.kernel, stride: pool.stride, padding: pool.padding)
                guard (try? indexed.outputShapes(for: graph.nodes[index].inputs.map(graph.shape(of:)))) != nil else { continue }
                let input = graph.nodes[index].inputs[0]
                if pool.padding == Triple(0), uses[input] == 1, let bn = normalised[input], let entry = fused[bn.key] {
                    // The activation goes only to this pool: pool it while each plane is in cache.
                    let op = BatchNormActivationMaxPool(epsilon: bn.op.epsilon, activation: bn.op.activation, kernel: pool.kernel, stride: pool.stride)
                    fused[bn.key] = (op, entry.inputs, entry.scope, [Value(node: index)] + entry.replaces[1...])
                    skipped.insert(index)
                    continue
                }
                fused[index] = (indexed, graph.nodes[index].inputs, graph.nodes[index].scope, [Value(node: index)])
            }
        }

        let rewritten = Graph(mode: graph.mode)
        var map: [Value: Value] = [:]
        for (index, node) in graph.nodes.enumerated() where !skipped.contains(index) {
            if let leaf = node.op as? Leaf {
                map[Value(node: index)] = try rewritten.leaf(leaf.kind, leaf.leafName, shape: leaf.shape)
            } else if let replacement = fused[index] {
                let values = try rewritten.apply(replacement.op, replacement.inputs.map { map[$0]! }, scope: replacement.scope)
                for (old, new) in zip(replacement.replaces, values) { map[old] = new }
            } else {
                let values = try rewritten.apply(node.op, node.inputs.map { map[$0]! }, scope: node.scope)
                for (position, value) in values.enumerated() { map[Value(node: index, output: position)] = value }
            }
        }
        for update in graph.stateUpdates { try rewritten.update(map[update.target]!, to: map[update.value]!) }
        return Result(graph: rewritten, values: map, fusedCount: fused.count)
    }

    /// Multiply-adds per output element at most for a convolution whose output is recomputed in the
    /// backward pass rather than kept (`ConvBatchNormActivation`): the paper's first layer (3 input
    /// channels × 27 taps = 81) and nothing deeper.
    static let recomputeLimit = 128
    /// Output bytes above which such a convolution is recomputed (64 MiB): the paper's first layer
    /// at full size (128 MiB at batch 4, 919 MiB at 30) but not the small configuration's (44 MiB
    /// at batch 30), where keeping it saves a forward convolution per step (~2 % of the step).
    public static let recomputeBytes = 64 << 20

    /// The Conv3D producing `value`, when only `readers` (a BatchNorm pattern) read it, it is cheap
    /// enough to compute again, and its output is larger than `above` bytes.
    private static func recomputable(
        _ value: Value, readers: Set<Int>, above: Int, _ graph: Graph, _ uses: [Value: Int], _ consumers: [Value: [Int]]
    ) -> (node: Int, op: Operators.Conv3D)? {
        guard let op = graph.nodes[value.node].op as? Operators.Conv3D, let readersOfValue = consumers[value],
            uses[value] == readersOfValue.count, readersOfValue.allSatisfy(readers.contains),
            graph.shape(of: value).count * MemoryLayout<Float>.stride > above
        else { return nil }
        let weight = graph.shape(of: graph.nodes[value.node].inputs[1])
        guard weight.rank == 5, weight[1] * weight[2] * weight[3] * weight[4] <= recomputeLimit else { return nil }
        return (value.node, op)
    }

    /// The training BatchNorm3D subgraph whose batch mean is node `mean`:
    /// `c = x − spread(mean)`, `var = Σc²/m`, `y = c · spread(rsqrt(var) · γ) + spread(β)`, then an
    /// optional activation. `mean` and `var` may have other readers (the running statistics).
    private static func matchTraining(
        mean: Int, _ graph: Graph, _ uses: [Value: Int], _ consumers: [Value: [Int]]
    ) -> (op: BatchNormActivation, inputs: [Value], nodes: [Int], replaces: [Value])? {
        let nodes = graph.nodes
        func single(_ value: Value) -> Int? { uses[value] == 1 ? consumers[value]?.first : nil }
        func spread(_ value: Value, scale: Double) -> Value? {
            guard uses[value] == 1, let op = nodes[value.node].op as? BroadcastAxis, op.axis == 1, op.scale == scale else { return nil }
            return nodes[value.node].inputs[0]
        }
        let meanValue = Value(node: mean), x = nodes[mean].inputs[0], shape = graph.shape(of: x)
        guard shape.rank >= 2 else { return nil }
        let elements = Double(shape.count / shape[1])
        func isMean(_ index: Int) -> Bool {
            guard let op = nodes[index].op as? ReduceToAxis, op.axis == 1 else { return false }
            return abs(op.scale * elements - 1) < 1e-9
        }
        guard isMean(mean),
            let centered = (consumers[meanValue] ?? []).compactMap({ reader -> Int? in
                guard let add = single(Value(node: reader)), nodes[add].op is Add,
                    nodes[add].inputs == [x, Value(node: reader)], spread(Value(node: reader), scale: -1) == meanValue
                else { return nil }
                return add
            }).first,
            uses[Value(node: centered)] == 2, let readers = consumers[Value(node: centered)],
            let square = readers.first(where: { nodes[$0].op is Square }), let scaled = readers.first(where: { nodes[$0].op is Multiply }),
            nodes[scaled].inputs[0] == Value(node: centered),
            let variance = single(Value(node: square)), isMean(variance),
            let rsqrtNode = (consumers[Value(node: variance)] ?? []).first(where: { nodes[$0].op is Rsqrt }),
            let rsqrt = nodes[rsqrtNode].op as? Rsqrt,
            let scaleNode = single(Value(node: rsqrtNode)), nodes[scaleNode].op is Multiply,
            nodes[scaleNode].inputs[0] == Value(node: rsqrtNode),
            spread(nodes[scaled].inputs[1], scale: 1) == Value(node: scaleNode), single(Value(node: scaleNode)) == nodes[scaled].inputs[1].node,
            let shifted = single(Value(node: scaled)), nodes[shifted].op is Add, nodes[shifted].inputs[0] == Value(node: scaled),
            let beta = spread(nodes[shifted].inputs[1], scale: 1)
        else { return nil }
        let gamma = nodes[scaleNode].inputs[1]
        guard [x, gamma, beta].allSatisfy({ $0.node < mean }), graph.shape(of: gamma) == [shape[1]] else { return nil }
        var pattern = [
            mean, nodes[centered].inputs[1].node, centered, square, variance, rsqrtNode, scaleNode, nodes[scaled].inputs[1].node, scaled,
            shifted, nodes[shifted].inputs[1].node,
        ]
        var final = shifted
        var activation: ActivationKind?
        let normalised = Value(node: shifted)
        if let reader = single(normalised), let act = nodes[reader].op as? Activation, act.kind != .negativePart {
            activation = act.kind
            final = reader
            pattern.append(reader)
        }
        return (
            BatchNormActivation(epsilon: rsqrt.epsilon, activation: activation), [x, gamma, beta], pattern,
            [Value(node: final), meanValue, Value(node: variance)]
        )
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
