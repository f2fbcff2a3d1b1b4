import Compiler
import EmotionRecognition
import GraphCore
import Layers
import Operators
import Testing

/// Parameter and state values with non-trivial BatchNorm statistics, so that folding matters.
func randomValues(_ built: BuiltModel, seed: UInt64) -> [String: Tensor<Float>] {
    var values = built.initialValues(seed: seed)
    var generator = SeededGenerator(seed: seed + 1)
    for spec in built.parameters + built.states {
        let path = spec.path
        if path.hasSuffix("running_var") || (path.hasSuffix(".weight") && spec.shape.rank == 1 && !path.contains("classifier")) {
            values[path] = Tensor(shape: spec.shape, scalars: (0..<spec.shape.count).map { _ in 0.5 + generator.nextUnitFloat() })
        } else if path.hasSuffix("running_mean") || (path.hasSuffix(".bias") && spec.shape.rank == 1) {
            values[path] = Tensor(shape: spec.shape, scalars: (0..<spec.shape.count).map { _ in generator.nextUnitFloat() - 0.5 })
        }
    }
    return values
}

func maxRelativeDifference(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Float {
    let scale = max(b.scalars.map(abs).max() ?? 0, 1e-6)
    return (zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0) / scale
}

/// Runs the model's inference graph with and without fusion on the same clip.
func fusedAndUnfused(_ model: Model, batch: Int) throws -> (fused: Tensor<Float>, unfused: Tensor<Float>, count: Int) {
    let built = try model.build(batchSize: batch, mode: .inference)
    let values = randomValues(built, seed: 5)
    var generator = SeededGenerator(seed: 9)
    let shape = built.graph.shape(of: built.input)
    let clip = Tensor<Float>(shape: shape, scalars: (0..<shape.count).map { _ in generator.nextUnitFloat() * 2 - 1 })
    let compiled = try GraphCompiler.compile(built.graph, outputs: [built.logits], options: CompilerOptions(fusion: true))
    let fused = try Session(graph: compiled.graph, values: values).run(compiled.outputs, inputs: ["input": clip])[compiled.outputs[0]]!
    let unfused = try Session(graph: built.graph, values: values).run([built.logits], inputs: ["input": clip])[built.logits]!
    return (fused, unfused, compiled.fusedCount)
}

let activationLayers: [(String, any Layer)] = [
    ("relu", ReLU()), ("elu", ELU()), ("leaky_relu", LeakyReLU()), ("mish", Mish()), ("prelu", PReLU()),
]

@Suite("Fusion pass")
struct FusionTests {
    @Test("Conv3D → BatchNorm3D → activation fuses, and fused == unfused", arguments: activationLayers.map(\.0))
    func fusedEqualsUnfused(_ name: String) throws {
        let activation = activationLayers.first { $0.0 == name }!.1
        let model = Model(inputShape: [3, 3, 7, 6], classes: 3) {
            Layers.Conv3D(filters: 5, kernel: Triple(3), padding: Triple(1))
            BatchNorm3D()
            activation
            Layers.Conv3D(filters: 4, kernel: Triple(1, 3, 3), stride: Triple(1, 2, 2), padding: Triple(0, 1, 1), bias: false)
            BatchNorm3D()
            activation
            Flatten()
            Dense(3)
        }
        let result = try fusedAndUnfused(model, batch: 2)
        #expect(result.count == 2)
        #expect(maxRelativeDifference(result.fused, result.unfused) < 1e-4)
    }

    @Test("a BatchNorm without an activation folds alone")
    func partialPatterns() throws {
        let model = Model(inputShape: [2, 2, 5, 5], classes: 2) {
            Layers.Conv3D(filters: 3, kernel: Triple(1, 3, 3), padding: Triple(0, 1, 1))
            BatchNorm3D()
            Flatten()
            Dense(2)
        }
        let result = try fusedAndUnfused(model, batch: 1)
        #expect(result.count == 1)
        #expect(maxRelativeDifference(result.fused, result.unfused) < 1e-4)
    }

    @Test("the small paper network fuses all 8 convolutions and gives the same logits")
    func paperNetwork() throws {
        var network = PaperNetwork.small
        network.height = 32
        network.width = 32
        network.activation = .elu
        let result = try fusedAndUnfused(try network.model(), batch: 2)
        #expect(result.count == 8)
        #expect(maxRelativeDifference(result.fused, result.unfused) < 1e-4)
    }

    @Test("training: BatchNorm3D → activation fuses; one SGD step gives the same loss, parameters and running statistics",
        arguments: ActivationChoice.allCases)
    func trainingFusedEqualsUnfused(_ activation: ActivationChoice) throws {
        var network = PaperNetwork.small
        network.height = 32
        network.width = 32
        network.activation = activation
        network.dropout = 0  // same masks either way, but keep the comparison about the fused math
        let model = try network.model()
        var results: [[String: Tensor<Float>]] = []
        var losses: [Float] = []
        for fusion in [true, false] {
            let built = try model.build(batchSize: 3, mode: .training, loss: LossOptions())
            let compiled = try GraphCompiler.compileTraining(
                built.graph, loss: built.loss!, learningRate: 0.05, options: CompilerOptions(fusion: fusion))
            // 8 BatchNorm3D → activation patterns; the 4 max pools without padding join the
            // pattern before them (not after PReLU, which stays outside it), the last (padding
            // (0,1,1)) becomes the indexed pool.
            let pools = built.graph.nodes.filter { $0.op is Operators.MaxPool3D }.count, joined = activation == .prelu ? 0 : 4
            #expect(pools == 5)
            #expect(compiled.fusedCount == (fusion ? 8 + pools - joined : 0))
            #expect(compiled.graph.nodes.filter { $0.op is MaxPool3DIndexed }.count == (fusion ? pools - joined : 0))
            #expect(compiled.graph.nodes.filter { $0.op is BatchNormActivationMaxPool }.count == (fusion ? joined : 0))
            var generator = SeededGenerator(seed: 4)
            let shape = built.graph.shape(of: built.input)
            let feeds = [
                "input": Tensor<Float>(shape: shape, scalars: (0..<shape.count).map { _ in generator.nextUnitFloat() }),
                "labels": Tensor<Float>(shape: [3], scalars: [0, 3, 6]),
            ]
            let session = try Session(graph: compiled.graph, values: randomValues(built, seed: 5))
            losses.append(try session.run(compiled.outputs, inputs: feeds)[compiled.outputs[0]]!.scalars[0])
            results.append(session.values)
        }
        #expect(abs(losses[0] - losses[1]) < 1e-4 * max(1, abs(losses[1])))
        for (path, fused) in results[0] {
            let unfused = results[1][path]!
            let moved = maxRelativeDifference(unfused, fused)
            #expect(moved < 1e-3, "\(path) differs by \(moved)")
        }
    }

    @Test("the pass can be switched off")
    func switches() throws {
        let model = try PaperNetwork.small.model()

        #expect(CompilerOptions.fromEnvironment(["EMOTION3D_NO_FUSION": "1"]).fusion == false)
        #expect(CompilerOptions.fromEnvironment(["EMOTION3D_NO_INPLACE": "1"]).inPlace == false)
        #expect(CompilerOptions.fromEnvironment([:]) == CompilerOptions())
        let inference = try model.build(batchSize: 1, mode: .inference)
        let off = try GraphCompiler.compile(inference.graph, outputs: [inference.logits], options: CompilerOptions(fusion: false))
        #expect(off.fusedCount == 0)
    }
}

/// Checks that no two buffers live at the same time share bytes (an in-place output and the
/// input it overwrites excepted: that is the point of in-place).
func overlaps(_ plan: MemoryPlan) -> [String] {
    var problems: [String] = []
    let buffers = plan.buffers
    for i in buffers.indices {
        for j in (i + 1)..<buffers.count {
            let a = buffers[i], b = buffers[j]
            guard a.first <= b.last && b.first <= a.last else { continue }
            guard a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes else { continue }
            if (b.reuses != nil && b.reuses == a.value) || (a.reuses != nil && a.reuses == b.value) { continue }
            problems.append("\(a.label) \(a.value.map(\.description) ?? "scratch") and \(b.label) \(b.value.map(\.description) ?? "scratch")")
        }
    }
    return problems
}

@Suite("Memory planner")
struct MemoryPlannerTests {
    @Test("buffers live at the same time never overlap (training graph with SGD, and a fused inference graph)", arguments: [true, false])
    func invariant(_ inPlace: Bool) throws {
        let model = try PaperNetwork.small.model()
        let training = try model.build(batchSize: 2, mode: .training, loss: LossOptions())
        try training.addSGDStep(learningRate: 0.01)
        let plan = MemoryPlanner.plan(training.graph, outputs: [training.loss!], options: CompilerOptions(inPlace: inPlace))
        #expect(overlaps(plan).isEmpty, "\(overlaps(plan).prefix(5))")
        #expect(plan.arenaBytes < plan.naiveBytes / 2, "\(plan.summary)")
        #expect(plan.buffers.allSatisfy { $0.offset % MemoryPlan.alignment == 0 && $0.offset + $0.bytes <= plan.arenaBytes })
        #expect(plan.buffers.contains { $0.reuses != nil } == inPlace)
        // Values that replace parameters are pinned to the end of the run.
        let updated = Set(training.graph.stateUpdates.map(\.value))
        #expect(plan.buffers.filter { $0.value.map(updated.contains) ?? false }.allSatisfy { $0.last == training.graph.nodes.count })
        // Convolution scratch is planned, and bounded by a tile rather than the batch.
        #expect(plan.buffers.contains { $0.value == nil })

        let inference = try model.build(batchSize: 3, mode: .inference)
        let compiled = try GraphCompiler.compile(inference.graph, outputs: [inference.logits], options: CompilerOptions(inPlace: inPlace))
        #expect(overlaps(compiled.plan).isEmpty)
        #expect(compiled.plan.description.contains("fused_conv_batchnorm"))
    }

    @Test("training: a max pool's input dies at the pool; BatchNorm's backward overwrites its incoming gradient; the peak is reported")
    func trainingLifetimes() throws {
        let model = try PaperNetwork.small.model()
        let built = try model.build(batchSize: 2, mode: .training, loss: LossOptions())
        let compiled = try GraphCompiler.compileTraining(built.graph, loss: built.loss!, learningRate: 0.01, options: CompilerOptions(recomputeAbove: 0))
        let graph = compiled.graph, plan = compiled.plan
        let bufferOf = Dictionary(uniqueKeysWithValues: plan.buffers.compactMap { buffer in buffer.value.map { ($0, buffer) } })
        // The pools after the recomputed first convolution and the last one (padding (0,1,1));
        // the other three pool their BatchNorm's activation plane by plane: it never becomes a value.
        let pools = graph.nodes.indices.filter { graph.nodes[$0].op is MaxPool3DIndexed }
        #expect(pools.count == 2)
        #expect(graph.nodes.filter { $0.op is BatchNormActivationMaxPool }.count == 3)
        for pool in pools {
            let input = graph.nodes[pool].inputs[0]
            #expect(bufferOf[input]?.last == pool, "\(graph.nodes[pool].scope): the pool's input lives until \(bufferOf[input]?.last ?? -1)")
        }
        let backward = graph.nodes.indices.filter { graph.nodes[$0].op is BatchNormActivationBackward }
        #expect(backward.count == 8)
        #expect(backward.allSatisfy { bufferOf[Value(node: $0)]?.reuses == graph.nodes[$0].inputs[5] })
        #expect(overlaps(plan).isEmpty)

        // The first layer (3 input channels) keeps no convolution output: the backward pass
        // computes it again, and that copy lives only until BatchNorm's backward reads it.
        let recomputing = graph.nodes.indices.filter { graph.nodes[$0].op is ConvBatchNormActivation }
        #expect(recomputing.map { graph.nodes[$0].scope } == ["features.0"])
        // With the default threshold (64 MiB), this first layer's 2.8 MiB output is kept instead.
        let kept = try GraphCompiler.compileTraining(built.graph, loss: built.loss!, learningRate: 0.01, options: CompilerOptions()).graph
        #expect(!kept.nodes.contains { $0.op is ConvBatchNormActivation })
        #expect(kept.nodes.filter { $0.op is Operators.Conv3D }.map(\.scope).contains("features.0"))
        let recomputed = graph.nodes.indices.filter { graph.nodes[$0].op is Operators.Conv3D && graph.nodes[$0].scope.hasSuffix("/grad") }
        #expect(recomputed.count == 1)
        for node in recomputed {
            let reader = graph.nodes.indices.first { graph.nodes[$0].inputs.contains(Value(node: node)) }!
            #expect(graph.nodes[reader].op is BatchNormActivationBackward)
            #expect(bufferOf[Value(node: node)]?.last == reader)
        }

        let peak = plan.peak
        let live = peak.buffers.reduce(0) { $0 + $1.bytes }
        #expect(live <= plan.arenaBytes && live > plan.arenaBytes / 2)
        #expect(peak.buffers.allSatisfy { $0.first <= peak.node && peak.node <= $0.last })
        #expect(zip(peak.buffers, peak.buffers.dropFirst()).allSatisfy { $0.bytes >= $1.bytes })
    }

    @Test("best fit reuses the smallest free range and coalesces neighbours")
    func bestFit() throws {
        // a(64) b(128) c(64) d(256): free a and c → a 64-byte request takes a's range (best fit, first of equals).
        let graph = Graph(mode: .inference)
        let x = try graph.leaf(.input, "x", shape: [16])
        let a = try graph.apply(Exp(), [x])[0]  // 64 bytes
        let big = try graph.leaf(.input, "y", shape: [32])
        let b = try graph.apply(Exp(), [big])[0]  // 128 bytes
        let c = try graph.apply(Exp(), [a])[0]  // a dies here
        let d = try graph.apply(Exp(), [c])[0]  // c dies; d takes a's range
        let plan = MemoryPlanner.plan(graph, outputs: [b, d], options: CompilerOptions(inPlace: false))
        let offsets = Dictionary(uniqueKeysWithValues: plan.buffers.compactMap { buffer in buffer.value.map { ($0, buffer.offset) } })
        #expect(offsets[d] == offsets[a])
        #expect(plan.arenaBytes == 64 + 128 + 64)
        #expect(overlaps(plan).isEmpty)
    }
}
