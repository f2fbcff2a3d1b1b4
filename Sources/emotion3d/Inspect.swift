import ArgumentParser
import Foundation
import Layers
import Training

/// Prints a checkpoint's architecture, parameter table and training metadata.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a checkpoint: architecture, parameters (path, shape, count, mean, std), metadata.")

    @Argument(help: "The checkpoint (.h5).")
    var file: String

    @Flag(help: "Print the architecture JSON in full.")
    var json = false

    func run() throws {
        let checkpoint = try Checkpoint.load(from: file)
        let architecture = checkpoint.architecture
        print("architecture '\(architecture.name)': input \(architecture.inputShape), \(architecture.classes) classes, init \(architecture.initialization.rawValue)")
        if !architecture.hyperparameters.isEmpty {
            print("hyper-parameters: " + architecture.hyperparameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        if !checkpoint.classNames.isEmpty { print("classes: " + checkpoint.classNames.joined(separator: ", ")) }
        if !checkpoint.metadata.isEmpty {
            print("metadata: " + checkpoint.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        if json { print(try architecture.jsonString()) }
        let built = try architecture.model.build(batchSize: 1, mode: .inference)
        var total = 0
        let rows = (built.parameters + built.states).map { spec -> [String] in
            let values = checkpoint.stateDict[spec.path]!.scalars.map(Double.init)
            let mean = values.reduce(0, +) / Double(values.count)
            let std = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
            total += values.count
            return [spec.path, spec.shape.description, "\(values.count)", String(format: "%.5g", mean), String(format: "%.5g", std)]
        }
        print(formatTable(header: ["parameter", "shape", "count", "mean", "std"], rows: rows, footer: ["total", "", "\(total)", "", ""]))
    }
}
