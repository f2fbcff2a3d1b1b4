import ArgumentParser

@main
struct Emotion3D: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emotion3d",
        abstract: "3D-CNN facial emotion recognition in videos: a graph-compiled 3D CNN framework and the ISVC 2020 paper's system.",
        subcommands: [Demo.self, ExportGraphs.self, Inspect.self, Prepare.self])
}
