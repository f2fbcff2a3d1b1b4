import EmotionRecognition
import Layers
import Testing

@Suite("The paper's network")
struct PaperNetworkTests {
    @Test("default 7-class network: 8192 features after group 5 and 78,029,959 parameters")
    func defaultNetwork() throws {
        let built = try PaperNetwork().model().build(batchSize: 2, mode: .inference)
        let flatten = try #require(built.layers.first { $0.summary == "Flatten" })
        #expect(flatten.outputShape == [2, 8192])
        #expect(built.parameterCount == 78_029_959)
        #expect(built.graph.shape(of: built.logits) == [2, 7])
        // Shapes after each pooling, as §3.1 of the paper gives them.
        let pools = built.layers.filter { $0.summary.contains("Pool") }.map(\.outputShape)
        #expect(pools == [[2, 64, 10, 56, 56], [2, 128, 5, 28, 28], [2, 256, 2, 14, 14], [2, 512, 1, 7, 7], [2, 512, 1, 4, 4]])
    }

    @Test("parameter paths follow PyTorch's state_dict")
    func paths() throws {
        let built = try PaperNetwork().model().build(batchSize: 1, mode: .training, loss: LossOptions())
        let paths = built.parameters.map(\.path)
        #expect(paths.prefix(4) == ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias"])
        #expect(paths.suffix(2) == ["classifier.6.weight", "classifier.6.bias"])
        #expect(built.states.map(\.path).prefix(2) == ["features.1.running_mean", "features.1.running_var"])
    }

    @Test(
        "every Table 1 option builds, and the temporal length is kept",
        arguments: [1, 3, 5, 7, 9], [ActivationChoice.relu, .elu, .prelu, .leakyRelu, .mish])
    func options(temporal: Int, activation: ActivationChoice) throws {
        var network = PaperNetwork.small
        network.temporalKernel = temporal
        network.activation = activation
        network.pooling = temporal % 4 == 1 ? .average : .max
        network.secondConvInFirstGroups = temporal == 5
        let built = try network.model().build(batchSize: 2, mode: .training, loss: LossOptions(classWeights: true))
        let firstConv = try #require(built.layers.first)
        #expect(firstConv.outputShape == [2, 16, 10, 48, 48])
        #expect(built.graph.shape(of: built.loss!) == [])
        let prelus = built.parameters.filter { $0.shape == [1] }.count
        #expect(prelus == (activation == .prelu ? (temporal == 5 ? 10 : 8) + 2 : 0))
    }

    @Test("a Dense fed the wrong number of features names the layer and both sizes")
    func denseMismatch() throws {
        let model = Model(inputShape: [3, 4, 8, 8], classes: 2) {
            Conv3D(filters: 4, padding: Triple(1))
            Flatten()
            Dense(2, inputFeatures: 100).named("head")
        }
        #expect {
            try model.build(batchSize: 1, mode: .inference)
        } throws: { error in
            let text = "\(error)"
            return text.contains("head") && text.contains("100") && text.contains("1024")
        }
    }

    @Test("invalid options are rejected with the field's name")
    func invalidOptions() throws {
        var network = PaperNetwork()
        network.temporalKernel = 4
        #expect { try network.model() } throws: { "\($0)".contains("temporalKernel") }
        network.temporalKernel = 3
        network.dropout = 1.5
        #expect { try network.model() } throws: { "\($0)".contains("dropout") }
    }

    @Test("an input too small for the pools is a shape error naming the layer, not a trap")
    func tooSmall() throws {
        var network = PaperNetwork.small
        network.height = 8
        network.width = 8
        #expect { try network.model().build(batchSize: 1, mode: .inference) } throws: { "\($0)".contains("features.") }
    }
}

@Suite("Training step")
struct TrainingStepTests {
    @Test("an SGD step on the small network lowers the loss on its batch and updates running statistics")
    func sgdStep() throws {
        var network = PaperNetwork.small
        network.height = 24
        network.width = 24
        network.dropout = 0
        let model = try network.model()
        let training = try model.build(batchSize: 2, mode: .training, loss: LossOptions())
        try training.addSGDStep(learningRate: 0.01)
        var generator = SeededGenerator(seed: 3)
        let shape = training.graph.shape(of: training.input)
        let clips = Tensor<Float>(shape: shape, scalars: (0..<shape.count).map { _ in generator.nextUnitFloat() })
        let labels = Tensor<Float>(shape: [2], scalars: [1, 4])
        let session = try Session(graph: training.graph, values: training.initialValues(seed: 1))
        let loss = training.loss!
        let before = try session.run([loss], inputs: ["input": clips, "labels": labels])[loss]!.scalars[0]
        let after = try session.run([loss], inputs: ["input": clips, "labels": labels], applyUpdates: false)[loss]!.scalars[0]
        #expect(after < before)
        #expect(session.values["features.1.running_mean"]!.scalars.contains { $0 != 0 })
        #expect(session.step == 1)
    }
}
