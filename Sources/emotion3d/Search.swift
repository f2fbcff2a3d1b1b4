import ArgumentParser
import EmotionRecognition
import Foundation
import HyperSearch
import Layers
import Training

/// The paper's TPE search over Table 1, with cross-validation as the objective.
struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search Table 1's hyper-parameters with TPE; each trial is cross-validated and pruned when it can no longer reach the threshold.",
        discussion: """
            The study lives in --storage (sqlite:///path.db or postgresql://user@host/db). --workers K runs K processes
            on this machine; more machines join by running the same command against the same PostgreSQL URL. Running
            the command again resumes the study. Clip caches (with and without CLAHE) are kept in --cache.
            """)

    @Option(help: "Study name.") var study: String
    @OptionGroup var storage: StorageOption
    @OptionGroup var data: DatasetArguments
    @Option(name: .customLong("protocol"), help: "loso or kfold:K (the paper: loso).") var evaluationProtocol = ProtocolChoice(argument: "kfold:10")!
    @Option(help: "Finished trials the study should reach.") var trials = 20
    @Option(help: "Stop starting trials after this many seconds.") var timeout: Double?
    @Option(help: "Worker processes on this machine.") var workers = 1
    @Option(help: "Prune a trial once its accuracy can no longer reach this (the paper: 0.965 LOSO). 0: no pruning.") var threshold = 0.965
    @Option(help: "Random start-up trials before TPE (Optuna: 10).") var startupTrials = 10
    @Option(help: "Clip side in pixels.") var size = 112
    @Option(help: "Divide every filter count (1: the paper's network).") var widthDivisor = 1
    @Option(help: "Units of the hidden dense layers.") var hiddenUnits = 4096
    @Option(help: "Folder of the clip caches.") var cache = "cache"
    @Option(help: "Folder for each trial's report (none when omitted).") var reports: String?
    @Flag(help: "Skip augmentation of the training folds.") var noAugmentation = false
    @OptionGroup var training: TrainingArguments

    func run() throws {
        guard workers >= 1, trials >= 1 else { throw CommandError("--workers and --trials must be ≥ 1") }
        let url = try storage.url()
        var children: [Process] = []
        if workers > 1 {
            // The other workers are this command again, one process each, on the same study.
            var arguments = Array(CommandLine.arguments.dropFirst())
            if let index = arguments.firstIndex(of: "--workers") { arguments.removeSubrange(index...(index + 1)) }
            for _ in 1..<workers {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
                process.arguments = arguments + ["--workers", "1", "--quiet"]
                try process.run()
                children.append(process)
            }
        }
        var network = PaperNetwork()
        network.height = size
        network.width = size
        network.widthDivisor = widthDivisor
        network.hiddenUnits = hiddenUnits
        let log = training.log
        let setup = try SearchSetup.make(
            source: try data.source(), network: network, trainer: training.baseOptions,
            protocolChoice: evaluationProtocol, cacheFolder: cache, reportFolder: reports, augment: !noAugmentation, quiet: training.quiet, log: log)
        let pruner: PrunerConfig = threshold > 0 ? .unreachable(threshold: threshold, totalSteps: nil, bestStepValue: 1) : .none
        let study = try Study.create(
            name: self.study, storage: url, direction: .maximize, space: .paperTable1,
            sampler: .tpe(seed: training.seed, startupTrials: startupTrials), pruner: pruner,
            options: StudyOptions(heartbeatInterval: 10, gracePeriod: 120))
        let summary = try setup.optimize(study, trials: trials, timeout: timeout, log: log)
        for child in children { child.waitUntilExit() }
        let finished = try study.trials(attributes: false).filter { $0.state == .complete || $0.state == .pruned }.count
        print("this worker: \(summary.complete) complete, \(summary.pruned) pruned, \(summary.failed) failed; the study has \(finished) finished trials")
        if let best = try study.bestTrial(), let value = best.value {
            print(String(format: "best: trial %d, accuracy %.4f — export it with `emotion3d study export %@ --storage %@ --to Graphs/%@-best.json`", best.number, value, self.study, url, self.study))
        }
    }
}
