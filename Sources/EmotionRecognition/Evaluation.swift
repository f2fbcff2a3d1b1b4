import Foundation
import Layers
import Training
import Vision

extension TrainerOptions {
    /// These options with the training choices an architecture's hyper-parameters record (Table 1):
    /// `optimizer` (adam | lookahead_adam), `loss_weights`, `normalization`. The learning rate,
    /// batch size, epochs and seed stay as given.
    public func applying(_ architecture: Architecture) -> TrainerOptions {
        var options = self
        if case let .string(name)? = architecture.hyperparameters["optimizer"] {
            let rate = optimizer.learningRate
            options.optimizer = name == "lookahead_adam" ? .lookaheadAdam(learningRate: rate) : name == "adam" ? .adam(learningRate: rate) : optimizer
        }
        if case let .flag(weights)? = architecture.hyperparameters["loss_weights"] { options.classWeights = weights }
        if case let .flag(normalization)? = architecture.hyperparameters["normalization"] { options.pixelRange = normalization ? .symmetric : .unit }
        return options
    }
}

/// One fold of a cross-validation: who was held out and how the network did on them.
public struct FoldResult: Sendable, Codable {
    public var fold: Int
    public var testSubjects: [String]
    public var trainClips: Int
    public var testClips: Int
    /// The held-out clips' true classes, and the predictions at the best and at the last epoch.
    public var labels: [Int]
    public var bestPredictions: [Int]
    public var lastPredictions: [Int]
    public var bestEpoch: Int
    public var epochs: [EpochMetrics]
    public var seconds: Double

    public var bestAccuracy: Double { Self.accuracy(labels, bestPredictions) }
    public var lastAccuracy: Double { Self.accuracy(labels, lastPredictions) }
    static func accuracy(_ labels: [Int], _ predictions: [Int]) -> Double {
        labels.isEmpty ? 0 : Double(zip(labels, predictions).filter { $0 == $1 }.count) / Double(labels.count)
    }
}

/// A whole cross-validation of one architecture: the plan (folds are part of the result) and
/// every fold, with the summaries the paper reports.
public struct CrossValidationResult: Sendable, Codable {
    public var architecture: String
    public var plan: CrossValidationPlan
    public var classNames: [String]
    public var folds: [FoldResult]
    public var options: TrainerOptions

    public init(architecture: String, plan: CrossValidationPlan, classNames: [String], folds: [FoldResult], options: TrainerOptions) {
        self.architecture = architecture
        self.plan = plan
        self.classNames = classNames
        self.folds = folds
        self.options = options
    }

    /// Accuracy over all held-out clips at each fold's best epoch (the paper's protocol).
    public var overallBestAccuracy: Double {
        FoldResult.accuracy(folds.flatMap(\.labels), folds.flatMap(\.bestPredictions))
    }
    /// Accuracy over all held-out clips at the last epoch (no selection on the test fold).
    public var overallLastAccuracy: Double {
        FoldResult.accuracy(folds.flatMap(\.labels), folds.flatMap(\.lastPredictions))
    }
    public func confusion(best: Bool) throws -> ConfusionMatrix {
        try ConfusionMatrix(
            labels: folds.flatMap(\.labels), predictions: folds.flatMap { best ? $0.bestPredictions : $0.lastPredictions },
            classNames: classNames)
    }
    public var bestAccuracies: [Double] { folds.map(\.bestAccuracy) }
    public var lastAccuracies: [Double] { folds.map(\.lastAccuracy) }
}

/// Runs subject-independent cross-validation: for each fold, trains a fresh network on the
/// training subjects' clips (augmented by `augmentation`, training folds only) and evaluates it
/// on the held-out subjects' original clips after every epoch.
public struct CrossValidationRun {
    public var architecture: Architecture
    public var plan: CrossValidationPlan
    public var options: TrainerOptions
    public var augmentation: AugmentationPolicy?
    /// Which folds to run (all by default): lets separate processes share one evaluation.
    public var folds: [Int]?
    public var progress = ProgressReporter.Mode.quiet
    /// Start every fold from these weights (pre-trained on another dataset) instead of a fresh initialisation.
    public var initialWeights: [String: Tensor<Float>]?

    public init(architecture: Architecture, plan: CrossValidationPlan, options: TrainerOptions, augmentation: AugmentationPolicy?) {
        self.architecture = architecture
        self.plan = plan
        self.options = options
        self.augmentation = augmentation
    }

    /// Runs the folds in order. `afterFold` sees each finished fold and the results so far; returning
    /// false stops the run early (a pruned search trial).
    public func run(
        _ clips: LabeledClips, log: (String) -> Void = { _ in }, afterFold: (FoldResult, [FoldResult]) throws -> Bool = { _, _ in true }
    ) throws -> CrossValidationResult {
        guard clips.clipShape == architecture.inputShape else {
            throw TrainingError.invalidData("the clips are \(clips.clipShape), architecture '\(architecture.name)' takes \(architecture.inputShape)")
        }
        try plan.validate(subjects: clips.subjects)
        var results: [FoldResult] = []
        for fold in folds ?? Array(plan.folds.indices) {
            let start = Date()
            let (trainSet, testSet) = try plan.split(clips, fold: fold)
            guard trainSet.count > 0, testSet.count > 0 else {
                throw TrainingError.invalidData("fold \(fold) has \(trainSet.count) training and \(testSet.count) test clips")
            }
            let training = augmentation.map { augmented(trainSet, policy: $0, seed: options.seed &+ UInt64(fold)) } ?? trainSet
            var foldOptions = options
            foldOptions.seed = options.seed &+ UInt64(fold) &* 1000
            let trainer = try Trainer(architecture: architecture, options: foldOptions, initialWeights: initialWeights)
            trainer.progress = ProgressReporter(progress)
            let run = try trainer.train(training, evaluation: testSet)
            let result = FoldResult(
                fold: fold, testSubjects: plan.folds[fold].testSubjects, trainClips: training.count, testClips: testSet.count,
                labels: testSet.labels, bestPredictions: run.bestPredictions, lastPredictions: run.lastPredictions,
                bestEpoch: run.bestEpoch ?? run.epochs.count, epochs: run.epochs, seconds: Date().timeIntervalSince(start))
            results.append(result)
            log(String(
                format: "fold %d/%d (%@): best epoch %d %.1f %%, last epoch %.1f %% (%d train / %d test clips, %.1f s)", fold + 1,
                plan.folds.count, result.testSubjects.joined(separator: ","), result.bestEpoch, result.bestAccuracy * 100,
                result.lastAccuracy * 100, result.trainClips, result.testClips, result.seconds))
            if try !afterFold(result, results) { break }
        }
        return CrossValidationResult(architecture: architecture.name, plan: plan, classNames: clips.classNames, folds: results, options: options)
    }

    /// Cross-dataset evaluation (the paper's c3/c4 rows): train on all of `train` (from
    /// `initialWeights` when fine-tuning), evaluate on `test` after every epoch; one "fold".
    public static func crossDataset(
        architecture: Architecture, train: LabeledClips, test: LabeledClips, options: TrainerOptions,
        augmentation: AugmentationPolicy?, initialWeights: [String: Tensor<Float>]? = nil, progress: ProgressReporter.Mode = .quiet
    ) throws -> CrossValidationResult {
        guard test.classNames == train.classNames else {
            throw TrainingError.invalidData("the test set's classes \(test.classNames) differ from the training set's \(train.classNames)")
        }
        let start = Date()
        let trainer = try Trainer(architecture: architecture, options: options, initialWeights: initialWeights)
        trainer.progress = ProgressReporter(progress)
        let trainSet = augmentation.map { augmented(train, policy: $0, seed: options.seed) } ?? train
        let run = try trainer.train(trainSet, evaluation: test)
        let plan = CrossValidationPlan.crossDataset(trainSubjects: train.subjects, testSubjects: test.subjects)
        let fold = FoldResult(
            fold: 0, testSubjects: plan.folds[0].testSubjects, trainClips: trainSet.count, testClips: test.count, labels: test.labels,
            bestPredictions: run.bestPredictions, lastPredictions: run.lastPredictions, bestEpoch: run.bestEpoch ?? options.epochs,
            epochs: run.epochs, seconds: Date().timeIntervalSince(start))
        return CrossValidationResult(architecture: architecture.name, plan: plan, classNames: train.classNames, folds: [fold], options: options)
    }
}
