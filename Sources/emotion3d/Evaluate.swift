import ArgumentParser
import EmotionRecognition
import Foundation
import Layers
import Training

/// Parses `loso` or `kfold:K`.
struct ProtocolChoice: ExpressibleByArgument {
    enum Kind { case loso, kfold(Int) }
    let kind: Kind
    init?(argument: String) {
        if argument == "loso" {
            kind = .loso
        } else if argument.hasPrefix("kfold:"), let k = Int(argument.dropFirst(6)), k >= 2 {
            kind = .kfold(k)
        } else {
            return nil
        }
    }
    func plan(subjects: [String], seed: UInt64) throws -> CrossValidationPlan {
        switch kind {
        case .loso: try .leaveOneSubjectOut(subjects: subjects)
        case let .kfold(k): try .kFold(subjects: subjects, k: k, seed: seed)
        }
    }
}

/// Cross-validates an architecture on a clip cache and writes a report.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cross-validate an architecture (LOSO or subject-independent k-fold) and write a report (Markdown, JSON, PNG).",
        discussion: """
            Per fold a fresh network trains on the other subjects' clips (augmented with the dataset's policy) and is
            evaluated after every epoch on the held-out subjects' original clips. The report gives accuracy at the best
            epoch (the paper's protocol) and at the last epoch, per fold and overall, and the confusion matrices.
            With --test-clips, the network trains on all of --clips and is evaluated on the other dataset (cross-dataset);
            add --pretrained to fine-tune from a checkpoint instead of training from scratch.
            """)

    @Option(help: "The clip cache (from `emotion3d prepare`).") var clips: String
    @Option(help: "Architecture JSON (Graphs/*.json).") var architecture: String
    @Option(name: .customLong("protocol"), help: "loso or kfold:K (the paper: kfold:10).") var evaluationProtocol = ProtocolChoice(argument: "kfold:10")!
    @Option(help: "Folder for report.md, report.json and the plots.") var output: String
    @Option(help: "Cross-dataset: evaluate on this clip cache after training on all of --clips.") var testClips: String?
    @Option(help: "Start every training run from this checkpoint's weights (fine-tuning).") var pretrained: String?
    @Flag(help: "Skip augmentation of the training folds.") var noAugmentation = false
    @Option(help: "Run the folds in this many separate processes.") var processes = 1
    @Option(help: "Run only these folds (comma-separated, 0-based) and write their results to --partial.") var folds: String?
    @Option(help: "With --folds: where to write the folds' results (JSON).") var partial: String?
    @Flag(help: "Print the summary as JSON.") var json = false
    @OptionGroup var training: TrainingArguments

    func run() throws {
        let architecture = try Architecture(contentsOf: self.architecture)
        let result = try crossValidate(architecture)
        if folds != nil { return }
        try EvaluationReport.write([result], title: "Evaluation of \(architecture.name)", to: output)
        printSummary(result)
    }

    func crossValidate(_ architecture: Architecture) throws -> CrossValidationResult {
        let (clips, info) = try loadClips(self.clips, for: architecture)
        let options = training.options(for: architecture)
        let policy = noAugmentation ? nil : info.source?.defaultAugmentation
        let initial = try pretrained.map { try Checkpoint.load(from: $0).stateDict }
        if let testClips {
            let (test, _) = try loadClips(testClips, for: architecture)
            return try CrossValidationRun.crossDataset(
                architecture: architecture, train: clips, test: test, options: options, augmentation: policy, initialWeights: initial,
                progress: training.progress == .automatic ? .automatic : .quiet)
        }
        let plan = try evaluationProtocol.plan(subjects: clips.subjects, seed: training.seed)
        if let folds {
            // A worker process: run the given folds and write their results.
            guard let partial else { throw CommandError("--folds needs --partial FILE") }
            var run = CrossValidationRun(architecture: architecture, plan: plan, options: options, augmentation: policy)
            run.initialWeights = initial
            run.folds = try folds.split(separator: ",").map {
                guard let fold = Int($0), plan.folds.indices.contains(fold) else { throw CommandError("--folds: no fold '\($0)' in 0..<\(plan.folds.count)") }
                return fold
            }
            let result = try run.run(clips, log: log)
            try JSONEncoder().encode(result.folds).write(to: URL(fileURLWithPath: partial), options: .atomic)
            return result
        }
        if processes > 1 { return try inProcesses(architecture, plan: plan, classNames: clips.classNames, options: options) }
        var run = CrossValidationRun(architecture: architecture, plan: plan, options: options, augmentation: policy)
        run.progress = training.progress == .automatic ? .automatic : .quiet
        run.initialWeights = initial
        return try run.run(clips, log: log)
    }

    func log(_ line: String) { training.log(line) }

    /// Spreads the folds over worker processes of this executable and merges their results.
    func inProcesses(_ architecture: Architecture, plan: CrossValidationPlan, classNames: [String], options: TrainerOptions) throws -> CrossValidationResult {
        let workers = min(processes, plan.folds.count)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-folds-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var children: [(Process, String)] = []
        for worker in 0..<workers {
            let assigned = Swift.stride(from: worker, to: plan.folds.count, by: workers).map(String.init).joined(separator: ",")
            let partial = folder.appendingPathComponent("worker\(worker).json").path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
            var arguments = Array(CommandLine.arguments.dropFirst())
            if let index = arguments.firstIndex(of: "--processes") { arguments.removeSubrange(index...(index + 1)) }
            process.arguments = arguments + ["--folds", assigned, "--partial", partial]
            try process.run()
            children.append((process, partial))
        }
        var folds: [FoldResult] = []
        for (process, partial) in children {
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw CommandError("a fold worker failed (exit \(process.terminationStatus))") }
            folds += try JSONDecoder().decode([FoldResult].self, from: Data(contentsOf: URL(fileURLWithPath: partial)))
        }
        return CrossValidationResult(
            architecture: architecture.name, plan: plan, classNames: classNames, folds: folds.sorted { $0.fold < $1.fold }, options: options)
    }

    func printSummary(_ result: CrossValidationResult) {
        let best = (try? Summary(result.bestAccuracies)).map { String(format: "%.2f ± %.2f", $0.mean * 100, $0.standardDeviation * 100) } ?? "–"
        if json {
            let object: [String: Any] = [
                "architecture": result.architecture, "overall_best": result.overallBestAccuracy, "overall_last": result.overallLastAccuracy,
                "fold_best": result.bestAccuracies, "fold_last": result.lastAccuracies, "report": output,
            ]
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        print(String(
            format: "%@: overall accuracy %.2f %% at the best epoch, %.2f %% at the last; per fold %@ %%; report in %@",
            result.architecture, result.overallBestAccuracy * 100, result.overallLastAccuracy * 100, best, output))
    }
}
