import Foundation

/// Writes an evaluation's Markdown report, the same numbers as JSON, and PNG plots into a folder.
public enum EvaluationReport {
    /// Files written: `report.md`, `report.json`, `confusion.png`, `confusion-last.png`,
    /// `folds.png`, `curves.png` (and `comparison.png` with a comparison).
    @discardableResult
    public static func write(
        _ results: [CrossValidationResult], comparison: PairedTTest? = nil, title: String, to folder: String
    ) throws -> [String] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        var written: [String] = []

        var md = "# \(title)\n\n"
        for result in results {
            let best = try Summary(result.bestAccuracies), last = try Summary(result.lastAccuracies)
            md += "## \(result.architecture)\n\n"
            md += "Protocol: \(result.plan.method.rawValue), \(result.plan.folds.count) folds (seed \(result.plan.seed)); "
            md += "\(result.options.epochs) epochs, batch \(result.options.batchSize), optimizer \(result.options.optimizer.kind.rawValue) lr \(result.options.optimizer.learningRate).\n\n"
            md += "| measure | best epoch (paper's protocol) | last epoch |\n|---|---|---|\n"
            md += String(format: "| overall accuracy over all held-out clips | %.2f %% | %.2f %% |\n", result.overallBestAccuracy * 100, result.overallLastAccuracy * 100)
            md += "| mean ± sd across folds | \(pct(best)) | \(pct(last)) |\n\n"
            md += "| fold | test subjects | train clips | test clips | best epoch | best acc. | last acc. |\n|---|---|---|---|---|---|---|\n"
            for fold in result.folds {
                md += String(
                    format: "| %d | %@ | %d | %d | %d | %.1f %% | %.1f %% |\n", fold.fold + 1, fold.testSubjects.joined(separator: ", "),
                    fold.trainClips, fold.testClips, fold.bestEpoch, fold.bestAccuracy * 100, fold.lastAccuracy * 100)
            }
            let confusion = try result.confusion(best: true)
            md += "\nConfusion matrix at the best epoch (rows: true class, counts):\n\n| | " + confusion.classNames.joined(separator: " | ") + " |\n"
            md += "|---" + String(repeating: "|---", count: confusion.classNames.count) + "|\n"
            for (row, name) in confusion.classNames.enumerated() {
                md += "| **\(name)** | " + confusion.counts[row].map(String.init).joined(separator: " | ") + " |\n"
            }
            md += "\n"
        }
        if let comparison, results.count == 2 {
            md += "## Comparison\n\nPaired t-test across folds (best-epoch accuracies), \(results[0].architecture) vs \(results[1].architecture): "
            md += "\(comparison.description)\n\n"
        }
        md += "Plots: `confusion.png`, `folds.png`, `curves.png`. Numbers: `report.json`.\n"
        try md.write(toFile: path("report.md"), atomically: true, encoding: .utf8)
        written.append(path("report.md"))

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let summaries = results.map { result -> [String: Double] in
            ["overall_best": result.overallBestAccuracy, "overall_last": result.overallLastAccuracy,
             "mean_best": (try? Summary(result.bestAccuracies).mean) ?? .nan, "sd_best": (try? Summary(result.bestAccuracies).standardDeviation) ?? .nan,
             "mean_last": (try? Summary(result.lastAccuracies).mean) ?? .nan, "sd_last": (try? Summary(result.lastAccuracies).standardDeviation) ?? .nan]
        }
        let json = try encoder.encode(Document(title: title, results: results, summaries: summaries.map { $0.mapValues { $0.isFinite ? $0 : -1 } }, comparison: comparison))
        try json.write(to: URL(fileURLWithPath: path("report.json")))
        written.append(path("report.json"))

        if let first = results.first {
            try Plot.confusionMatrix(try first.confusion(best: true), title: "\(first.architecture): best epoch").writePNG(to: path("confusion.png"))
            try Plot.confusionMatrix(try first.confusion(best: false), title: "\(first.architecture): last epoch").writePNG(to: path("confusion-last.png"))
            written += [path("confusion.png"), path("confusion-last.png")]
        }
        let series = results.flatMap { [("\($0.architecture) best", $0.bestAccuracies.map { $0 * 100 }), ("\($0.architecture) last", $0.lastAccuracies.map { $0 * 100 })] }
        try Plot.foldAccuracies(series.map { (name: $0.0, values: $0.1) }, title: "Accuracy per fold (%)").writePNG(to: path("folds.png"))
        written.append(path("folds.png"))
        let loss = results.flatMap { result in result.folds.map { (name: "\(result.architecture) fold \($0.fold + 1)", values: $0.epochs.map(\.trainLoss)) } }
        let accuracy = results.flatMap { result in
            result.folds.map { (name: "\(result.architecture) fold \($0.fold + 1)", values: $0.epochs.map { ($0.evaluationAccuracy ?? 0) * 100 }) }
        }
        try Plot.trainingCurves(loss: loss, accuracy: accuracy, title: "Training loss and held-out accuracy per epoch").writePNG(to: path("curves.png"))
        written.append(path("curves.png"))
        return written
    }

    /// The contents of `report.json`.
    struct Document: Codable {
        var title: String
        var results: [CrossValidationResult]
        var summaries: [[String: Double]]
        var comparison: PairedTTest?
    }

    /// The cross-validation results a `report.json` written by `write` holds.
    public static func results(from path: String) throws -> [CrossValidationResult] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw DatasetError.io(path: path, message: "cannot read the report (\(error.localizedDescription))")
        }
        do { return try JSONDecoder().decode(Document.self, from: data).results } catch {
            throw DatasetError.invalidFile(path: path, message: "not an evaluation report.json (\(error))")
        }
    }

    static func pct(_ summary: Summary) -> String {
        String(format: "%.2f ± %.2f %%", summary.mean * 100, summary.standardDeviation * 100)
    }
}
