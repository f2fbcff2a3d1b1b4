import ArgumentParser
import EmotionRecognition
import Foundation
import Layers

/// Writes an architecture of the paper's family from Table 1's choices.
struct ArchitectureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "architecture",
        abstract: "Write an architecture JSON of the paper's network family from Table 1's choices (and a size for small configurations).")

    @Option(help: "Name recorded in the file.") var name = "paper-family"
    @Option(help: "relu, elu, prelu, leaky_relu or mish.") var activation = "relu"
    @Option(help: "avg or max.") var pooling = "max"
    @Option(help: "Temporal size of the convolution kernels (1, 3, 5, 7, 9).") var temporalSize = 3
    @Flag(help: "A second convolution in groups 1 and 2.") var secondConv = false
    @Option(help: "Dropout between the dense layers.") var dropout = 0.5
    @Option(help: "adam or lookahead_adam.") var optimizer = "adam"
    @Flag(help: "The clips are prepared with CLAHE.") var clahe = false
    @Flag(help: "Pixels in [−1, 1] instead of [0, 1].") var normalization = false
    @Flag(help: "Class-frequency weights in the loss.") var lossWeights = false
    @Option(help: "xavier_uniform, xavier_normal or default (PyTorch's).") var initializer = "xavier_uniform"
    @Option(help: "Clip side in pixels.") var size = 112
    @Option(help: "Frames per clip.") var frames = 10
    @Option(help: "Classes.") var classes = 7
    @Option(help: "Divide every filter count by this (1: the paper's 64…512).") var widthDivisor = 1
    @Option(help: "Units of the two hidden dense layers.") var hiddenUnits = 4096
    @Option(help: "File to write (default: print).") var output: String?

    func run() throws {
        var network = PaperNetwork()
        guard let activation = ActivationChoice(rawValue: activation) else {
            throw CommandError("--activation: expected one of \(ActivationChoice.allCases.map(\.rawValue).joined(separator: ", ")), got '\(self.activation)'")
        }
        guard let pooling = PoolingChoice(rawValue: pooling) else { throw CommandError("--pooling: expected avg or max, got '\(self.pooling)'") }
        guard let optimizer = TrainingChoices.Optimizer(rawValue: optimizer) else {
            throw CommandError("--optimizer: expected adam or lookahead_adam, got '\(self.optimizer)'")
        }
        guard let initialization = WeightInitialization(rawValue: initializer) else {
            throw CommandError("--initializer: expected one of \(WeightInitialization.allCases.map(\.rawValue).joined(separator: ", ")), got '\(initializer)'")
        }
        network.activation = activation
        network.pooling = pooling
        network.temporalKernel = temporalSize
        network.secondConvInFirstGroups = secondConv
        network.dropout = dropout
        network.height = size
        network.width = size
        network.frames = frames
        network.classes = classes
        network.widthDivisor = widthDivisor
        network.hiddenUnits = hiddenUnits
        var training = TrainingChoices()
        training.optimizer = optimizer
        training.clahe = clahe
        training.normalization = normalization
        training.lossWeights = lossWeights
        training.initialization = initialization
        let architecture = try network.architecture(name: name, training: training)
        _ = try architecture.model.build(batchSize: 1, mode: .inference)  // shape errors now, naming the layer
        let text = try architecture.jsonString() + "\n"
        if let output {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
            print("wrote \(output)")
        } else {
            print(text, terminator: "")
        }
    }
}
