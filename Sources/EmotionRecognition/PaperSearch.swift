import Foundation
import HyperSearch
import Layers
import Training
import Vision

extension PaperNetwork {
    /// This network (its size, width and classes kept) with a search trial's Table 1 parameters, and the
    /// training choices they set. Errors name the missing or unknown parameter.
    public func applying(_ params: [String: ParameterValue]) throws -> (network: PaperNetwork, training: TrainingChoices) {
        func need(_ key: String) throws -> ParameterValue {
            guard let value = params[key] else { throw TrainingError.invalid("trial parameters lack '\(key)' (Table 1 needs it)") }
            return value
        }
        func choice<T: RawRepresentable>(_ key: String, _ type: T.Type) throws -> T where T.RawValue == String {
            let value = try need(key)
            guard let raw = value.stringValue, let chosen = T(rawValue: raw) else {
                throw TrainingError.invalid("trial parameter '\(key)' = \(value) is not a known choice")
            }
            return chosen
        }
        func flag(_ key: String) throws -> Bool {
            guard let value = try need(key).boolValue else { throw TrainingError.invalid("trial parameter '\(key)' is not a boolean") }
            return value
        }
        var network = self
        network.activation = try choice("activation", ActivationChoice.self)
        network.pooling = try choice("pooling", PoolingChoice.self)
        guard let temporal = try need("temporal_size").intValue else { throw TrainingError.invalid("trial parameter 'temporal_size' is not an integer") }
        network.temporalKernel = temporal
        network.secondConvInFirstGroups = try flag("second_conv")
        guard let dropout = try need("dropout").doubleValue else { throw TrainingError.invalid("trial parameter 'dropout' is not a number") }
        network.dropout = min(max(dropout, 0), 0.999)  // Table 1's range is [0, 1]; p = 1 would drop everything
        var training = TrainingChoices()
        training.optimizer = try choice("optimizer", TrainingChoices.Optimizer.self)
        training.clahe = try flag("clahe")
        training.normalization = try flag("normalization")
        training.lossWeights = try flag("loss_weights")
        training.initialization = try choice("initializer", WeightInitialization.self)
        return (network, training)
    }
}

/// The paper's hyper-parameter search objective: a trial's Table 1 parameters → an architecture of
/// the family → subject-independent cross-validation on the clips prepared with or without CLAHE
/// (as the trial says), reporting the running accuracy after every fold so the pruner can stop
/// trials that can no longer reach the threshold.
public struct PaperSearchObjective {
    /// Size, width, hidden units and classes of every trial's network.
    public var base: PaperNetwork
    public var trainer: TrainerOptions
    public var plan: CrossValidationPlan
    /// The clips without CLAHE (`false`) and with it (`true`).
    public var clips: [Bool: LabeledClips]
    public var augmentation: AugmentationPolicy?
    /// Where each trial's report goes (`<folder>/trial-<n>/`), or nil for none.
    public var reportFolder: String?

    public init(
        base: PaperNetwork, trainer: TrainerOptions, plan: CrossValidationPlan, clips: [Bool: LabeledClips],
        augmentation: AugmentationPolicy?, reportFolder: String?
    ) {
        self.base = base
        self.trainer = trainer
        self.plan = plan
        self.clips = clips
        self.augmentation = augmentation
        self.reportFolder = reportFolder
    }

    /// The architecture a trial describes.
    public func architecture(_ params: [String: ParameterValue], name: String) throws -> Architecture {
        let (network, training) = try base.applying(params)
        return try network.architecture(name: name, training: training)
    }

    /// Runs one trial: its accuracy over all held-out clips at each fold's best epoch.
    public func evaluate(_ trial: Trial, log: (String) -> Void) throws -> Double {
        let architecture = try self.architecture(trial.params, name: "trial-\(trial.number)")
        let clahe = architecture.hyperparameters["clahe"] == .flag(true)
        guard let data = clips[clahe] else { throw TrainingError.invalid("no clips prepared \(clahe ? "with" : "without") CLAHE") }
        let total = data.count
        let run = CrossValidationRun(architecture: architecture, plan: plan, options: trainer.applying(architecture), augmentation: augmentation)
        let result = try run.run(data, log: { log("trial \(trial.number): " + $0) }) { _, done in
            let correct = done.reduce(0) { $0 + zip($1.labels, $1.bestPredictions).filter { $0 == $1 }.count }
            let tested = done.reduce(0) { $0 + $1.testClips }
            try trial.report(Double(correct) / Double(tested), step: done.count - 1, bound: Double(correct + total - tested) / Double(total))
            return try !trial.shouldPrune()
        }
        if let reportFolder {
            let folder = (reportFolder as NSString).appendingPathComponent("trial-\(trial.number)")
            try EvaluationReport.write([result], title: "Trial \(trial.number)", to: folder)
            try trial.setUserAttribute("report", .string((folder as NSString).appendingPathComponent("report.md")))
        }
        if result.folds.count < plan.folds.count {
            throw TrialPruned("pruned after fold \(result.folds.count): running accuracy \(String(format: "%.3f", result.overallBestAccuracy))")
        }
        return result.overallBestAccuracy
    }
}
