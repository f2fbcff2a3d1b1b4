import ArgumentParser
import EmotionRecognition
import Foundation
import Layers
import Training

/// Cross-validates two architectures on the same folds and tests the difference.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cross-validate two architectures on identical folds and compare them with a paired t-test (the paper's Tables 4–5).")

    @Argument(help: "First architecture JSON.") var first: String
    @Argument(help: "Second architecture JSON.") var second: String
    @Option(help: "The clip cache (a second one with --second-clips when the two need different preprocessing).") var clips: String
    @Option(help: "Clip cache for the second architecture (default: --clips).") var secondClips: String?
    @Option(name: .customLong("protocol"), help: "loso or kfold:K.") var evaluationProtocol = ProtocolChoice(argument: "kfold:10")!
    @Option(help: "Folder for the report.") var output: String
    @Option(help: "Significance level.") var alpha = 0.05
    @Option(help: "greater (first better), less, or two-sided.") var alternative = "two-sided"
    @Flag(help: "Skip augmentation of the training folds.") var noAugmentation = false
    @OptionGroup var training: TrainingArguments

    func run() throws {
        guard let alternative = PairedTTest.Alternative(rawValue: alternative) else {
            throw CommandError("--alternative: expected one of \(PairedTTest.Alternative.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var results: [CrossValidationResult] = []
        for (path, clipsPath) in [(first, clips), (second, secondClips ?? clips)] {
            let architecture = try Architecture(contentsOf: path)
            let (data, info) = try loadClips(clipsPath, for: architecture)
            let plan = try evaluationProtocol.plan(subjects: data.subjects, seed: training.seed)
            var run = CrossValidationRun(
                architecture: architecture, plan: plan, options: training.options(for: architecture),
                augmentation: noAugmentation ? nil : info.source?.defaultAugmentation)
            run.progress = training.progress == .automatic ? .automatic : .quiet
            results.append(try run.run(data, log: training.log))
        }
        guard results[0].plan.folds.map(\.testSubjects) == results[1].plan.folds.map(\.testSubjects) else {
            throw CommandError("the two clip caches give different folds; compare needs the same subjects")
        }
        let test = try PairedTTest(results[0].bestAccuracies, results[1].bestAccuracies, alternative: alternative, alpha: alpha)
        try EvaluationReport.write(results, comparison: test, title: "\(results[0].architecture) vs \(results[1].architecture)", to: output)
        for result in results {
            print(String(format: "%@: overall %.2f %% (best epoch), %.2f %% (last epoch)", result.architecture, result.overallBestAccuracy * 100, result.overallLastAccuracy * 100))
        }
        print("paired t-test across folds: \(test.description)")
        print("report in \(output)")
    }
}
