import ArgumentParser
import Foundation
import HDF5
import Layers
import Training

/// Evaluates a network on inputs stored in HDF5 and writes the outputs (and gradients).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a network on inputs from an HDF5 file; optionally write gradients.",
        discussion: """
            Input file: dataset `input` [N, C, D, H, W] (float), optionally `upstream` [N, classes].
            Output file: `output` [N, classes] (logits); with --gradients, `gradients/input` and
            `gradients/<parameter path>` — the gradients of sum(output × upstream), upstream = ones when
            absent; with --train-mode, `states_after/<path>` (BatchNorm running statistics after the run).
            """)

    @Option(help: "Architecture JSON (Graphs/*.json).")
    var architecture: String

    @Option(help: "Weights: an Emotion3D checkpoint (.h5). Omit to initialise from --seed.")
    var weights: String?

    @Option(help: "HDF5 file with the `input` dataset.")
    var input: String

    @Option(help: "HDF5 file to write.")
    var output: String

    @Flag(help: "Also write the gradients with respect to the input and every parameter.")
    var gradients = false

    @Flag(help: "Run in training mode: BatchNorm uses batch statistics, dropout is active.")
    var trainMode = false

    @Option(help: "Seed of the initial weights (without --weights) and of dropout.")
    var seed: UInt64 = 0

    func run() throws {
        let architecture = try Architecture(contentsOf: self.architecture)
        let values: [String: Tensor<Float>]
        if let weights {
            let checkpoint = try Checkpoint.load(from: weights)
            guard checkpoint.architecture.model.body.spec == architecture.model.body.spec,
                checkpoint.architecture.inputShape == architecture.inputShape
            else {
                throw CommandError("\(weights) holds weights of architecture '\(checkpoint.architecture.name)', which differs from \(self.architecture)")
            }
            values = checkpoint.stateDict
        } else {
            values = try architecture.model.build(batchSize: 1, mode: .inference, initialization: architecture.initialization).initialValues(seed: seed)
        }
        let source = try HDF5File.open(input).root
        let inputArray = try source.read("input", as: Float.self)
        let inputTensor = Tensor(shape: Shape(inputArray.shape), scalars: inputArray.values)
        var upstream: Tensor<Float>?
        if source.contains("upstream") {
            let array = try source.read("upstream", as: Float.self)
            upstream = Tensor(shape: Shape(array.shape), scalars: array.values)
        }
        let result = try NetworkRun.evaluate(
            architecture: architecture, weights: values, input: inputTensor, upstream: upstream, gradients: gradients,
            trainingMode: trainMode, seed: seed)

        let temporary = output + ".tmp"
        do {
            let file = try HDF5File.create(temporary)
            try file.root.write("output", result.output.scalars, shape: result.output.shape.dims)
            for (name, tensor) in result.gradients { try file.root.write("gradients/\(name)", tensor.scalars, shape: tensor.shape.dims) }
            for (name, tensor) in result.statesAfter { try file.root.write("states_after/\(name)", tensor.scalars, shape: tensor.shape.dims) }
            try file.root.setAttribute("architecture", try architecture.jsonString())
            try file.flush()
        }
        guard rename(temporary, output) == 0 else { throw CommandError("cannot write \(output)") }
        print("wrote \(output): output \(result.output.shape)" + (gradients ? ", \(result.gradients.count) gradients" : ""))
    }
}
