import ArgumentParser
import EmotionRecognition
import Foundation
import Layers
import Training

/// Trains an architecture on a prepared clip cache, saving a checkpoint after every epoch.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an architecture on a clip cache; a checkpoint is saved (atomically) after every epoch.")

    @Option(help: "The clip cache (from `emotion3d prepare`).") var clips: String
    @Option(help: "Architecture JSON (Graphs/*.json).") var architecture: String
    @Option(help: "Checkpoint to write (HDF5).") var checkpoint: String
    @Option(help: "Hold out these subjects (comma-separated) and evaluate on them after every epoch.") var testSubjects: String?
    @Flag(help: "Continue the run saved in --checkpoint.") var resume = false
    @Flag(help: "Skip augmentation of the training clips.") var noAugmentation = false
    @Option(help: "Start from the weights of this checkpoint (fine-tuning).") var pretrained: String?
    @Flag(help: "Print the run (per-epoch metrics, best and last epoch) as JSON.") var json = false
    @OptionGroup var training: TrainingArguments

    func run() throws {
        let architecture = try Architecture(contentsOf: self.architecture)
        let (clips, info) = try loadClips(self.clips, for: architecture)
        var trainSet = clips
        var testSet: LabeledClips?
        if let testSubjects {
            let held = Set(testSubjects.split(separator: ",").map(String.init))
            let unknown = held.subtracting(clips.subjects)
            guard unknown.isEmpty else { throw CommandError("\(self.clips) has no subject \(unknown.sorted().joined(separator: ", "))") }
            trainSet = clips.subset(clips.subjects.indices.filter { !held.contains(clips.subjects[$0]) })
            testSet = clips.subset(clips.subjects.indices.filter { held.contains(clips.subjects[$0]) })
        }
        if !noAugmentation, let policy = info.source?.defaultAugmentation {
            trainSet = augmented(trainSet, policy: policy, seed: training.seed)
        }
        let options = training.options(for: architecture)
        let trainer: Trainer
        if resume {
            guard FileManager.default.fileExists(atPath: checkpoint) else { throw CommandError("--resume: \(checkpoint) does not exist") }
            trainer = try Trainer(resuming: try Checkpoint.load(from: checkpoint), options: options)
        } else {
            let initial = try pretrained.map { try Checkpoint.load(from: $0).stateDict }
            trainer = try Trainer(architecture: architecture, options: options, initialWeights: initial)
        }
        trainer.progress = ProgressReporter(training.progress)
        if !training.quiet && !json {
            print("training '\(architecture.name)' on \(trainSet.count) clips\(testSet.map { ", evaluating on \($0.count)" } ?? ""); epochs \(trainer.run.epochs.count + 1)…\(options.epochs)")
        }
        let run = try trainer.train(trainSet, evaluation: testSet, checkpointPath: checkpoint)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            struct Output: Encodable {
                var checkpoint: String
                var step: Int
                var bestEpoch: Int?
                var bestAccuracy: Double?
                var lastAccuracy: Double?
                var epochs: [EpochMetrics]
            }
            let output = Output(
                checkpoint: checkpoint, step: trainer.step, bestEpoch: run.bestEpoch, bestAccuracy: run.bestAccuracy,
                lastAccuracy: run.lastAccuracy, epochs: run.epochs)
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
            return
        }
        if let best = run.bestEpoch, let accuracy = run.bestAccuracy {
            print(String(format: "best epoch %d: %.2f %%; last epoch: %.2f %%", best, accuracy * 100, (run.lastAccuracy ?? 0) * 100))
        }
        print("saved \(checkpoint) (epoch \(run.epochs.count), step \(trainer.step))")
    }
}
