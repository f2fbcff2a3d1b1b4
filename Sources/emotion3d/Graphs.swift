import ArgumentParser
import EmotionRecognition
import Foundation
import Layers

/// Writes the built-in architecture descriptions (the paper's models, the search template).
struct ExportGraphs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graphs", abstract: "Write the built-in architecture JSON files (the paper's CK+ and Oulu-CASIA models, the search template).")

    @Option(help: "Folder to write into.")
    var output = "Graphs"

    func run() throws {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        for (file, architecture) in try PaperNetwork.builtInArchitectures() {
            let path = (output as NSString).appendingPathComponent(file)
            try (architecture.jsonString() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            print("wrote \(path)")
        }
    }
}
