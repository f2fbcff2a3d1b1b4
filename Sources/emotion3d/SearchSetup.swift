import EmotionRecognition
import Foundation
import HyperSearch
import Layers
import Training

/// What a search needs before its first trial: the clips prepared with and without CLAHE (cached),
/// the folds, and the objective. Shared by `emotion3d search` and the main job.
struct SearchSetup {
    let objective: PaperSearchObjective
    let classNames: [String]

    /// Prepares (or reuses) `<cacheFolder>/clips-<size>[-clahe].h5` for `source`.
    static func make(
        source: DatasetSource, network: PaperNetwork, trainer: TrainerOptions, protocolChoice: ProtocolChoice,
        cacheFolder: String, reportFolder: String?, augment: Bool, quiet: Bool, log: @escaping (String) -> Void
    ) throws -> SearchSetup {
        try FileManager.default.createDirectory(atPath: cacheFolder, withIntermediateDirectories: true)
        var clips: [Bool: LabeledClips] = [:]
        let bar = ProgressReporter(quiet ? .quiet : .automatic)
        for clahe in [false, true] {
            var parameters = PreprocessingParameters()
            parameters.frames = network.frames
            parameters.size = network.height
            parameters.clahe = clahe
            let path = (cacheFolder as NSString).appendingPathComponent("clips-\(source.name)-\(network.height)\(clahe ? "-clahe" : "").h5")
            let (data, report, reused) = try ClipCache.loadOrPrepare(
                source, parameters: parameters, cachePath: path, log: { bar.finishTask(); log($0) },
                progress: { done, total in bar.task(clahe ? "preparing (CLAHE)" : "preparing", done: done, total: total) })
            bar.finishTask()
            log(reused ? "reused \(path) (\(data.count) clips)" : "prepared \(path): \(report.clips) clips, \(report.facesNotFound) without a face, \(String(format: "%.1f", report.seconds)) s")
            clips[clahe] = data
        }
        let data = clips[false]!
        var network = network
        network.classes = data.classNames.count
        let plan = try protocolChoice.plan(subjects: data.subjects, seed: trainer.seed)
        let objective = PaperSearchObjective(
            base: network, trainer: trainer, plan: plan, clips: clips, augmentation: augment ? source.defaultAugmentation : nil,
            reportFolder: reportFolder)
        return SearchSetup(objective: objective, classNames: data.classNames)
    }

    /// Runs trials in this process until the study has `trials` finished (complete or pruned) trials,
    /// `timeout` seconds pass, or `perWorker` trials ran here.
    func optimize(_ study: Study, trials: Int, timeout: Double?, log: @escaping (String) -> Void) throws -> Study.Summary {
        try study.optimize(trials: trials, studyTrials: trials, timeout: timeout) { trial in
            let parameters = trial.params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            log("trial \(trial.number): \(parameters)")
            let start = Date()
            do {
                let value = try objective.evaluate(trial, log: log)
                log(String(format: "trial %d: accuracy %.4f (%.0f s)", trial.number, value, Date().timeIntervalSince(start)))
                return value
            } catch let pruned as TrialPruned {
                log("trial \(trial.number): \(pruned.description)")
                throw pruned
            }
        }
    }
}
