import ArgumentParser
import Foundation
import EmotionRecognition
import Layers
import Training

/// Options shared by the commands that train (train, evaluate, compare).
struct TrainingArguments: ParsableArguments {
    @Option(help: "Epochs per training run (the paper: up to 16).") var epochs = 16
    @Option(help: "Clips per mini-batch (the paper: 30).") var batchSize = 30
    @Option(help: "Learning rate (the paper: 1e-4).") var learningRate = 1e-4
    @Option(help: "Seed of weights, batch order, dropout and augmentation.") var seed: UInt64 = 0
    @Flag(help: "No progress output.") var quiet = false
    @Flag(help: "A progress bar or per-batch detail.") var verbose = false

    /// The trainer's options before an architecture's choices are applied (Adam at the given rate).
    var baseOptions: TrainerOptions {
        var options = TrainerOptions()
        options.epochs = epochs
        options.batchSize = batchSize
        options.seed = seed
        options.optimizer = .adam(learningRate: learningRate)
        return options
    }

    /// The trainer's options, with the architecture's Table 1 choices (optimizer, loss weights, normalisation).
    func options(for architecture: Architecture) -> TrainerOptions { baseOptions.applying(architecture) }

    var progress: ProgressReporter.Mode { quiet ? .quiet : (verbose ? .automatic : .lines) }

    /// Progress lines on standard error, unless `--quiet`.
    var log: (String) -> Void { standardErrorLog(quiet: quiet) }
}

/// A logger writing lines to standard error (nothing when `quiet`), so stdout stays for results.
func standardErrorLog(quiet: Bool) -> (String) -> Void {
    { line in if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
}

/// Loads a clip cache and checks it against an architecture (clip size; CLAHE as the architecture records it).
func loadClips(_ path: String, for architecture: Architecture) throws -> (LabeledClips, ClipCache.Info) {
    let (clips, info) = try ClipCache.load(path)
    guard clips.clipShape == architecture.inputShape else {
        throw CommandError("\(path) holds clips of shape \(clips.clipShape); architecture '\(architecture.name)' takes \(architecture.inputShape) (prepare with --size \(architecture.inputShape[2]) --frames \(architecture.inputShape[1]))")
    }
    if case let .flag(clahe)? = architecture.hyperparameters["clahe"], clahe != info.parameters.clahe {
        throw CommandError("\(path) was prepared \(info.parameters.clahe ? "with" : "without") CLAHE; architecture '\(architecture.name)' was designed \(clahe ? "with" : "without") it")
    }
    return (clips, info)
}
