import EmotionRecognition
import Foundation
import HDF5
import Layers
import TestSupport
import Testing

/// Compares every layer and small networks of the paper's family with PyTorch on the same
/// weights: outputs, loss, input and parameter gradients and running statistics, in Float32,
/// with relative error ≤ 1e-4 (Fixtures/reference/torch-layers.h5, made by Tools/make_fixtures.py).
@Suite("Agreement with PyTorch")
struct ReferenceFrameworkTests {
    static let file = Fixtures.path("reference/torch-layers.h5")
    static let caseNames: [String] = (try? HDF5File.open(file).root.group("cases").memberNames()) ?? []
    static let tolerance = 1e-4

    @Test("the fixture file has its format version and all cases")
    func fixtureFile() throws {
        let root = try HDF5File.open(Self.file).root
        #expect(try root.numericAttribute("format_version", as: Int64.self) == [1])
        #expect(try root.stringAttribute("torch").hasPrefix("2."))
        #expect(Self.caseNames.count >= 20)
    }

    @Test("matches PyTorch", arguments: caseNames)
    func matches(_ name: String) throws {
        let file = try HDF5File.open(Self.file)
        let fixture = try file.root.group("cases/\(name)")
        let spec = try JSONSerialization.jsonObject(with: Data(try fixture.stringAttribute("spec").utf8)) as! [String: Any]
        let mode: Graph.Mode = try fixture.stringAttribute("mode") == "training" ? .training : .inference
        let input = try fixture.tensor("input")

        let graph: Graph, inputValue: Value, output: Value, objective: Value
        var parameters: [(path: String, value: Value)] = []
        var feeds: [String: Tensor<Float>] = ["input": input]
        if let networkSpec = spec["network"] as? [String: Any] {
            let network = try paperNetwork(networkSpec)
            let weighted = fixture.contains("class_weights")
            let built = try network.model().build(batchSize: input.shape[0], mode: mode, loss: LossOptions(classWeights: weighted))
            graph = built.graph
            inputValue = built.input
            output = built.logits
            objective = built.loss!
            parameters = (built.parameters + built.states).map { ($0.path, $0.value) }
            feeds["labels"] = try fixture.tensor("labels")
            if weighted { feeds["class_weights"] = try fixture.tensor("class_weights") }
        } else if spec["layer"] as? String == "cross_entropy" {
            graph = Graph(mode: .training)
            inputValue = try graph.leaf(.input, "input", shape: input.shape)
            let labels = try graph.leaf(.input, "labels", shape: [input.shape[0]])
            let weights = try graph.leaf(.input, "class_weights", shape: [input.shape[1]])
            output = try softmaxCrossEntropy(logits: inputValue, labels: labels, weights: weights, in: graph)
            objective = output
            feeds["labels"] = try fixture.tensor("labels")
            feeds["class_weights"] = try fixture.tensor("class_weights")
        } else {
            let builder = ModelBuilder(mode: mode)
            inputValue = try builder.graph.leaf(.input, "input", shape: input.shape)
            let single = try layer(spec)
            output = try single.callAsFunction(inputValue, builder)
            graph = builder.graph
            parameters = (builder.parameters + builder.states).map { ($0.path, $0.value) }
            let upstream = try graph.leaf(.input, "upstream", shape: graph.shape(of: output))
            feeds["upstream"] = try fixture.tensor("upstream")
            objective = try graph.apply(SumOfProducts(shape: []), [output, upstream])[0]
        }
        for (path, _) in parameters { feeds[path] = try fixture.tensor("params/\(path)") }

        let trainable = parameters.filter { graph.leafInfo($0.value.node)?.kind == .parameter }
        let gradients = try graph.gradients(of: objective, withRespectTo: [inputValue] + trainable.map(\.value))
        let updates = graph.stateUpdates
        let fetch = [output, objective, gradients[inputValue]!] + trainable.map { gradients[$0.value]! } + updates.map(\.value)
        let values = try Interpreter<Float>(graph: graph).run(fetch, bindings: feeds)

        func check(_ what: String, _ value: Value, _ reference: String, floor: Double = 1e-4) throws {
            let error = relativeError(values[value]!, try fixture.tensor(reference), floor: floor)
            #expect(error <= Self.tolerance, "\(name): \(what) differs from PyTorch by \(error) (relative)")
        }
        try check("output", output, "output")
        if fixture.contains("loss") { try check("loss", objective, "loss") }
        try check("input gradient", gradients[inputValue]!, "grad_input")
        for (path, value) in trainable {
            // A convolution bias followed by BatchNorm in training has a zero gradient in exact
            // arithmetic; its Float32 rounding noise is judged on the scale of the layer's weight gradient.
            var floor = 1e-4
            if path.hasSuffix(".bias"), let weightGradient = try? fixture.tensor("grads/" + path.dropLast(4) + "weight") {
                floor = max(floor, Double(weightGradient.scalars.map(abs).max() ?? 0))
            }
            try check("gradient of \(path)", gradients[value]!, "grads/\(path)", floor: floor)
        }
        for update in updates {
            let path = graph.leafInfo(update.target.node)!.leafName
            try check("\(path) after the step", update.value, "states_after/\(path)")
        }
        if mode == .training { #expect(updates.count == (fixture.contains("states_after") ? (try fixture.group("states_after").memberNames().count) : 0) || spec["network"] != nil) }
    }

    private func triple(_ value: Any?) -> Triple {
        let array = value as! [Int]
        return Triple(array[0], array[1], array[2])
    }

    private func layer(_ spec: [String: Any]) throws -> any Layer {
        switch spec["layer"] as! String {
        case "conv3d":
            return Conv3D(
                filters: spec["filters"] as! Int, kernel: triple(spec["kernel"]), stride: triple(spec["stride"]),
                padding: triple(spec["padding"]), bias: spec["bias"] as! Bool)
        case "batchnorm3d": return BatchNorm3D()
        case "relu": return ReLU()
        case "elu": return ELU()
        case "leaky_relu": return LeakyReLU()
        case "mish": return Mish()
        case "prelu": return PReLU()
        case "maxpool3d": return MaxPool3D(kernel: triple(spec["kernel"]), stride: triple(spec["stride"]), padding: triple(spec["padding"]))
        case "avgpool3d": return AvgPool3D(kernel: triple(spec["kernel"]), stride: triple(spec["stride"]), padding: triple(spec["padding"]))
        case "dense": return Dense(spec["units"] as! Int)
        case "flatten": return Flatten()
        case let other: throw GraphError.invalid("fixture names an unknown layer '\(other)'")
        }
    }

    private func paperNetwork(_ spec: [String: Any]) throws -> PaperNetwork {
        var network = PaperNetwork()
        network.activation = ActivationChoice(rawValue: spec["activation"] as! String)!
        network.pooling = PoolingChoice(rawValue: spec["pooling"] as! String)!
        network.temporalKernel = spec["temporalKernel"] as! Int
        network.secondConvInFirstGroups = spec["secondConvInFirstGroups"] as! Bool
        network.dropout = spec["dropout"] as! Double
        network.frames = spec["frames"] as! Int
        network.height = spec["height"] as! Int
        network.width = spec["width"] as! Int
        network.channels = spec["channels"] as! Int
        network.classes = spec["classes"] as! Int
        network.widthDivisor = spec["widthDivisor"] as! Int
        network.hiddenUnits = spec["hiddenUnits"] as! Int
        return network
    }
}
