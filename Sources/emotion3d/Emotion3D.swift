import ArgumentParser

@main
struct Emotion3D: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emotion3d",
        abstract: "3D-CNN facial emotion recognition in videos: a graph-compiled 3D CNN framework and the ISVC 2020 paper's system.",
        discussion: "Any command takes --experiment FILE: its options from a JSON object or a flat YAML mapping (keys are the option names).",
        subcommands: [Demo.self, Prepare.self, Train.self, Evaluate.self, Compare.self, Run.self, Inspect.self, Predict.self, Bench.self, ArchitectureCommand.self, ExportGraphs.self, StudyCommand.self, Search.self, Reproduce.self])

    /// Expands `--experiment FILE` before parsing.
    static func main() {
        do {
            main(try ExperimentFile.expand(Array(CommandLine.arguments.dropFirst())))
        } catch {
            exit(withError: error)
        }
    }
}

/// A failure on user input or data: printed as one line, exit code 1, no usage text.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
