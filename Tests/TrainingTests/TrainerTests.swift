import Foundation
import Layers
import Testing

@testable import Training

/// A small learnable problem: 3 classes of 1×4×8×8 clips; the class decides which third of the
/// frame is bright and whether the brightness rises or falls over time (noise on top).
func toyClips(count: Int, seed: UInt64) -> LabeledClips {
    var generator = SeededGenerator(seed: seed)
    let shape: Shape = [1, 4, 8, 8]
    var pixels: [UInt8] = [], labels: [Int] = [], subjects: [String] = []
    for index in 0..<count {
        let label = index % 3
        for frame in 0..<4 {
            for row in 0..<8 {
                for column in 0..<8 {
                    let bright = column / 3 == label
                    let level = bright ? 120 + (label == 1 ? frame * 30 : (3 - frame) * 30) : 40
                    pixels.append(UInt8(clamping: level + Int(generator.next() % 40)))
                }
            }
        }
        labels.append(label)
        subjects.append("S\(index % 5)")
    }
    return try! LabeledClips(
        clipShape: shape, pixels: pixels, labels: labels, classNames: ["left", "middle", "right"], subjects: subjects,
        sequenceIDs: (0..<count).map { "seq\($0)" })
}

let toyArchitecture = Architecture(
    name: "toy",
    model: Model(inputShape: [1, 4, 8, 8], classes: 3) {
        Conv3D(filters: 4, padding: Triple(1))
        BatchNorm3D()
        ReLU()
        MaxPool3D(kernel: Triple(2))
        Flatten()
        Dropout(0.2)
        Dense(3)
    }, initialization: .xavierUniform)

func toyOptions(epochs: Int = 4, optimizer: OptimizerConfig = .adam(learningRate: 1e-2)) -> TrainerOptions {
    var options = TrainerOptions()
    options.batchSize = 8
    options.epochs = epochs
    options.seed = 42
    options.optimizer = optimizer
    options.evaluationBatchSize = 16
    return options
}

@Suite("Trainer")
struct TrainerTests {
    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-trainer-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    @Test("learns a small problem: the loss falls and held-out accuracy beats chance")
    func learns() throws {
        let trainer = try Trainer(architecture: toyArchitecture, options: toyOptions(epochs: 6))
        let run = try trainer.train(toyClips(count: 45, seed: 1), evaluation: toyClips(count: 30, seed: 2))
        #expect(run.epochs.count == 6)
        #expect(run.epochs.last!.trainLoss < run.epochs.first!.trainLoss)
        #expect((run.bestAccuracy ?? 0) > 0.6, "best held-out accuracy \(run.bestAccuracy ?? 0)")
        #expect(run.bestPredictions.count == 30 && run.lastPredictions.count == 30)
        #expect(run.bestEpoch.map { run.epochs[$0 - 1].evaluationAccuracy == run.epochs.compactMap(\.evaluationAccuracy).max() } == true)
    }

    @Test("the same seed gives bitwise the same weights")
    func deterministic() throws {
        let data = toyClips(count: 20, seed: 3)
        let a = try Trainer(architecture: toyArchitecture, options: toyOptions(epochs: 2))
        let b = try Trainer(architecture: toyArchitecture, options: toyOptions(epochs: 2))
        try a.train(data)
        try b.train(data)
        #expect(a.values.keys.sorted() == b.values.keys.sorted())
        for (key, value) in a.values { #expect(value.scalars == b.values[key]!.scalars, "\(key) differs") }
    }

    @Test("the compiled program and the interpreter train to bitwise the same weights, losses and predictions")
    func programEqualsInterpreter() throws {
        let data = toyClips(count: 20, seed: 6), evaluation = toyClips(count: 9, seed: 7)
        let program = try Trainer(architecture: toyArchitecture, options: toyOptions(epochs: 2))
        let interpreter = try Trainer(architecture: toyArchitecture, options: toyOptions(epochs: 2))
        interpreter.compilerOptions.interpreter = true
        try program.train(data, evaluation: evaluation)
        try interpreter.train(data, evaluation: evaluation)
        #expect(program.values.keys.sorted() == interpreter.values.keys.sorted())
        for (key, value) in program.values { #expect(value.scalars == interpreter.values[key]!.scalars, "\(key) differs") }
        #expect(program.run.epochs.map(\.trainLoss) == interpreter.run.epochs.map(\.trainLoss))
        #expect(program.run.epochs.map(\.evaluationLoss) == interpreter.run.epochs.map(\.evaluationLoss))
        #expect(program.run.lastPredictions == interpreter.run.lastPredictions)
    }

    @Test("training 4 epochs equals 2, save, load, 2 more — bitwise, with Lookahead and dropout")
    func resume() throws {
        let data = toyClips(count: 20, seed: 4), evaluation = toyClips(count: 9, seed: 5)
        let optimizer = OptimizerConfig.lookaheadAdam(learningRate: 1e-2, k: 3)
        let straight = try Trainer(architecture: toyArchitecture, options: toyOptions(epochs: 4, optimizer: optimizer))
        try straight.train(data, evaluation: evaluation)

        let path = folder.appendingPathComponent("half.h5").path
        let first = try Trainer(architecture: toyArchitecture, options: toyOptions(epochs: 2, optimizer: optimizer))
        try first.train(data, evaluation: evaluation, checkpointPath: path)
        let resumed = try Trainer(resuming: try Checkpoint.load(from: path), options: toyOptions(epochs: 4, optimizer: optimizer))
        let run = try resumed.train(data, evaluation: evaluation)

        #expect(run.epochs.count == 4)
        #expect(resumed.step == straight.step)
        for (key, value) in straight.values { #expect(value.scalars == resumed.values[key]?.scalars, "\(key) differs after resume") }
        #expect(run.epochs.map(\.trainLoss) == straight.run.epochs.map(\.trainLoss))
    }

    @Test("a diverging loss stops the run naming the epoch and batch")
    func divergence() throws {
        let trainer = try Trainer(architecture: toyArchitecture, options: toyOptions(epochs: 3, optimizer: .sgd(learningRate: 1e37)))
        #expect {
            try trainer.train(toyClips(count: 24, seed: 6))
        } throws: { error in
            guard case let .diverged(epoch, batch, _) = error as? TrainingError else { return false }
            return epoch >= 1 && batch >= 1 && "\(error)".contains("epoch \(epoch), batch \(batch)")
        }
    }

    @Test("class weights are N / (K · n_c)")
    func classWeights() {
        #expect(Trainer.classWeights([10, 5, 0, 25]).scalars == [1, 2, 0, 0.4])
    }

    @Test("data that does not fit the architecture is rejected")
    func mismatch() throws {
        let trainer = try Trainer(architecture: toyArchitecture, options: toyOptions())
        var data = toyClips(count: 6, seed: 7)
        data.classNames.append("extra")
        #expect(throws: TrainingError.self) { try trainer.train(data) }
    }
}
