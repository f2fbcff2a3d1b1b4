import Compiler
import EmotionRecognition
import GraphCore
import Layers
import Operators
import Testing
import Training

/// A training step as the trainer builds it: the small paper network (32², dropout 0.5), fused
/// BatchNorm + activation, gradients, Adam; BatchNorm running statistics and Adam moments as states.
/// The first layer's convolution is recomputed in the backward pass (`recomputeAbove` 0, as at full
/// size), so the programs below run `ConvBatchNormActivation` too.
func adamTrainingStep(
    batch: Int, optimizer: OptimizerConfig = .adam(learningRate: 1e-3), pooling: PoolingChoice = .max, activation: ActivationChoice = .relu
) throws -> (graph: Graph, outputs: [Value], values: [String: Tensor<Float>]) {
    var network = PaperNetwork.small
    network.pooling = pooling
    network.activation = activation
    network.height = 32
    network.width = 32
    let built = try network.model().build(batchSize: batch, mode: .training, loss: LossOptions())
    let fused = try FusionPass.run(built.graph, outputs: [built.loss!, built.logits], recomputeAbove: 0)
    let graph = fused.graph, loss = fused.values[built.loss!]!, logits = fused.values[built.logits]!
    let parameters = built.parameters.map { VariableSpec(path: $0.path, shape: $0.shape, initializer: $0.initializer, value: graph.leaves[$0.path]!) }
    let gradients = try graph.gradients(of: loss, withRespectTo: parameters.map(\.value))
    let states = try optimizer.append(
        to: graph, parameters: parameters, gradients: Dictionary(uniqueKeysWithValues: parameters.map { ($0.path, gradients[$0.value]!) }))
    var values = randomValues(built, seed: 5)
    values.merge(OptimizerConfig.initialValues(states, parameters: values)) { a, _ in a }
    return (graph, [loss, logits], values)
}

func randomFeeds(_ graph: Graph, batch: Int, classes: Int, seed: UInt64) -> [String: Tensor<Float>] {
    var generator = SeededGenerator(seed: seed)
    let shape = graph.shape(of: graph.leaves["input"]!)
    return [
        "input": Tensor(shape: shape, scalars: (0..<shape.count).map { _ in generator.nextUnitFloat() }),
        "labels": Tensor(shape: [batch], scalars: (0..<batch).map { _ in Float(generator.next() % UInt64(classes)) }),
    ]
}

/// Elements whose bits differ (a count, so that a failure does not print whole tensors).
func differing(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Int {
    a.shape != b.shape ? -1 : zip(a.scalars, b.scalars).filter { $0.bitPattern != $1.bitPattern }.count
}

@Suite("Program")
struct ProgramTests {
    @Test("a compiled training step (Adam, dropout, BatchNorm statistics) equals the interpreter bitwise, several steps",
        arguments: [true, false])
    func equalsInterpreter(_ inPlace: Bool) throws {
        let (graph, outputs, values) = try adamTrainingStep(batch: 3)
        let session = try Session(graph: graph, values: values, seed: 11)
        let program = Program(graph: graph, outputs: outputs, seed: 11, options: CompilerOptions(inPlace: inPlace))
        try program.load(values)
        #expect(program.plan.buffers.contains { $0.reuses != nil } == inPlace)
        // Every operator of the trainer's step writes into the arena: nothing allocates per step.
        #expect(program.fallbackOperators.isEmpty, "\(program.fallbackOperators)")
        for step in 0..<3 {
            let feeds = randomFeeds(graph, batch: 3, classes: PaperNetwork.small.classes, seed: UInt64(20 + step))
            let expected = try session.run(outputs, inputs: feeds)
            let actual = try program.run(inputs: feeds, step: step)
            for output in outputs { #expect(differing(actual[output]!, expected[output]!) == 0, "step \(step): output \(output) differs") }
            let programValues = program.values()
            #expect(programValues.keys.sorted() == session.values.keys.sorted())
            let different = session.values.filter { differing(programValues[$0.key]!, $0.value) > 0 }.keys.sorted()
            #expect(different.isEmpty, "step \(step): \(different.count) values differ, first \(different.prefix(3))")
        }
        // The step counter and a running statistic really moved.
        #expect(program.values()["optimizer.step"]!.scalars == [3])
        #expect(program.fallbackEvaluations == 0)
        #expect(program.values().contains { $0.key.hasSuffix("running_mean") && $0.value.scalars != values[$0.key]!.scalars })
    }

    @Test("Lookahead, SGD, average pooling and the other activations run in the arena too, bitwise as the interpreter",
        arguments: [
            (OptimizerConfig.lookaheadAdam(learningRate: 1e-3, k: 2), ActivationChoice.prelu),
            (.sgd(learningRate: 1e-2, momentum: 0.9, nesterov: true, weightDecay: 1e-4), .mish),
            (.adam(learningRate: 1e-3), .elu), (.adam(learningRate: 1e-3), .leakyRelu),
        ])
    func otherOptimizers(_ optimizer: OptimizerConfig, _ activation: ActivationChoice) throws {
        let (graph, outputs, values) = try adamTrainingStep(batch: 2, optimizer: optimizer, pooling: .average, activation: activation)
        let session = try Session(graph: graph, values: values, seed: 3)
        let program = Program(graph: graph, outputs: outputs, seed: 3)
        try program.load(values)
        #expect(program.fallbackOperators.isEmpty, "\(program.fallbackOperators)")
        for step in 0..<3 {  // k = 2: steps 1 and 2 pass through, step 2 synchronises
            let feeds = randomFeeds(graph, batch: 2, classes: PaperNetwork.small.classes, seed: UInt64(40 + step))
            let expected = try session.run(outputs, inputs: feeds)
            let actual = try program.run(inputs: feeds, step: step)
            for output in outputs { #expect(differing(actual[output]!, expected[output]!) == 0, "step \(step): output \(output) differs") }
            let programValues = program.values()
            let different = session.values.filter { differing(programValues[$0.key]!, $0.value) > 0 }.keys.sorted()
            #expect(different.isEmpty, "step \(step): \(different.count) values differ, first \(different.prefix(3))")
        }
        #expect(program.fallbackEvaluations == 0)
    }

    @Test("a graph of buffer kernels runs in its arena: same base and size every step, no allocating fallback")
    func noAllocationAfterFirstStep() throws {
        // Conv3D → BatchNorm+ReLU → max pool → flatten → dense, gradients seeded from an input, Adam.
        let graph = Graph(mode: .training)
        let x = try graph.leaf(.input, "input", shape: [2, 2, 4, 8, 8])
        let w = try graph.leaf(.parameter, "conv.weight", shape: [4, 2, 3, 3, 3])
        let b = try graph.leaf(.parameter, "conv.bias", shape: [4])
        let gamma = try graph.leaf(.parameter, "bn.weight", shape: [4]), beta = try graph.leaf(.parameter, "bn.bias", shape: [4])
        let dense = try graph.leaf(.parameter, "fc.weight", shape: [3, 4 * 2 * 4 * 4])
        let y = try graph.apply(Operators.Conv3D(padding: Triple(1)), [x, w, b])[0]
        let normalised = try graph.apply(BatchNormActivation(epsilon: 1e-5, activation: .relu), [y, gamma, beta])[0]
        let pooled = try graph.apply(MaxPool3D(kernel: Triple(2), stride: Triple(2)), [normalised])[0]
        let flat = try graph.apply(Reshape([2, 4 * 2 * 4 * 4]), [pooled])[0]
        let logits = try graph.apply(MatMul(transposeB: true), [flat, dense])[0]
        let upstream = try graph.leaf(.input, "upstream", shape: [2, 3])
        let parameters = [("conv.weight", w), ("conv.bias", b), ("bn.weight", gamma), ("bn.bias", beta), ("fc.weight", dense)]
        let gradients = try graph.gradients(of: logits, seed: upstream, withRespectTo: parameters.map(\.1))
        let specs = parameters.map { VariableSpec(path: $0.0, shape: graph.shape(of: $0.1), initializer: .constant(0), value: $0.1) }
        let states = try OptimizerConfig.adam(learningRate: 1e-2).append(
            to: graph, parameters: specs, gradients: Dictionary(uniqueKeysWithValues: parameters.map { ($0.0, gradients[$0.1]!) }))

        var generator = SeededGenerator(seed: 3)
        func random(_ shape: Shape) -> Tensor<Float> { Tensor(shape: shape, scalars: (0..<shape.count).map { _ in generator.nextUnitFloat() - 0.5 }) }
        var values = Dictionary(uniqueKeysWithValues: parameters.map { ($0.0, random(graph.shape(of: $0.1))) })
        values.merge(OptimizerConfig.initialValues(states, parameters: values)) { a, _ in a }
        let program = Program(graph: graph, outputs: [logits], options: CompilerOptions())
        try program.load(values)
        let session = try Session(graph: graph, values: values)
        #expect(program.fallbackOperators.isEmpty, "\(program.fallbackOperators)")
        let base = program.arena, size = program.plan.arenaBytes
        for step in 0..<4 {
            let feeds = ["input": random([2, 2, 4, 8, 8]), "upstream": random([2, 3])]
            let actual = try program.run(inputs: feeds, step: step)[logits]!
            #expect(differing(actual, try session.run([logits], inputs: feeds)[logits]!) == 0)
            #expect(program.arena == base && program.plan.arenaBytes == size)
            #expect(program.fallbackEvaluations == 0)
        }
        #expect(differing(program.values()["fc.weight"]!, session.values["fc.weight"]!) == 0)
    }

    @Test("an inference program keeps Winograd-transformed weights between runs and derives them again after load; a training program keeps none")
    func preparedWeights() throws {
        // 64 → 32 channels on 8×32×32: past the Winograd rule's 2^28 multiply-adds, beyond the blocked kernel's 32 input channels.
        let graph = Graph(mode: .inference)
        let x = try graph.leaf(.input, "x", shape: [1, 64, 8, 32, 32])
        let w = try graph.leaf(.parameter, "conv.weight", shape: [32, 64, 3, 3, 3])
        let y = try graph.apply(Conv3D(padding: Triple(1)), [x, w], scope: "conv")[0]
        let program = Program(graph: graph, outputs: [y])
        #expect(program.preparedNodes == [y.node])
        var generator = SeededGenerator(seed: 31)
        func uniform(_ shape: Shape) -> Tensor<Float> { SampleInput.uniform(shape).draw(&generator).converted(to: Float.self) }
        let feeds = ["x": uniform([1, 64, 8, 32, 32])]
        for (round, weight) in [uniform([32, 64, 3, 3, 3]), uniform([32, 64, 3, 3, 3])].enumerated() {
            try program.load(["conv.weight": weight])
            let expected = try Session(graph: graph, values: ["conv.weight": weight]).run([y], inputs: feeds)[y]!
            for run in 0..<2 {
                let actual = try program.run(inputs: feeds, step: run)[y]!
                #expect(differing(actual, expected) == 0, "weights \(round), run \(run)")
            }
        }
        let (training, outputs, _) = try adamTrainingStep(batch: 2)
        #expect(Program(graph: training, outputs: outputs).preparedNodes.isEmpty)
    }

    @Test("an input the outputs need must be given each run")
    func missingInput() throws {
        let graph = Graph(mode: .inference)
        let x = try graph.leaf(.input, "x", shape: [4])
        let y = try graph.apply(Rsqrt(), [x])[0]  // no buffer kernel
        let program = Program(graph: graph, outputs: [y])
        #expect(throws: GraphError.self) { try program.run(inputs: [:], step: 0) }
        let result = try program.run(inputs: ["x": Tensor(shape: [4], scalars: [1, 2, 3, 4])], step: 0)[y]!
        #expect(result.scalars == (try Session(graph: graph, values: [:]).run([y], inputs: ["x": Tensor(shape: [4], scalars: [1, 2, 3, 4])])[y]!.scalars))
        #expect(program.fallbackEvaluations == 1 && program.fallbackOperators == ["rsqrt"])
    }

    @Test("the interpreter switch")
    func interpreterSwitch() {
        #expect(CompilerOptions.fromEnvironment(["EMOTION3D_INTERPRETER": "1"]).interpreter)
        #expect(!CompilerOptions.fromEnvironment([:]).interpreter)
    }
}
