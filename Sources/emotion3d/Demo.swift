import ArgumentParser
import EmotionRecognition
import Foundation
import Layers
import Training

/// Builds the paper's network from the DSL, prints its layer table, and runs one training step.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the paper's network, print its layer table, and run one training step on random data.")

    @Option(help: "Clips in the training batch.")
    var batch = 2

    @Option(help: "Seed of the weights, the random clips and dropout.")
    var seed: UInt64 = 1

    @Flag(help: "Run the training step on the small configuration (48×48, filters / 4) instead of the full-size network.")
    var small = false

    @Option(help: "Write the training graph in Graphviz DOT to this file.")
    var dot: String?

    @Option(help: "Save the network after the step as an HDF5 checkpoint (open it with `emotion3d inspect`).")
    var save: String?

    func run() throws {
        let paper = PaperNetwork()
        let inference = try paper.model().build(batchSize: 1, mode: .inference)
        print("The paper's network (\(paper.channels)×\(paper.frames)×\(paper.height)×\(paper.width) input, \(paper.classes) classes):")
        print(inference.layerTable())
        if let flatten = inference.layers.first(where: { $0.summary == "Flatten" }) {
            print("features after group 5: \(flatten.outputShape[1])")
        }
        print("trainable parameters: \(inference.parameterCount)")

        let network = small ? PaperNetwork.small : paper
        let model = try network.model()
        if small { print("\ntraining step on the small configuration (\(network.height)×\(network.width), filters / \(network.widthDivisor), \(network.hiddenUnits) hidden units)") }

        let training = try model.build(batchSize: batch, mode: .training, loss: LossOptions())
        try training.addSGDStep(learningRate: 1e-4)
        if let dot { try training.graph.dotDump().write(toFile: dot, atomically: true, encoding: .utf8) }
        print("\ntraining graph: \(training.graph.nodes.count) nodes (forward, backward and SGD update)")

        var generator = SeededGenerator(seed: seed)
        let inputShape = training.graph.shape(of: training.input)
        let clips = Tensor<Float>(shape: inputShape, scalars: (0..<inputShape.count).map { _ in generator.nextUnitFloat() })
        let labels = Tensor<Float>(shape: [batch], scalars: (0..<batch).map { _ in Float(generator.next() % UInt64(network.classes)) })
        let session = try Session(graph: training.graph, values: training.initialValues(seed: seed), seed: seed)
        let feeds = ["input": clips, "labels": labels]

        let start = Date()
        let first = try session.run([training.loss!], inputs: feeds)[training.loss!]!.scalars[0]
        let seconds = Date().timeIntervalSince(start)
        let second = try session.run([training.loss!], inputs: feeds, applyUpdates: false)[training.loss!]!.scalars[0]
        print(String(format: "one training step on a random batch of %d in %.1f s: loss %.5f before the step, %.5f after it (dropout draws new masks each step)", batch, seconds, first, second))
        if let save {
            let architecture = Architecture(name: small ? "demo-small" : "demo", model: model)
            let checkpoint = Checkpoint(
                architecture: architecture, stateDict: session.values,
                metadata: ["step": .number(Double(session.step)), "seed": .number(Double(seed)), "loss": .number(Double(second))])
            try checkpoint.save(to: save)
            print("saved \(save)")
        }
    }
}
