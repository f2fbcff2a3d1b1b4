import Foundation
import HDF5
import Layers
import TestSupport
import Testing

@testable import Training

/// Checkpoints move both ways between Emotion3D and PyTorch with the same outputs
/// (Tools/torch_interop.py; needs torch and h5py, installed by Tools/install_reference_tools.sh).
@Suite("Interop with PyTorch")
struct InteropTests {
    @Test("a PyTorch state_dict imported as a checkpoint gives PyTorch's outputs in Swift")
    func importDirection() throws {
        let checkpoint = try Checkpoint.load(from: Fixtures.path("interop/torch-import.h5"))
        let io = try HDF5File.open(Fixtures.path("interop/torch-import-io.h5")).root
        let run = try NetworkRun.evaluate(architecture: checkpoint.architecture, weights: checkpoint.stateDict, input: try io.tensor("input"))
        let error = relativeError(run.output, try io.tensor("output"))
        #expect(error <= 1e-4, "outputs differ from PyTorch by \(error)")
    }

    @Test("a Swift checkpoint loaded into PyTorch through h5py gives the same outputs")
    func exportDirection() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let architecture = try Architecture(contentsOf: Fixtures.path("interop/architecture.json"))
        let built = try architecture.model.build(batchSize: 1, mode: .inference, initialization: architecture.initialization)
        var weights = built.initialValues(seed: 11)
        var generator = SeededGenerator(seed: 12)
        for spec in built.states {  // non-trivial running statistics
            weights[spec.path] = Tensor(
                shape: spec.shape,
                scalars: (0..<spec.shape.count).map { _ in spec.path.hasSuffix("running_var") ? 0.5 + generator.nextUnitFloat() : generator.nextUnitFloat() - 0.5 })
        }
        let input = Tensor<Float>(shape: Shape([3] + architecture.inputShape.dims), scalars: (0..<(3 * architecture.inputShape.count)).map { _ in generator.nextUnitFloat() })
        let run = try NetworkRun.evaluate(architecture: architecture, weights: weights, input: input)

        let checkpointPath = folder.appendingPathComponent("model.h5").path
        try Checkpoint(architecture: architecture, stateDict: weights).save(to: checkpointPath)
        let inputPath = folder.appendingPathComponent("input.h5").path, outputPath = folder.appendingPathComponent("output.h5").path
        do { try HDF5File.create(inputPath).root.write("input", input.scalars, shape: input.shape.dims) }
        do { try HDF5File.create(outputPath).root.write("output", run.output.scalars, shape: run.output.shape.dims) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", Fixtures.root.appendingPathComponent("Tools/torch_interop.py").path, "verify",
            "--checkpoint", checkpointPath, "--input", inputPath, "--expected", outputPath,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "PyTorch disagrees (or is not installed: run Tools/install_reference_tools.sh): \(output)")
    }
}

@Suite("emotion3d run")
struct NetworkRunTests {
    @Test("gradients of sum(output × upstream) match the reference fixture's network")
    func gradients() throws {
        // The network fixture of the PyTorch agreement tests, evaluated through NetworkRun in inference mode,
        // must give input gradients consistent with a finite difference on one element.
        let architecture = try Architecture(contentsOf: Fixtures.path("interop/architecture.json"))
        let weights = try Checkpoint.load(from: Fixtures.path("interop/torch-import.h5")).stateDict
        let io = try HDF5File.open(Fixtures.path("interop/torch-import-io.h5")).root
        let input = try io.tensor("input")
        let run = try NetworkRun.evaluate(architecture: architecture, weights: weights, input: input, gradients: true)
        #expect(run.gradients["input"]?.shape == input.shape)
        #expect(run.gradients.count == 1 + weights.keys.filter { !$0.contains("running") }.count)
        let index = 1234, h: Float = 1e-2
        var plus = input, minus = input
        plus.scalars[index] += h
        minus.scalars[index] -= h
        let up = try NetworkRun.evaluate(architecture: architecture, weights: weights, input: plus).output.scalars.reduce(0, +)
        let down = try NetworkRun.evaluate(architecture: architecture, weights: weights, input: minus).output.scalars.reduce(0, +)
        let numeric = (up - down) / (2 * h), analytic = run.gradients["input"]!.scalars[index]
        #expect(abs(numeric - analytic) <= 1e-2 * max(abs(analytic), 1e-3), "numeric \(numeric), analytic \(analytic)")
    }

    @Test("an input of the wrong shape is a clear error")
    func wrongShape() throws {
        let architecture = try Architecture(contentsOf: Fixtures.path("interop/architecture.json"))
        let weights = try Checkpoint.load(from: Fixtures.path("interop/torch-import.h5")).stateDict
        #expect { try NetworkRun.evaluate(architecture: architecture, weights: weights, input: Tensor(repeating: 0, shape: [1, 3, 10, 16, 16])) } throws: {
            "\($0)".contains("[3, 10, 32, 32]")
        }
    }
}
