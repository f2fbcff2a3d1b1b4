import Compiler
import Foundation
import Layers

/// How a network is trained (the paper: Adam lr 1e-4, batches of 30, up to 16 epochs).
public struct TrainerOptions: Sendable, Codable, Hashable {
    public var batchSize = 30
    public var epochs = 16
    /// Fixes the initial weights, the batch order of every epoch and every dropout mask.
    public var seed: UInt64 = 0
    public var optimizer = OptimizerConfig.adam()
    /// Weight the loss by the training set's inverse class frequencies (the paper's "loss weights").
    public var classWeights = false
    public var pixelRange = PixelRange.unit
    public var evaluationBatchSize = 30
    public init() {}

    public func validate() throws {
        guard batchSize >= 1 else { throw TrainingError.invalid("batch size must be ≥ 1, got \(batchSize)") }
        guard epochs >= 1 else { throw TrainingError.invalid("epochs must be ≥ 1, got \(epochs)") }
        guard evaluationBatchSize >= 1 else { throw TrainingError.invalid("evaluation batch size must be ≥ 1, got \(evaluationBatchSize)") }
        try optimizer.validate()
    }
}

/// What one epoch measured.
public struct EpochMetrics: Sendable, Codable, Hashable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var evaluationLoss: Double?
    public var evaluationAccuracy: Double?
    public var seconds: Double
    public var clipsPerSecond: Double
}

/// The outcome of a training run: per-epoch metrics, and the held-out predictions at the best
/// epoch (the paper's protocol) and at the last one (the honest one).
public struct TrainingRun: Sendable, Codable {
    public var epochs: [EpochMetrics]
    /// 1-based epoch with the highest evaluation accuracy (the earliest on ties).
    public var bestEpoch: Int?
    public var bestPredictions: [Int]
    public var lastPredictions: [Int]
    public var bestAccuracy: Double? { bestEpoch.flatMap { epochs[$0 - 1].evaluationAccuracy } }
    public var lastAccuracy: Double? { epochs.last?.evaluationAccuracy }
}

/// Trains an architecture on labelled clips with its graph, optimizer steps included, and
/// evaluates it after every epoch. Same seed, same data and same thread count give bitwise the
/// same weights; a run resumed from a checkpoint continues exactly.
public final class Trainer {
    public let architecture: Architecture
    public let options: TrainerOptions
    /// Parameters, BatchNorm buffers and optimizer states by name.
    public var values: [String: Tensor<Float>] {
        flush()
        return storedValues
    }
    /// Optimizer steps taken so far (also the dropout stream's position).
    public private(set) var step: Int
    public private(set) var run: TrainingRun
    public var progress = ProgressReporter(.quiet)

    private let model: Model
    private var trainingGraphs: [Int: CompiledModel] = [:]
    private var evaluationGraphs: [Int: CompiledModel] = [:]
    /// Values as of the last `flush`; `holder`'s leaves may be newer.
    private var storedValues: [String: Tensor<Float>] = [:]
    /// The training program whose parameter and state buffers hold the newest values, if any: steps
    /// of one batch size run back to back without copying the values out.
    private var holder: Program?
    private var trainingPrograms: [Int: Program] = [:]
    private var evaluationPrograms: [Int: Program] = [:]
    /// Compiler switches read once (`EMOTION3D_INTERPRETER=1`: the reference interpreter, one array
    /// per value). Set before training only; tests compare the two engines with it.
    var compilerOptions = CompilerOptions.fromEnvironment()

    /// A fresh run: weights from the architecture's initialiser and `options.seed`, or from
    /// `initialWeights` (pre-training: parameters and states by path, all of them).
    public init(architecture: Architecture, options: TrainerOptions, initialWeights: [String: Tensor<Float>]? = nil) throws {
        try options.validate()
        self.architecture = architecture
        self.options = options
        model = architecture.model
        let built = try model.build(batchSize: 1, mode: .inference, initialization: architecture.initialization)
        storedValues = built.initialValues(seed: options.seed)
        if let initialWeights {
            for spec in built.parameters + built.states {
                guard let tensor = initialWeights[spec.path], tensor.shape == spec.shape else {
                    throw TrainingError.invalid(
                        "the initial weights lack '\(spec.path)' of shape \(spec.shape)" + (initialWeights[spec.path].map { " (found \($0.shape))" } ?? ""))
                }
                storedValues[spec.path] = tensor
            }
        }
        step = 0
        run = TrainingRun(epochs: [], bestEpoch: nil, bestPredictions: [], lastPredictions: [])
        let states = try trainingGraph(options.batchSize).optimizerStates
        storedValues.merge(OptimizerConfig.initialValues(states, parameters: storedValues)) { a, _ in a }
    }

    /// Continues the run saved in `checkpoint` (written by `checkpoint(classNames:)`).
    public init(resuming checkpoint: Checkpoint, options: TrainerOptions) throws {
        try options.validate()
        guard let config = checkpoint.optimizerConfig, case let .string(history)? = checkpoint.metadata["run"],
            case let .number(step)? = checkpoint.metadata["step"]
        else { throw TrainingError.invalid("the checkpoint holds no training state (optimizer and run); it cannot be resumed") }
        let saved = try JSONDecoder().decode(TrainerOptions.self, from: Data(config.utf8))
        guard saved.optimizer == options.optimizer, saved.seed == options.seed, saved.batchSize == options.batchSize else {
            throw TrainingError.invalid("resume with the checkpoint's optimizer, seed and batch size (\(config))")
        }
        architecture = checkpoint.architecture
        self.options = options
        model = architecture.model
        storedValues = checkpoint.stateDict.merging(checkpoint.optimizerState) { a, _ in a }
        self.step = Int(step)
        run = try JSONDecoder().decode(TrainingRun.self, from: Data(history.utf8))
        let expected = try trainingGraph(options.batchSize).optimizerStates.map(\.path)
        if let missing = expected.first(where: { storedValues[$0] == nil }) {
            throw TrainingError.invalid("the checkpoint lacks optimizer state '\(missing)'")
        }
    }

    /// The run so far as a checkpoint that `init(resuming:)` continues.
    public func checkpoint(classNames: [String]) throws -> Checkpoint {
        let built = try model.build(batchSize: 1, mode: .inference)
        let modelNames = Set((built.parameters + built.states).map(\.path))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Checkpoint(
            architecture: architecture, stateDict: values.filter { modelNames.contains($0.key) }, classNames: classNames,
            metadata: [
                "epoch": .number(Double(run.epochs.count)), "step": .number(Double(step)), "seed": .number(Double(options.seed)),
                "run": .string(String(decoding: try encoder.encode(run), as: UTF8.self)),
            ],
            optimizerState: values.filter { !modelNames.contains($0.key) },
            optimizerConfig: String(decoding: try encoder.encode(options), as: UTF8.self))
    }

    /// Trains until `options.epochs` epochs are done (fewer if resumed), evaluating on
    /// `evaluation` after each epoch and saving to `checkpointPath` after each epoch.
    @discardableResult
    public func train(_ data: LabeledClips, evaluation: LabeledClips? = nil, checkpointPath: String? = nil) throws -> TrainingRun {
        guard data.count > 0 else { throw TrainingError.invalidData("the training set is empty") }
        guard data.clipShape == architecture.inputShape else {
            throw TrainingError.invalidData("clips are \(data.clipShape), the architecture '\(architecture.name)' expects \(architecture.inputShape)")
        }
        guard data.classNames.count == architecture.classes else {
            throw TrainingError.invalidData("\(data.classNames.count) classes in the data, \(architecture.classes) in the architecture")
        }
        let weights = options.classWeights ? Self.classWeights(data.classCounts) : nil
        while run.epochs.count < options.epochs {
            let epoch = run.epochs.count + 1
            let start = Date()
            var order = Array(0..<data.count)
            var generator = SeededGenerator(seed: SeededGenerator.mix(options.seed &+ UInt64(epoch) &* 0x9E37_79B9))
            order.shuffle(using: &generator)
            var lossSum = 0.0, correct = 0, seen = 0
            for (batchIndex, begin) in stride(from: 0, to: order.count, by: options.batchSize).enumerated() {
                let indices = Array(order[begin..<min(begin + options.batchSize, order.count)])
                let built = try trainingGraph(indices.count).model
                var feeds = ["input": data.batch(indices, range: options.pixelRange), "labels": Tensor(shape: [indices.count], scalars: indices.map { Float(data.labels[$0]) })]
                if let weights { feeds["class_weights"] = weights }
                let results = try trainingStep(built, batchSize: indices.count, feeds: feeds)
                let loss = results[built.loss!]!.scalars[0]
                guard loss.isFinite else { throw TrainingError.diverged(epoch: epoch, batch: batchIndex + 1, loss: loss) }
                lossSum += Double(loss) * Double(indices.count)
                correct += zip(Self.argmax(results[built.logits]!), indices).filter { $0 == data.labels[$1] }.count
                seen += indices.count
                progress.batch(
                    epoch: epoch, epochs: options.epochs, done: seen, total: data.count, loss: lossSum / Double(seen),
                    accuracy: Double(correct) / Double(seen), clipsPerSecond: Double(seen) / max(Date().timeIntervalSince(start), 1e-9))
            }
            var metrics = EpochMetrics(
                epoch: epoch, trainLoss: lossSum / Double(seen), trainAccuracy: Double(correct) / Double(seen),
                evaluationLoss: nil, evaluationAccuracy: nil, seconds: 0, clipsPerSecond: 0)
            if let evaluation {
                let result = try evaluate(evaluation)
                metrics.evaluationLoss = result.loss
                metrics.evaluationAccuracy = result.accuracy
                run.lastPredictions = result.predictions
                if result.accuracy > (run.bestAccuracy ?? -1) {
                    run.bestEpoch = epoch
                    run.bestPredictions = result.predictions
                }
            }
            metrics.seconds = Date().timeIntervalSince(start)
            metrics.clipsPerSecond = Double(seen) / max(metrics.seconds, 1e-9)
            run.epochs.append(metrics)
            progress.epoch(metrics, epochs: options.epochs)
            if let checkpointPath { try checkpoint(classNames: data.classNames).save(to: checkpointPath) }
        }
        return run
    }

    /// Mean cross-entropy, accuracy and predicted classes on `data` in inference mode.
    public func evaluate(_ data: LabeledClips) throws -> (loss: Double, accuracy: Double, predictions: [Int]) {
        var lossSum = 0.0, predictions: [Int] = []
        let values = self.values
        var loaded: Set<ObjectIdentifier> = []
        for begin in stride(from: 0, to: data.count, by: options.evaluationBatchSize) {
            let indices = Array(begin..<min(begin + options.evaluationBatchSize, data.count))
            let built = try evaluationGraph(indices.count)
            let feeds = ["input": data.batch(indices, range: options.pixelRange), "labels": Tensor(shape: [indices.count], scalars: indices.map { Float(data.labels[$0]) })]
            let results: [Value: Tensor<Float>]
            if compilerOptions.interpreter {
                let session = try Session(graph: built.graph, values: values, seed: options.seed, step: step)
                results = try session.run([built.loss!, built.logits], inputs: feeds, applyUpdates: false)
            } else {
                let program = try evaluationProgram(indices.count, built)
                if loaded.insert(ObjectIdentifier(program)).inserted { try program.load(values) }
                results = try program.run(inputs: feeds, step: step, applyUpdates: false)
            }
            lossSum += Double(results[built.loss!]!.scalars[0]) * Double(indices.count)
            predictions += Self.argmax(results[built.logits]!)
        }
        let correct = zip(predictions, data.labels).filter { $0 == $1 }.count
        return (lossSum / Double(max(data.count, 1)), Double(correct) / Double(max(data.count, 1)), predictions)
    }

    /// One optimizer step on one batch: through the batch size's compiled program (the values stay
    /// in its buffers until `flush`), or the interpreter's session when `EMOTION3D_INTERPRETER=1`.
    private func trainingStep(_ built: CompiledModel, batchSize: Int, feeds: [String: Tensor<Float>]) throws -> [Value: Tensor<Float>] {
        if compilerOptions.interpreter {
            let session = try Session(graph: built.graph, values: storedValues, seed: options.seed, step: step)
            let results = try session.run([built.loss!, built.logits], inputs: feeds)
            storedValues = session.values
            step = session.step
            return results
        }
        let program: Program
        if let cached = trainingPrograms[batchSize] {
            program = cached
        } else {
            program = Program(graph: built.graph, outputs: [built.loss!, built.logits], seed: options.seed, options: compilerOptions)
            trainingPrograms[batchSize] = program
        }
        if holder !== program {
            flush()
            try program.load(storedValues)
            holder = program
        }
        let results = try program.run(inputs: feeds, step: step)
        step += 1
        return results
    }

    /// Copies the newest values out of the program holding them.
    private func flush() {
        guard let holder else { return }
        storedValues.merge(holder.values()) { _, new in new }
        self.holder = nil
    }

    private func evaluationProgram(_ batchSize: Int, _ built: CompiledModel) throws -> Program {
        if let cached = evaluationPrograms[batchSize] { return cached }
        let program = Program(graph: built.graph, outputs: [built.loss!, built.logits], seed: options.seed, options: compilerOptions)
        evaluationPrograms[batchSize] = program
        return program
    }

    /// PyTorch-style balanced weights, N / (K · n_c); classes absent from the training set get 0.
    public static func classWeights(_ counts: [Int]) -> Tensor<Float> {
        let total = counts.reduce(0, +)
        return Tensor(shape: [counts.count], scalars: counts.map { $0 == 0 ? 0 : Float(Double(total) / Double(counts.count * $0)) })
    }

    static func argmax(_ logits: Tensor<Float>) -> [Int] {
        let classes = logits.shape[1]
        return (0..<logits.shape[0]).map { row in
            let slice = logits.scalars[(row * classes)..<((row + 1) * classes)]
            return slice.indices.max { slice[$0] < slice[$1] }! - row * classes
        }
    }

    /// A graph ready to run: the model's values mapped into it after the compiler's passes.
    struct CompiledModel {
        let graph: Graph
        let logits: Value
        let loss: Value?
    }

    private struct TrainingGraph {
        let model: CompiledModel
        let optimizerStates: [VariableSpec]
    }

    /// The training graph for one batch size (the last batch of an epoch may be smaller): the
    /// forward graph fused (BatchNorm + activation) before autodiff, then gradients and the
    /// optimizer step appended.
    private func trainingGraph(_ batchSize: Int) throws -> TrainingGraph {
        if let compiled = trainingGraphs[batchSize] { return TrainingGraph(model: compiled, optimizerStates: []) }
        let built = try model.build(
            batchSize: batchSize, mode: .training, loss: LossOptions(classWeights: options.classWeights),
            initialization: architecture.initialization)
        let compiled = try Self.fuse(built)
        let graph = compiled.graph
        let parameters = built.parameters.map { VariableSpec(path: $0.path, shape: $0.shape, initializer: $0.initializer, value: graph.leaves[$0.path]!) }
        let gradients = try graph.gradients(of: compiled.loss!, withRespectTo: parameters.map(\.value))
        let states = try options.optimizer.append(
            to: graph, parameters: parameters, gradients: Dictionary(uniqueKeysWithValues: parameters.map { ($0.path, gradients[$0.value]!) }))
        trainingGraphs[batchSize] = compiled
        return TrainingGraph(model: compiled, optimizerStates: states)
    }

    /// The inference graph for one batch size, with Conv3D + BatchNorm + activation fused.
    private func evaluationGraph(_ batchSize: Int) throws -> CompiledModel {
        if let compiled = evaluationGraphs[batchSize] { return compiled }
        let built = try model.build(batchSize: batchSize, mode: .inference, loss: LossOptions(), initialization: architecture.initialization)
        let compiled = try Self.fuse(built)
        evaluationGraphs[batchSize] = compiled
        return compiled
    }

    /// The compiler's fusion pass (switched off by `EMOTION3D_NO_FUSION=1`).
    static func fuse(_ built: BuiltModel) throws -> CompiledModel {
        let outputs = [built.logits] + (built.loss.map { [$0] } ?? [])
        guard CompilerOptions.fromEnvironment().fusion else { return CompiledModel(graph: built.graph, logits: built.logits, loss: built.loss) }
        let result = try FusionPass.run(built.graph, outputs: outputs)
        return CompiledModel(graph: result.graph, logits: result.values[built.logits]!, loss: built.loss.map { result.values[$0]! })
    }
}
