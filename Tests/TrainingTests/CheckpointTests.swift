import Foundation
import HDF5
import Layers
import TestSupport
import Testing

@testable import Training

@Suite("Checkpoints")
struct CheckpointTests {
    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-ckpt-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static let model = Model(inputShape: [1, 4, 8, 8], classes: 3) {
        Sequential {
            Conv3D(filters: 2, padding: Triple(1))
            BatchNorm3D()
            PReLU()
            MaxPool3D(kernel: Triple(2))
        }.named("features")
        Flatten()
        Dense(3).named("classifier")
    }

    func checkpoint() throws -> Checkpoint {
        let architecture = Architecture(name: "tiny", model: Self.model, hyperparameters: ["dropout": .number(0.1)])
        let values = try Self.model.build(batchSize: 1, mode: .inference).initialValues(seed: 9)
        return Checkpoint(architecture: architecture, stateDict: values, classNames: ["a", "b", "c"], metadata: ["epoch": .number(3)])
    }

    @Test("save and load round-trip weights, architecture and metadata")
    func roundTrip() throws {
        let path = folder.appendingPathComponent("model.h5").path
        let original = try checkpoint()
        try original.save(to: path)
        let loaded = try Checkpoint.load(from: path)
        #expect(loaded.architecture == original.architecture)
        #expect(loaded.classNames == ["a", "b", "c"])
        #expect(loaded.metadata["epoch"] == .number(3))
        #expect(Set(loaded.stateDict.keys) == Set(original.stateDict.keys))
        for (key, value) in original.stateDict { #expect(loaded.stateDict[key]!.scalars == value.scalars) }
        #expect(loaded.stateDict["features.1.running_var"] != nil)
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.h5"])
    }

    @Test("a second save replaces the first atomically")
    func overwrite() throws {
        let path = folder.appendingPathComponent("model.h5").path
        var first = try checkpoint()
        try first.save(to: path)
        first.metadata["epoch"] = .number(4)
        try first.save(to: path)
        #expect(try Checkpoint.load(from: path).metadata["epoch"] == .number(4))
    }

    @Test("a mis-shaped or missing parameter is named with both shapes")
    func badParameters() throws {
        let path = folder.appendingPathComponent("bad.h5").path
        var broken = try checkpoint()
        broken.stateDict["classifier.weight"] = Tensor(repeating: 0, shape: [3, 7])
        try broken.save(to: path)
        #expect { try Checkpoint.load(from: path) } throws: { error in
            let text = "\(error)"
            return text.contains("classifier.weight") && text.contains("[3, 7]") && text.contains("[3, 64]") && text.contains(path)
        }
        broken = try checkpoint()
        broken.stateDict["features.1.running_mean"] = nil
        try broken.save(to: path)
        #expect { try Checkpoint.load(from: path) } throws: { "\($0)".contains("missing parameter 'features.1.running_mean'") }
    }

    @Test("a file that is not HDF5, a truncated file and a foreign HDF5 file give clear errors")
    func badFiles() throws {
        let text = folder.appendingPathComponent("notes.h5").path
        try "hello".write(toFile: text, atomically: true, encoding: .utf8)
        #expect(throws: CheckpointError.self) { try Checkpoint.load(from: text) }

        let good = folder.appendingPathComponent("good.h5").path
        try checkpoint().save(to: good)
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        let truncated = folder.appendingPathComponent("truncated.h5").path
        try data.prefix(data.count * 2 / 3).write(to: URL(fileURLWithPath: truncated))
        #expect { try Checkpoint.load(from: truncated) } throws: { "\($0)".contains(truncated) }

        let foreign = folder.appendingPathComponent("foreign.h5").path
        do { try HDF5File.create(foreign).root.write("x", [Float(1)], shape: [1]) }
        #expect { try Checkpoint.load(from: foreign) } throws: { "\($0)".contains("not an Emotion3D checkpoint") }
    }

    @Test("h5py reads the architecture as str and the weights under state_dict names")
    func readableByH5py() throws {
        let path = folder.appendingPathComponent("py.h5").path
        try checkpoint().save(to: path)
        let script = """
            import h5py, json, sys
            f = h5py.File(sys.argv[1], "r")
            a = f.attrs["architecture"]
            assert isinstance(a, str), type(a)
            assert json.loads(a)["name"] == "tiny"
            w = f["state_dict/features.0.weight"]
            assert w.shape == (2, 1, 3, 3, 3) and w.dtype == "float32", (w.shape, w.dtype)
            print("ok")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0 && output.contains("ok"), "h5py check failed: \(output)")
    }
}
