import Foundation
import HDF5
import Layers

/// A trained network on disk: an HDF5 file with the parameters and buffers under PyTorch
/// `state_dict` names, the architecture JSON, and training metadata.
///
/// Layout (format version 1):
/// - `/` attributes: `format` = "emotion3d-checkpoint", `format_version` = 1, `architecture`
///   (the architecture JSON, variable-length UTF-8: `str` in h5py), `class_names` (JSON array),
///   `metadata` (JSON object: epoch, step, seed, metrics…)
/// - `/state_dict/<path>`: float32 datasets, e.g. `/state_dict/features.0.weight` `[64, 3, 3, 3, 3]`
/// - `/optimizer/<name>` (training checkpoints): the optimizer's state, e.g. `optimizer.step`,
///   `optimizer.features.0.weight.exp_avg`; root attribute `optimizer_config` (JSON)
public struct Checkpoint {
    public static let format = "emotion3d-checkpoint"
    public static let formatVersion: Int64 = 1

    public var architecture: Architecture
    /// Parameters and states by path.
    public var stateDict: [String: Tensor<Float>]
    public var classNames: [String]
    /// Training metadata (epoch, step, seed, metrics), kept as JSON.
    public var metadata: [String: HyperValue]
    /// The optimizer's state by name (empty for inference-only checkpoints).
    public var optimizerState: [String: Tensor<Float>]
    /// The optimizer's settings, as JSON (nil for inference-only checkpoints).
    public var optimizerConfig: String?

    public init(
        architecture: Architecture, stateDict: [String: Tensor<Float>], classNames: [String] = [], metadata: [String: HyperValue] = [:],
        optimizerState: [String: Tensor<Float>] = [:], optimizerConfig: String? = nil
    ) {
        self.architecture = architecture
        self.stateDict = stateDict
        self.classNames = classNames
        self.metadata = metadata
        self.optimizerState = optimizerState
        self.optimizerConfig = optimizerConfig
    }

    /// Writes atomically: to a temporary file beside `path`, flushed and fsynced, then renamed over
    /// `path`. A crash mid-save leaves the previous checkpoint intact.
    public func save(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp").path
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        // Leftovers of a save that was killed are half-written: remove them, never read them.
        let folder = url.deletingLastPathComponent().path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where name.hasPrefix(".\(url.lastPathComponent).") && name.hasSuffix(".tmp") {
            try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
        }
        do {
            let file = try HDF5File.create(temporary)
            let root = file.root
            try root.setAttribute("format", Self.format)
            try root.setAttribute("format_version", [Self.formatVersion])
            try root.setAttribute("architecture", try architecture.jsonString())
            try root.setAttribute("class_names", String(decoding: try JSONSerialization.data(withJSONObject: classNames), as: UTF8.self))
            try root.setAttribute("metadata", try Self.encode(metadata))
            try root.createGroup("state_dict")
            for path in stateDict.keys.sorted() {
                let tensor = stateDict[path]!
                try root.write("state_dict/\(path)", tensor.scalars, shape: tensor.shape.dims)
            }
            if let optimizerConfig {
                try root.setAttribute("optimizer_config", optimizerConfig)
                try root.createGroup("optimizer")
                for name in optimizerState.keys.sorted() {
                    let tensor = optimizerState[name]!
                    try root.write("optimizer/\(name)", tensor.scalars, shape: tensor.shape.dims)
                }
            }
            try file.flush()
        }
        try Self.fsync(temporary)
        guard rename(temporary, path) == 0 else {
            throw CheckpointError(path: path, message: "cannot replace the file: \(String(cString: strerror(errno)))")
        }
        try Self.fsync(url.deletingLastPathComponent().path)
    }

    /// Reads a checkpoint and checks every parameter and buffer against its architecture:
    /// a missing, extra or mis-shaped tensor is an error naming it and both shapes.
    public static func load(from path: String) throws -> Checkpoint {
        let root: HDF5Group
        do { root = try HDF5File.open(path).root } catch { throw CheckpointError(path: path, message: "\(error)") }
        guard (try? root.stringAttribute("format")) == format else {
            throw CheckpointError(path: path, message: "not an Emotion3D checkpoint (attribute 'format' is not \"\(format)\")")
        }
        let version = try root.numericAttribute("format_version", as: Int64.self).first ?? 0
        guard version == formatVersion else {
            throw CheckpointError(path: path, message: "checkpoint format version \(version); this build reads \(formatVersion)")
        }
        let architecture: Architecture
        do { architecture = try Architecture(json: Data(try root.stringAttribute("architecture").utf8)) } catch {
            throw CheckpointError(path: path, message: "invalid architecture: \(error)")
        }
        let classNames = (try? JSONSerialization.jsonObject(with: Data(try root.stringAttribute("class_names").utf8)) as? [String]) ?? []
        let metadata = try decode(try root.stringAttribute("metadata"), path: path)

        let built = try architecture.model.build(batchSize: 1, mode: .inference)
        let expected = built.parameters + built.states
        let group = try root.group("state_dict")
        let stored = Set(group.memberNames())
        var stateDict: [String: Tensor<Float>] = [:]
        for spec in expected {
            guard stored.contains(spec.path) else {
                throw CheckpointError(path: path, message: "missing parameter '\(spec.path)' (expected shape \(spec.shape))")
            }
            let array: HDF5Array<Float>
            do { array = try group.read(spec.path, as: Float.self) } catch { throw CheckpointError(path: path, message: "\(error)") }
            guard array.shape == spec.shape.dims else {
                throw CheckpointError(path: path, message: "parameter '\(spec.path)' has shape \(Shape(array.shape)), the architecture expects \(spec.shape)")
            }
            guard array.values.allSatisfy(\.isFinite) else {
                throw CheckpointError(path: path, message: "parameter '\(spec.path)' holds NaN or infinite values")
            }
            stateDict[spec.path] = Tensor(shape: spec.shape, scalars: array.values)
        }
        let unexpected = stored.subtracting(expected.map(\.path))
        guard unexpected.isEmpty else {
            throw CheckpointError(path: path, message: "tensors the architecture does not have: \(unexpected.sorted().joined(separator: ", "))")
        }
        var optimizerState: [String: Tensor<Float>] = [:]
        var optimizerConfig: String?
        if root.hasAttribute("optimizer_config") {
            optimizerConfig = try root.stringAttribute("optimizer_config")
            let group = try root.group("optimizer")
            for name in group.memberNames() {
                let array: HDF5Array<Float>
                do { array = try group.read(name, as: Float.self) } catch { throw CheckpointError(path: path, message: "\(error)") }
                optimizerState[name] = Tensor(shape: Shape(array.shape), scalars: array.values)
            }
        }
        return Checkpoint(
            architecture: architecture, stateDict: stateDict, classNames: classNames, metadata: metadata,
            optimizerState: optimizerState, optimizerConfig: optimizerConfig)
    }

    private static func fsync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        _ = Glibc.fsync(descriptor)
    }

    private static func encode(_ metadata: [String: HyperValue]) throws -> String {
        let object = metadata.mapValues { value -> Any in
            switch value {
            case let .string(s): s
            case let .number(n): n
            case let .flag(b): b
            }
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    private static func decode(_ text: String, path: String) throws -> [String: HyperValue] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw CheckpointError(path: path, message: "attribute 'metadata' is not a JSON object")
        }
        return object.compactMapValues { value in
            if let string = value as? String { return .string(string) }
            if let number = value as? NSNumber {
                return String(cString: number.objCType) == "c" ? .flag(number.boolValue) : .number(number.doubleValue)
            }
            return nil
        }
    }
}

/// Saving or loading a checkpoint failed; names the file and what is wrong.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var message: String
    public var description: String { message.hasPrefix(path) ? message : "\(path): \(message)" }
}
