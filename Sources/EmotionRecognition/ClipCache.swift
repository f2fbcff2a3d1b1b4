import Dispatch
import Foundation
import GraphCore
import HDF5
import Training
import Vision

/// The preprocessing of §4.1–4.2 as stored with a clip cache: a cache is reused only when all of these match.
public struct PreprocessingParameters: Sendable, Codable, Hashable {
    /// Frames per clip, the last ones of each sequence (short sequences repeat their last frame).
    public var frames = 10
    /// Side of the square face crops, pixels.
    public var size = 112
    /// CLAHE after resizing, with OpenCV's parameters (paper: clip limit 2, 8×8 tiles).
    public var clahe = false
    public var claheClipLimit = 2.0
    public var claheTiles = 8
    /// Cascade file (relative to `CascadeClassifier.defaultDirectory`, or absolute); "none" = centre crops only.
    public var cascade = CascadeFaceDetector.defaultCascade
    public var scaleFactor = 1.1
    public var minNeighbors = 5
    public var minSize = 30
    /// Frames wider than this are shrunk before detection (0 = never).
    public var maxDetectionWidth = 0
    /// Border added around the face box on each side, as a fraction of its side. 0 by default: the paper
    /// crops the detector's box; on the synthetic set a 0.2 border cost about 20 points of accuracy at 32×32.
    public var margin = 0.0
    public var smoothingWindow = 5
    /// Keep sequences without any detected face as centre crops (counted), or drop them as failures.
    public var centreCropFallback = true

    public init() {}

    public func validate() throws {
        guard (1...64).contains(frames) else { throw DatasetError.invalidArgument("frames: expected 1...64, got \(frames)") }
        guard (8...512).contains(size) else { throw DatasetError.invalidArgument("size: expected 8...512, got \(size)") }
        guard claheClipLimit > 0, (1...64).contains(claheTiles) else {
            throw DatasetError.invalidArgument("CLAHE: expected a clip limit > 0 and 1...64 tiles, got \(claheClipLimit) and \(claheTiles)")
        }
        guard scaleFactor > 1.0001, scaleFactor <= 2 else { throw DatasetError.invalidArgument("scale factor: expected 1.0001...2, got \(scaleFactor)") }
        guard (0...100).contains(minNeighbors) else { throw DatasetError.invalidArgument("min neighbours: expected 0...100, got \(minNeighbors)") }
        guard minSize >= 0, maxDetectionWidth >= 0 else { throw DatasetError.invalidArgument("min size and max detection width must be ≥ 0") }
        guard (0...2).contains(margin) else { throw DatasetError.invalidArgument("margin: expected 0...2, got \(margin)") }
        guard (1...50).contains(smoothingWindow) else { throw DatasetError.invalidArgument("smoothing window: expected 1...50, got \(smoothingWindow)") }
    }

    /// Clip shape `[3, frames, size, size]` (grey replicated on three channels).
    public var clipShape: [Int] { [3, frames, size, size] }

    /// Vision's clip builder for these parameters (loads the cascade).
    public func clipBuilder(parallelFrames: Bool = false) throws -> ClipBuilder {
        try validate()
        let detector: (any FaceDetector)?
        if cascade == "none" {
            detector = nil
        } else {
            do {
                detector = try CascadeFaceDetector(
                    cascadePath: cascade,
                    options: DetectionOptions(scaleFactor: scaleFactor, minNeighbors: minNeighbors, minSize: minSize, parallel: false),
                    maxDetectionWidth: maxDetectionWidth)
            } catch {
                throw DatasetError.notFound(path: cascade, expected: "an OpenCV cascade XML file (\(error)); install opencv-data or pass an absolute path")
            }
        }
        let tracker = FaceTracker(margin: margin, smoothingWindow: smoothingWindow, centreCropFallback: centreCropFallback)
        let options = ClipOptions(frameCount: frames, size: size,
                                  clahe: clahe ? CLAHE(clipLimit: claheClipLimit, tilesX: claheTiles, tilesY: claheTiles) : nil,
                                  tracker: tracker, parallelFrames: parallelFrames)
        return ClipBuilder(detector: detector, options: options)
    }
}

/// Where the sequences of a cache come from; part of the cache key.
public enum DatasetSource: Sendable, Hashable, Codable {
    case ckPlus(root: String)
    case ouluCASIA(root: String, camera: OuluCASIADataset.Camera, illumination: OuluCASIADataset.Illumination)
    case folder(root: String, classNames: [String]?)
    /// The synthetic set, written under `root` (a fresh temporary folder, removed afterwards, when nil).
    case synthetic(options: SyntheticOptions, root: String?)

    /// The dataset folder (nil for a synthetic set rendered into a temporary folder).
    public var root: String? {
        switch self {
        case let .ckPlus(root), let .ouluCASIA(root, _, _), let .folder(root, _): root
        case let .synthetic(_, root): root
        }
    }

    public var name: String {
        switch self {
        case .ckPlus: "ckplus"
        case .ouluCASIA: "oulu"
        case .folder: "folder"
        case .synthetic: "synthetic"
        }
    }

    /// The paper's augmentation policy for this dataset: CK+'s per-class table for CK+ (and the synthetic
    /// set in the CK+ layout), 1 flip / 5 rotations / 2 contrasts for Oulu-CASIA.
    public var defaultAugmentation: AugmentationPolicy {
        switch self {
        case .ouluCASIA: .ouluCASIA
        case let .synthetic(options, _): options.layout == .ouluCASIA ? .ouluCASIA : .ckPlus
        default: .ckPlus
        }
    }

    /// Lists the sequences (for the synthetic set: in the layout it is written in, under `root`).
    public func scan(root override: String? = nil) throws -> SequenceList {
        switch self {
        case let .ckPlus(root): try CKPlusDataset.scan(root: root)
        case let .ouluCASIA(root, camera, illumination):
            try OuluCASIADataset(camera: camera, illumination: illumination).scan(root: root)
        case let .folder(root, classNames): try FolderDataset(classNames: classNames).scan(root: root)
        case let .synthetic(options, root):
            try Self.scanSynthetic(options, root: override ?? root ?? "")
        }
    }

    static func scanSynthetic(_ options: SyntheticOptions, root: String) throws -> SequenceList {
        switch options.layout {
        case .ckPlus: try CKPlusDataset.scan(root: root)
        case .ouluCASIA: try OuluCASIADataset().scan(root: root)
        case .folder: try FolderDataset(classNames: SyntheticExpressionSet.ckPlusClasses).scan(root: root)
        }
    }
}

/// What a preparation did.
public struct PreparationReport: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Labelled sequences found.
    public var sequences = 0
    /// Sequences the reader skipped (unlabelled, no frames…), and why (counts by reason).
    public var skipped = 0
    public var skippedReasons: [String: Int] = [:]
    /// Clips kept.
    public var clips = 0
    /// Kept sequences where no face was found in any frame (centre crops).
    public var facesNotFound = 0
    /// Sequences shorter than the clip length (last frame repeated).
    public var padded = 0
    /// Sequences that failed to decode or had no face with the fallback off: `id: error`.
    public var failures: [String] = []
    /// Kept clips per class, in class order.
    public var classCounts: [Int] = []
    public var classNames: [String] = []
    /// Wall-clock seconds of the preparation (0 when a cache was reused).
    public var seconds = 0.0

    public init() {}

    public var description: String {
        var lines = ["\(sequences) labelled sequences, \(skipped) skipped"
            + (skippedReasons.isEmpty ? "" : " (" + skippedReasons.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")")
            + ", \(clips) clips, \(facesNotFound) without a detected face (centre crops), \(padded) padded, \(failures.count) failed"]
        if !classNames.isEmpty {
            lines.append("classes: " + zip(classNames, classCounts).map { "\($0) \($1)" }.joined(separator: ", "))
        }
        for failure in failures.prefix(10) { lines.append("failed: \(failure)") }
        if failures.count > 10 { lines.append("… and \(failures.count - 10) more failures") }
        return lines.joined(separator: "\n")
    }
}

/// Turns sequence lists into clips, and caches them as HDF5.
///
/// Cache layout (format version 1; h5py reads it):
/// | where | what |
/// |---|---|
/// | `/clips` | uint8 `[N, 3, frames, size, size]`, grey replicated on 3 channels |
/// | `/labels` | int64 `[N]`, indices into `class_names` |
/// | `/face_found` | uint8 `[N]`, 0 where the clip is a centre crop |
/// | `/` attributes | `format` = "emotion3d-clips", `format_version` = 1, `class_names`, `subjects`, `sequence_ids` (JSON arrays), `parameters` (JSON), `source` (JSON), `key_hash` (hex FNV-1a of parameters + source + sequence list), `report` (JSON) |
public enum ClipCache {
    public static let format = "emotion3d-clips"
    public static let formatVersion: Int64 = 1

    /// Clips of every sequence of `list`, on `threads` threads (one sequence per thread at a time).
    /// `progress(done, total)` is called after each sequence, serialised.
    public static func prepare(_ list: SequenceList, parameters: PreprocessingParameters,
                               threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                               progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> (LabeledClips, PreparationReport, faceFound: [Bool]) {
        try prepare(list, parameters: parameters, threads: threads, progress: progress) { builder, entry in
            try builder.build(path: entry.path)
        }
    }

    /// The same with another source of clips than the files: `build(builder, entry)` gives the clip of `entry`
    /// (the synthetic set renders its frames in memory this way).
    static func prepare(_ list: SequenceList, parameters: PreprocessingParameters, threads: Int,
                        progress: (@Sendable (Int, Int) -> Void)?,
                        build: @escaping @Sendable (ClipBuilder, SequenceEntry) throws -> FaceClip) throws -> (LabeledClips, PreparationReport, faceFound: [Bool]) {
        let start = Date()
        let builder = try parameters.clipBuilder()
        let jobs = list.sequences
        guard !jobs.isEmpty else {
            throw DatasetError.invalidLayout(path: "", message: "no labelled sequences to prepare"
                + (list.skipped.isEmpty ? "" : " (\(list.skipped.count) skipped: \(list.skipped.first!.reason), …)"))
        }
        let results = ResultBox(count: jobs.count)
        let workers = max(1, min(threads, jobs.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var k = worker
            while k < jobs.count {
                let outcome: Result<FaceClip, Error> = Result { try build(builder, jobs[k]) }
                let done = results.store(k, outcome)
                progress?(done, jobs.count)
                k += workers
            }
        }
        var report = PreparationReport()
        report.sequences = jobs.count
        report.skipped = list.skipped.count
        for s in list.skipped { report.skippedReasons[s.reason, default: 0] += 1 }
        report.classNames = list.classNames
        let plane = parameters.size * parameters.size
        let clipSize = 3 * parameters.frames * plane
        var pixels = [UInt8]()
        pixels.reserveCapacity(jobs.count * clipSize)
        var labels = [Int](), subjects = [String](), ids = [String](), faces = [Bool]()
        for (k, entry) in jobs.enumerated() {
            switch results.value[k]! {
            case let .failure(error):
                report.failures.append("\(entry.id): \(error)")
            case let .success(clip):
                guard clip.frames.count == parameters.frames,
                      clip.frames.allSatisfy({ $0.width == parameters.size && $0.height == parameters.size }) else {
                    report.failures.append("\(entry.id): unexpected clip shape"); continue
                }
                let channel = clip.frames.flatMap(\.pixels)
                for _ in 0..<3 { pixels += channel }
                labels.append(entry.label); subjects.append(entry.subject); ids.append(entry.id); faces.append(clip.faceFound)
                if !clip.faceFound { report.facesNotFound += 1 }
                if clip.sourceFrameCount < parameters.frames { report.padded += 1 }
            }
        }
        guard !labels.isEmpty else {
            throw DatasetError.invalidLayout(path: jobs[0].path, message: "every sequence failed; the first: \(report.failures.first ?? "?")")
        }
        let clips = try LabeledClips(clipShape: Shape(parameters.clipShape), pixels: pixels, labels: labels,
                                     classNames: list.classNames, subjects: subjects, sequenceIDs: ids)
        report.clips = clips.count
        report.classCounts = clips.classCounts
        report.seconds = Date().timeIntervalSince(start)
        return (clips, report, faces)
    }

    private final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        var value: [Result<FaceClip, Error>?]
        private var done = 0
        init(count: Int) { value = Array(repeating: nil, count: count) }
        func store(_ k: Int, _ r: Result<FaceClip, Error>) -> Int {
            lock.lock(); defer { lock.unlock() }
            value[k] = r; done += 1
            return done
        }
    }

    /// The key a cache is stored under: hash of the parameters, the source, the sequence list and its files'
    /// names, sizes and modification times (for a synthetic source: its options and the generator's version).
    public static func keyHash(parameters: PreprocessingParameters, source: DatasetSource, list: SequenceList?) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var bytes = try encoder.encode(parameters) + encoder.encode(source)
        if let list {
            bytes += try encoder.encode(list.sequences)
            bytes += Array(fingerprint(list).utf8)
        }
        if case .synthetic = source { bytes += Array("synthetic v\(SyntheticExpressionSet.version)".utf8) }
        return String(format: "%016llx", fnv1a64(bytes))
    }

    /// Name, size and modification time of every file of every sequence (a folder's visible files, or the video
    /// file): frames replaced in place change the key without decoding anything.
    static func fingerprint(_ list: SequenceList) -> String {
        let fm = FileManager.default
        var text = ""
        func describe(_ path: String) {
            let attributes = (try? fm.attributesOfItem(atPath: path)) ?? [:]
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
            let time = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            text += "\(path)|\(size)|\(time)\n"
        }
        for entry in list.sequences {
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: entry.path, isDirectory: &isDirectory), isDirectory.boolValue {
                let names = ((try? fm.contentsOfDirectory(atPath: entry.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
                for name in names { describe("\(entry.path)/\(name)") }
            } else {
                describe(entry.path)
            }
        }
        return text
    }

    /// Writes `clips` as a cache file at `path`, atomically (temporary file + fsync + rename).
    public static func write(_ clips: LabeledClips, faceFound: [Bool]? = nil, parameters: PreprocessingParameters,
                             source: DatasetSource, keyHash: String, report: PreparationReport, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        if !FileManager.default.fileExists(atPath: folder) {
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw DatasetError.io(path: folder, message: "cannot create the folder for the cache")
            }
        }
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp").path
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        do {
            let file = try HDF5File.create(temporary)
            let root = file.root
            try root.setAttribute("format", format)
            try root.setAttribute("format_version", [formatVersion])
            try root.setAttribute("class_names", try json(clips.classNames))
            try root.setAttribute("subjects", try json(clips.subjects))
            try root.setAttribute("sequence_ids", try json(clips.sequenceIDs))
            try root.setAttribute("parameters", try json(parameters))
            try root.setAttribute("source", try json(source))
            try root.setAttribute("key_hash", keyHash)
            try root.setAttribute("report", try json(report))
            try root.write("clips", clips.pixels, shape: [clips.count] + clips.clipShape.dims)
            try root.write("labels", clips.labels.map(Int64.init), shape: [clips.count])
            let faces = faceFound ?? Array(repeating: true, count: clips.count)
            try root.write("face_found", faces.map { UInt8($0 ? 1 : 0) }, shape: [clips.count])
            try file.flush()
        }
        fsyncPath(temporary)
        guard rename(temporary, path) == 0 else {
            throw DatasetError.io(path: path, message: "cannot replace the cache file: \(String(cString: strerror(errno)))")
        }
        fsyncPath(folder)
    }

    /// What a cache file holds besides the clips.
    public struct Info: Sendable {
        public var keyHash: String
        public var parameters: PreprocessingParameters
        public var source: DatasetSource?
        public var report: PreparationReport?
        public var faceFound: [Bool]
    }

    /// The key hash stored in a cache, or nil when the file is missing, unreadable or not a clip cache.
    public static func storedKeyHash(_ path: String) -> String? {
        guard FileManager.default.fileExists(atPath: path), let file = try? HDF5File.open(path),
              (try? file.root.stringAttribute("format")) == format else { return nil }
        return try? file.root.stringAttribute("key_hash")
    }

    /// Loads a cache into memory; every field is checked and a mismatch names the file and field.
    public static func load(_ path: String) throws -> (LabeledClips, Info) {
        let file = try HDF5File.open(path)
        let root = file.root
        func fail(_ message: String) -> DatasetError { .invalidFile(path: path, message: message) }
        guard (try? root.stringAttribute("format")) == format else {
            throw fail("not an emotion3d clip cache (attribute 'format' is not '\(format)')")
        }
        let version = (try? root.numericAttribute("format_version", as: Int64.self)) ?? []
        guard version == [formatVersion] else { throw fail("attribute 'format_version' is \(version); expected [\(formatVersion)]") }
        let decoder = JSONDecoder()
        func attribute<T: Decodable>(_ name: String, as _: T.Type) throws -> T {
            let text: String
            do { text = try root.stringAttribute(name) } catch { throw fail("missing attribute '\(name)'") }
            do { return try decoder.decode(T.self, from: Data(text.utf8)) } catch {
                throw fail("attribute '\(name)' is not valid JSON of the expected kind (\(error))")
            }
        }
        let classNames = try attribute("class_names", as: [String].self)
        let subjects = try attribute("subjects", as: [String].self)
        let ids = try attribute("sequence_ids", as: [String].self)
        let parameters = try attribute("parameters", as: PreprocessingParameters.self)
        let clips = try root.read("clips", as: UInt8.self)
        let labels = try root.read("labels", as: Int64.self)
        let n = labels.values.count
        guard clips.shape.count == 5, clips.shape[0] == n, clips.shape[1] == 3 else {
            throw fail("dataset 'clips' has shape \(clips.shape); expected [\(n), 3, frames, height, width]")
        }
        guard Array(clips.shape.dropFirst()) == parameters.clipShape else {
            throw fail("dataset 'clips' has clip shape \(Array(clips.shape.dropFirst())); the parameters say \(parameters.clipShape)")
        }
        guard subjects.count == n, ids.count == n else {
            throw fail("\(n) labels but \(subjects.count) subjects and \(ids.count) sequence ids")
        }
        let faces = (try? root.read("face_found", as: UInt8.self).values.map { $0 != 0 }) ?? Array(repeating: true, count: n)
        let set: LabeledClips
        do {
            set = try LabeledClips(clipShape: Shape(Array(clips.shape.dropFirst())), pixels: clips.values,
                                   labels: labels.values.map { Int($0) }, classNames: classNames, subjects: subjects, sequenceIDs: ids)
        } catch {
            throw fail("\(error)")
        }
        let info = Info(keyHash: (try? root.stringAttribute("key_hash")) ?? "", parameters: parameters,
                        source: try? attribute("source", as: DatasetSource.self),
                        report: try? attribute("report", as: PreparationReport.self), faceFound: faces.count == n ? faces : Array(repeating: true, count: n))
        return (set, info)
    }

    /// An empty list is an error naming the folder and what the reader skipped.
    static func requireSequences(_ list: SequenceList, root: String) throws {
        guard list.sequences.isEmpty else { return }
        var reasons = [String: Int]()
        for s in list.skipped { reasons[s.reason, default: 0] += 1 }
        let detail = reasons.isEmpty ? "no sequence folders found"
            : "skipped: " + reasons.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        throw DatasetError.invalidLayout(path: root, message: "no labelled sequences (\(detail))")
    }

    /// The clips of `source` under `parameters`: loaded from `cachePath` when it holds the same key, prepared and
    /// written there otherwise. `log` receives one-line status messages; `progress` the preparation's progress.
    public static func loadOrPrepare(_ source: DatasetSource, parameters: PreprocessingParameters, cachePath: String?,
                                     threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                                     log: ((String) -> Void)? = nil,
                                     progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> (LabeledClips, PreparationReport, reused: Bool) {
        try parameters.validate()
        var temporaryRoot: String?
        defer { if let t = temporaryRoot { try? FileManager.default.removeItem(atPath: t) } }
        var list: SequenceList?
        // a synthetic set's key is its options: no need to render it to know whether the cache is current
        if case .synthetic = source {} else {
            list = try source.scan()
            try Self.requireSequences(list!, root: source.root ?? "")
        }
        let key = try keyHash(parameters: parameters, source: source, list: list)
        if let cachePath, storedKeyHash(cachePath) == key {
            let (clips, info) = try load(cachePath)
            log?("reusing \(cachePath) (key \(key)): \(clips.count) clips")
            var report = info.report ?? PreparationReport()
            report.seconds = 0
            return (clips, report, true)
        } else if let cachePath, FileManager.default.fileExists(atPath: cachePath) {
            log?("\(cachePath) was prepared with other parameters or data; rebuilding")
        }
        if case let .synthetic(options, nil) = source, options.layout != .ouluCASIA {
            // no tree asked for and a lossless layout: render the clips' frames in memory (same pixels as PNG)
            let set = try SyntheticExpressionSet(options: options)
            let (clips, report, faces) = try set.labeledClips(parameters: parameters, threads: threads, progress: progress)
            log?(String(format: "rendered and prepared %d synthetic sequences in memory in %.1f s", report.sequences, report.seconds))
            if let cachePath {
                try write(clips, faceFound: faces, parameters: parameters, source: source, keyHash: key, report: report, to: cachePath)
                log?("wrote \(cachePath) (key \(key))")
            }
            return (clips, report, false)
        }
        if case let .synthetic(options, root) = source {
            let set = try SyntheticExpressionSet(options: options)
            let folder: String
            if let root {
                folder = root
            } else {
                folder = NSTemporaryDirectory() + "emotion3d-synthetic-\(getpid())-\(UUID().uuidString)"
                temporaryRoot = folder
            }
            let started = Date()
            let written = try set.write(to: folder, threads: threads)
            log?(written == 0 ? "reusing the synthetic tree in \(folder)"
                : String(format: "rendered %d synthetic sequences into %@ in %.1f s", written, folder, Date().timeIntervalSince(started)))
            list = try source.scan(root: folder)
            try Self.requireSequences(list!, root: folder)
        }
        let (clips, report, faces) = try prepare(list!, parameters: parameters, threads: threads, progress: progress)
        if let cachePath {
            try write(clips, faceFound: faces, parameters: parameters, source: source, keyHash: key, report: report, to: cachePath)
            log?("wrote \(cachePath) (key \(key))")
        }
        return (clips, report, false)
    }
}

/// FNV-1a, 64 bits: a stable hash for cache keys (Swift's `Hasher` is seeded per process).
func fnv1a64<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h
}

private func fsyncPath(_ path: String) {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return }
    defer { close(descriptor) }
    _ = fsync(descriptor)
}
