import Dispatch
import GraphCore
import Operators

/// A graph compiled once and run many times inside one arena laid out by the `MemoryPlanner`.
///
/// Every intermediate value lives at its planned offset; parameters, states and inputs live in
/// buffers of their own that the program owns (their addresses never change, so each node's
/// argument list is built once, at compilation). Operators adopting `BufferEvaluable` write
/// straight into the arena; the others run their allocating kernel and are copied into their slot
/// (counted by `fallbackEvaluations`). Results are bitwise those of `Interpreter<Float>`.
public final class Program {
    public let graph: Graph
    /// The values `run` returns.
    public let outputs: [Value]
    public let plan: MemoryPlan
    /// Seed of random operators (dropout), as `Session.seed`.
    public let seed: UInt64
    /// Start of the arena (`plan.arenaBytes` bytes, 64-byte aligned), fixed for the program's life.
    public let arena: UnsafeMutableRawPointer
    /// Node evaluations so far that went through an allocating kernel (operators without a buffer kernel).
    public private(set) var fallbackEvaluations = 0

    /// Names of the planned operators that have no buffer kernel (each run evaluates them through
    /// an allocating kernel and a copy).
    public var fallbackOperators: Set<String> { Set(steps.filter { $0.buffered == nil }.map(\.op.name)) }

    /// One node's kernel call, its arguments resolved to fixed addresses.
    private struct Step {
        let node: Int
        let op: any Operator
        let buffered: (any BufferEvaluable)?
        let inputs: [UnsafeBufferPointer<Float>]
        let outputs: [UnsafeMutableBufferPointer<Float>]
        let inputShapes: [Shape]
        let outputShapes: [Shape]
        let scratch: UnsafeMutableBufferPointer<Float>?
        let prepared: PreparedWeights?
    }

    /// Buffer of every leaf, by leaf name.
    private let leafBuffers: [String: UnsafeMutableBufferPointer<Float>]
    private let leafShapes: [String: Shape]
    /// Parameter and state leaves: loading one empties every node's prepared weights.
    private let constantLeaves: Set<String>
    /// Input leaves the outputs and updates depend on: each run must bind them.
    private let requiredInputs: [String]
    private let steps: [Step]
    private let results: [(value: Value, shape: Shape, buffer: UnsafeBufferPointer<Float>)]
    /// After a run with updates: target leaf buffer ← source buffer.
    private let updates: [(target: UnsafeMutableBufferPointer<Float>, source: UnsafeBufferPointer<Float>, sourceIsLeaf: Bool)]

    /// Plans `graph` for `outputs` and its state updates (`options`: in-place reuse) and allocates
    /// the arena. Leaves start at zero: `load` the parameters and states before the first run.
    public init(graph: Graph, outputs: [Value], seed: UInt64 = 0, options: CompilerOptions = .fromEnvironment()) {
        self.graph = graph
        self.outputs = outputs
        self.seed = seed
        let plan = MemoryPlanner.plan(graph, outputs: outputs, options: options)
        self.plan = plan
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(plan.arenaBytes, MemoryPlan.alignment), alignment: MemoryPlan.alignment)
        self.arena = arena

        var leafBuffers: [String: UnsafeMutableBufferPointer<Float>] = [:], leafShapes: [String: Shape] = [:]
        var located: [Value: UnsafeMutableBufferPointer<Float>] = [:]
        for (index, node) in graph.nodes.enumerated() {
            guard let leaf = node.op as? Leaf else { continue }
            let raw = UnsafeMutableRawPointer.allocate(
                byteCount: max(leaf.shape.count, 1) * MemoryLayout<Float>.stride, alignment: MemoryPlan.alignment)
            let buffer = UnsafeMutableBufferPointer(start: raw.initializeMemory(as: Float.self, repeating: 0, count: leaf.shape.count), count: leaf.shape.count)
            leafBuffers[leaf.leafName] = buffer
            leafShapes[leaf.leafName] = leaf.shape
            located[Value(node: index)] = buffer
        }
        var scratchOf: [Int: UnsafeMutableBufferPointer<Float>] = [:]
        for buffer in plan.buffers {
            let start = (arena + buffer.offset).bindMemory(to: Float.self, capacity: buffer.shape.count)
            let memory = UnsafeMutableBufferPointer(start: start, count: buffer.shape.count)
            if let value = buffer.value { located[value] = memory } else { scratchOf[buffer.first] = memory }
        }

        // A kernel may keep what it derives from inputs that change only through `load`: parameters
        // and states that no update of this program writes (an inference program's weights).
        let updated = Set(graph.stateUpdates.map(\.target))
        func constant(_ value: Value) -> Bool {
            guard let leaf = graph.nodes[value.node].op as? Leaf else { return false }
            return leaf.kind != .input && !updated.contains(value)
        }
        var steps: [Step] = [], required: [String] = []
        for (index, node) in graph.nodes.enumerated() {
            if node.op is Leaf { continue }
            // Nodes the outputs and updates do not need have no planned buffer.
            guard located[Value(node: index)] != nil else { continue }
            let buffered = node.op as? any BufferEvaluable, preparedFrom = buffered?.preparedFrom ?? []
            steps.append(
                Step(
                    node: index, op: node.op, buffered: buffered,
                    inputs: node.inputs.map { UnsafeBufferPointer(located[$0]!) },
                    outputs: node.outputShapes.indices.map { located[Value(node: index, output: $0)]! },
                    inputShapes: node.inputs.map(graph.shape(of:)), outputShapes: node.outputShapes, scratch: scratchOf[index],
                    prepared: !preparedFrom.isEmpty && preparedFrom.allSatisfy { constant(node.inputs[$0]) } ? PreparedWeights() : nil))
        }
        let read = Set(steps.flatMap { graph.nodes[$0.node].inputs } + outputs + graph.stateUpdates.map(\.value))
        for (name, value) in graph.leaves(of: .input) where read.contains(value) { required.append(name) }
        self.leafBuffers = leafBuffers
        self.leafShapes = leafShapes
        self.constantLeaves = Set((graph.leaves(of: .parameter) + graph.leaves(of: .state)).map { $0.name })
        self.requiredInputs = required
        self.steps = steps
        self.results = outputs.map { ($0, graph.shape(of: $0), UnsafeBufferPointer(located[$0]!)) }
        self.updates = graph.stateUpdates.map { update in
            (located[update.target]!, UnsafeBufferPointer(located[update.value]!), graph.nodes[update.value.node].op is Leaf)
        }
    }

    deinit {
        arena.deallocate()
        for buffer in leafBuffers.values { UnsafeMutableRawPointer(buffer.baseAddress!).deallocate() }
    }

    /// Copies leaf values (parameters, states or inputs, by leaf name) into the program's buffers.
    /// Names the graph does not have are ignored, as the interpreter ignores unused bindings.
    public func load(_ values: [String: Tensor<Float>]) throws {
        // Even when a later binding throws, the earlier ones were written.
        var changedConstants = false
        defer { if changedConstants { for step in steps { step.prepared?.invalidate() } } }
        for (name, tensor) in values {
            guard let buffer = leafBuffers[name] else { continue }
            guard tensor.shape == leafShapes[name]! else {
                throw GraphError.binding(name: name, message: "expected shape \(leafShapes[name]!), got \(tensor.shape)")
            }
            tensor.scalars.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
            if constantLeaves.contains(name) { changedConstants = true }
        }
    }

    /// Nodes whose kernels keep prepared weights between runs (see `EvaluationContext.prepared`).
    public var preparedNodes: [Int] { steps.filter { $0.prepared != nil }.map(\.node) }

    /// The current values of the parameter and state leaves, by name.
    public func values() -> [String: Tensor<Float>] {
        var result: [String: Tensor<Float>] = [:]
        for kind in [Leaf.Kind.parameter, .state] {
            for (name, _) in graph.leaves(of: kind) { result[name] = Tensor(shape: leafShapes[name]!, scalars: Array(leafBuffers[name]!)) }
        }
        return result
    }

    /// Runs every planned node once with `inputs` bound (each input the outputs depend on is
    /// required, every run) and returns `outputs`. With `applyUpdates`, the state updates are then
    /// copied into their leaves (one training step). `step` is the random operators' step number.
    /// `observe`, when given, learns each node and the seconds its kernel took.
    public func run(
        inputs: [String: Tensor<Float>], step: Int, applyUpdates: Bool = true,
        observe: ((_ node: Int, _ seconds: Double) -> Void)? = nil
    ) throws -> [Value: Tensor<Float>] {
        for name in requiredInputs where inputs[name] == nil {
            throw GraphError.binding(name: name, message: "no value was given (input of shape \(leafShapes[name]!))")
        }
        try load(inputs)
        var context = EvaluationContext(seed: seed, step: step)
        for step in steps {
            context.node = step.node
            context.prepared = step.prepared
            let start = observe == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            if let buffered = step.buffered {
                buffered.evaluate(into: step.outputs, step.inputs, inputShapes: step.inputShapes, scratch: step.scratch, context)
            } else {
                fallbackEvaluations += 1
                let arguments = zip(step.inputShapes, step.inputs).map { Tensor(shape: $0, scalars: Array($1)) }
                for (target, result) in zip(step.outputs, step.op.evaluate(arguments, context)) {
                    result.scalars.withUnsafeBufferPointer { target.baseAddress!.update(from: $0.baseAddress!, count: target.count) }
                }
            }
            if let observe { observe(step.node, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        var values: [Value: Tensor<Float>] = [:]
        for result in results { values[result.value] = Tensor(shape: result.shape, scalars: Array(result.buffer)) }
        if applyUpdates {
            // A leaf copied into another leaf is read before any update writes (as the interpreter's swap).
            let snapshots = updates.contains { $0.sourceIsLeaf } ? updates.map { $0.sourceIsLeaf ? Array($0.source) : nil } : nil
            for (index, update) in updates.enumerated() {
                if let snapshot = snapshots?[index] {
                    snapshot.withUnsafeBufferPointer { update.target.baseAddress!.update(from: $0.baseAddress!, count: update.target.count) }
                } else {
                    update.target.baseAddress!.update(from: update.source.baseAddress!, count: update.target.count)
                }
            }
        }
        return values
    }
}
