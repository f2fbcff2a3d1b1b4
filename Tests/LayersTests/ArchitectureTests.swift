import EmotionRecognition
import Foundation
import Layers
import TestSupport
import Testing

@Suite("Architecture JSON")
struct ArchitectureTests {
    static let sample = Model(inputShape: [3, 6, 16, 16], classes: 4) {
        Sequential {
            Conv3D(filters: 8, kernel: Triple(5, 3, 3), stride: Triple(1, 2, 2), padding: Triple(2, 1, 1), bias: false)
            BatchNorm3D(momentum: 0.2, epsilon: 1e-3)
            PReLU(initial: 0.1)
            AvgPool3D(kernel: Triple(1, 2, 2), stride: Triple(2), padding: Triple(0, 1, 1))
            Conv3D(filters: 4, kernel: Triple(1, 3, 3), padding: Triple(0, 1, 1))
            ELU(alpha: 0.5)
            MaxPool3D(kernel: Triple(2))
            Mish()
        }.named("features")
        Flatten()
        Sequential {
            Dense(12, inputFeatures: 16)
            LeakyReLU(slope: 0.2)
            Dropout(0.25)
            ReLU()
            Dense(4, bias: false).named("head")
        }.named("classifier")
    }

    @Test("DSL → JSON → DSL round-trips exactly")
    func roundTrip() throws {
        let architecture = Architecture(
            name: "sample", model: Self.sample, initialization: .xavierNormal,
            hyperparameters: ["dropout": .number(0.25), "clahe": .flag(true), "optimizer": .string("adam")])
        let decoded = try Architecture(json: try architecture.jsonData())
        #expect(decoded == architecture)
        // The same graph, node for node, and the same parameter paths.
        let original = try Self.sample.build(batchSize: 2, mode: .training, loss: LossOptions())
        let rebuilt = try decoded.model.build(batchSize: 2, mode: .training, loss: LossOptions())
        #expect(original.graph.textDump() == rebuilt.graph.textDump())
        #expect(rebuilt.parameters.map(\.path).contains("classifier.head.weight"))
        #expect(try decoded.jsonString() == (try architecture.jsonString()))
    }

    @Test("the committed Graphs/ files are the paper's models and read back")
    func committedGraphs() throws {
        for (file, architecture) in try PaperNetwork.builtInArchitectures() {
            let path = Fixtures.root.appendingPathComponent("Graphs").appendingPathComponent(file).path
            let committed = try Architecture(contentsOf: path)
            #expect(committed == architecture, "\(file) differs from the built-in description; run `emotion3d graphs`")
        }
        let ck = try Architecture(contentsOf: Fixtures.root.appendingPathComponent("Graphs/paper-ckplus.json").path)
        #expect(ck.hyperparameters["dropout"] == .number(0.2511))
        #expect(ck.hyperparameters["pooling"] == .string("avg"))
        #expect(try ck.model.build(batchSize: 1, mode: .inference).parameterCount == 78_029_959)
        // every other file (the ones searches derived) reads back, and the small ones build
        let folder = Fixtures.root.appendingPathComponent("Graphs").path
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasSuffix(".json") {
            let architecture = try Architecture(contentsOf: folder + "/" + name)
            if architecture.inputShape[2] <= 64 { _ = try architecture.model.build(batchSize: 1, mode: .inference) }
        }
    }

    static let invalid: [(json: String, path: String)] = [
        (#"{"format":"emotion3d-architecture","version":1,"name":"x","input":[3,4,8,8],"classes":2,"layers":[{"type":"conv9d"}]}"#, "layers[0].type"),
        (#"{"format":"emotion3d-architecture","version":1,"name":"x","input":[3,4,8,8],"classes":2,"layers":[{"type":"conv3d","kernel":[3,3,3]}]}"#, "layers[0].filters"),
        (#"{"format":"emotion3d-architecture","version":1,"name":"x","input":[3,4,8,8],"classes":2,"layers":[{"type":"conv3d","filters":-4,"kernel":[3,3,3]}]}"#, "layers[0].filters"),
        (#"{"format":"emotion3d-architecture","version":1,"name":"x","input":[3,4,8,8],"classes":2,"layers":[{"type":"sequential","layers":[{"type":"conv3d","filters":4,"kernel":[3,0,3]}]}]}"#, "layers[0].layers[0].kernel[1]"),
        (#"{"format":"emotion3d-architecture","version":1,"name":"x","input":[3,4,8,8],"classes":2,"layers":[{"type":"dropout","p":1.5}]}"#, "layers[0].p"),
        (#"{"format":"emotion3d-architecture","version":1,"name":"x","input":[3,4,8],"classes":2,"layers":[]}"#, "input"),
        (#"{"format":"emotion3d-architecture","version":2,"name":"x","input":[3,4,8,8],"classes":2,"layers":[]}"#, "version"),
        (#"{"format":"emotion3d-architecture","version":1,"input":[3,4,8,8],"classes":2,"layers":[]}"#, "name"),
        (#"{"format":"emotion3d-architecture","version":1,"name":"x","input":[3,4,8,8],"classes":2,"layers":[{"type":"dense","units":4,"bias":"yes"}]}"#, "layers[0].bias"),
        (#"{"format":"emotion3d-architecture""#, "$"),
    ]

    @Test("invalid descriptions are rejected with the field's path", arguments: invalid.indices)
    func rejects(_ index: Int) {
        let (json, path) = Self.invalid[index]
        #expect {
            try Architecture(json: Data(json.utf8))
        } throws: { error in
            (error as? ArchitectureError)?.path == path
        }
    }
}
