import Dispatch
import Foundation
import Training
import Vision

/// The folder layout a synthetic set is written in.
public enum SyntheticLayout: String, Sendable, Codable, CaseIterable {
    /// CK+: `cohn-kanade-images/S005/001/S005_001_00000001.png`, `Emotion/S005/001/S005_001_000000NN_emotion.txt`.
    case ckPlus = "ckplus"
    /// Oulu-CASIA: `OriginalImg/VL/Strong/P001/Anger/000.jpeg` (six classes, JPEG frames).
    case ouluCASIA = "oulu"
    /// The generic layout `<subject>/<label>/<sequence>/frame_0001.png`.
    case folder
}

/// Options of the synthetic expression-video set. The defaults give a small CK+-like set that trains in minutes.
public struct SyntheticOptions: Sendable, Codable, Hashable {
    public var subjects = 10
    /// Sequences per subject; classes are dealt from a per-subject shuffle of all classes, so multiples of the
    /// class count are balanced.
    public var sequencesPerSubject = 7
    /// Frame size in pixels.
    public var width = 160
    public var height = 120
    /// Frames per sequence, drawn uniformly (CK+: 10–60; here at most 30).
    public var minFrames = 12
    public var maxFrames = 18
    /// Share of sequences written without an emotion label (CK+ has 266 of 593); only the CK+ layout has them.
    public var unlabeledFraction = 0.1
    public var seed: UInt64 = 1
    public var layout = SyntheticLayout.ckPlus

    public init() {}

    public func validate() throws {
        guard (1...999).contains(subjects) else { throw DatasetError.invalidArgument("synthetic subjects: expected 1...999, got \(subjects)") }
        guard (1...99).contains(sequencesPerSubject) else {
            throw DatasetError.invalidArgument("synthetic sequences per subject: expected 1...99, got \(sequencesPerSubject)")
        }
        guard (32...1024).contains(width), (32...1024).contains(height) else {
            throw DatasetError.invalidArgument("synthetic frame size: expected 32...1024 on each side, got \(width)x\(height)")
        }
        guard (10...30).contains(minFrames), (minFrames...30).contains(maxFrames) else {
            throw DatasetError.invalidArgument("synthetic frames: expected 10 ≤ min ≤ max ≤ 30, got \(minFrames)...\(maxFrames)")
        }
        guard (0...0.9).contains(unlabeledFraction) else {
            throw DatasetError.invalidArgument("synthetic unlabelled fraction: expected 0...0.9, got \(unlabeledFraction)")
        }
    }
}

/// One sequence of the synthetic set, before rendering.
public struct SyntheticSequence: Sendable, Hashable {
    /// `S005`-style subject name (CK+), `P001` (Oulu-CASIA) or `subject01` (folder).
    public var subject: String
    public var subjectIndex: Int
    /// Index of the sequence within its subject, from 0.
    public var index: Int
    /// Class name (`anger`…`surprise`).
    public var className: String
    public var frameCount: Int
    /// Whether the set writes a label for it.
    public var labeled: Bool
    public var seed: UInt64
}

/// A deterministic generator of CK+-style grey sequences (neutral → apex) of procedurally drawn faces.
/// Each subject has an identity (`FaceIdentity`); each class its dynamics (`ExpressionDynamics.ckPlus`).
/// The same options give the same pixels on every run and thread count.
public struct SyntheticExpressionSet: Sendable {
    /// CK+'s classes in label order (label k is `classNames[k - 1]`).
    public static let ckPlusClasses = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    /// Version of the renderer and the dynamics: part of the clip-cache key of synthetic sets, so a cache made by
    /// an older generator is rebuilt. Bump it whenever the pixels for the same options change.
    public static let version = 1

    /// Oulu-CASIA's six classes (no contempt).
    public static let ouluClasses = ["anger", "disgust", "fear", "happy", "sadness", "surprise"]

    public let options: SyntheticOptions
    public let sequences: [SyntheticSequence]
    public let identities: [FaceIdentity]

    public var classNames: [String] { options.layout == .ouluCASIA ? Self.ouluClasses : Self.ckPlusClasses }

    public init(options: SyntheticOptions = SyntheticOptions()) throws {
        try options.validate()
        self.options = options
        let classes = options.layout == .ouluCASIA ? Self.ouluClasses : Self.ckPlusClasses
        var master = SplitMix64(seed: options.seed ^ 0x5EED_0F_E3D)
        var identities = [FaceIdentity]()
        var sequences = [SyntheticSequence]()
        var number = 4
        for s in 0..<options.subjects {
            var rng = SplitMix64(seed: master.next())
            identities.append(FaceIdentity(using: &rng))
            number += Int(rng.next() % 6) + 1  // CK+ subject numbers have gaps: S005, S010, S011…
            let subject: String
            switch options.layout {
            case .ckPlus: subject = String(format: "S%03d", number)
            case .ouluCASIA: subject = String(format: "P%03d", s + 1)
            case .folder: subject = String(format: "subject%02d", s + 1)
            }
            var deck = [String]()
            for k in 0..<options.sequencesPerSubject {
                if deck.isEmpty { deck = classes.shuffled(using: &rng) }
                let className = deck.removeLast()
                let frames = options.minFrames + Int(rng.next() % UInt64(options.maxFrames - options.minFrames + 1))
                let labeled = options.layout != .ckPlus || rng.uniform(0...1) >= options.unlabeledFraction
                sequences.append(SyntheticSequence(subject: subject, subjectIndex: s, index: k, className: className,
                                                   frameCount: frames, labeled: labeled, seed: rng.next()))
            }
        }
        self.identities = identities
        self.sequences = sequences
    }

    /// The frames of `sequence`, oldest (neutral) first; `indices` renders only those frames (0-based), e.g.
    /// the last ten when only a clip is needed.
    public func frames(of sequence: SyntheticSequence, indices: [Int]? = nil) -> [GrayImage] {
        var rng = SplitMix64(seed: sequence.seed)
        let dynamics = ExpressionDynamics.ckPlus[sequence.className]!
        let (controls, poses) = dynamics.timeline(frameCount: sequence.frameCount, using: &rng)
        let renderer = FaceRenderer(identity: identities[sequence.subjectIndex], width: options.width, height: options.height)
        return (indices ?? Array(0..<sequence.frameCount)).filter { (0..<sequence.frameCount).contains($0) }.map { f in
            renderer.render(controls[f], pose: poses[f], noiseSeed: sequence.seed &+ UInt64(f) &* 0x9E37_79B9)
        }
    }

    /// The sequences a written tree holds: all of them, except in the Oulu-CASIA layout, which keeps one
    /// sequence per subject and class (the first one dealt).
    public var writtenSequences: [SyntheticSequence] {
        guard options.layout == .ouluCASIA else { return sequences }
        var seen = Set<String>()
        return sequences.filter { seen.insert("\($0.subject)/\($0.className)").inserted }
    }

    /// The labelled sequences as the dataset readers list them from a written tree (same ids, labels, order).
    public func sequenceList() -> SequenceList {
        let labelled = writtenSequences.filter(\.labeled)
        let entries = labelled.map { s in
            SequenceEntry(path: "", subject: s.subject, label: classNames.firstIndex(of: s.className)!, id: identifier(of: s))
        }.sorted { a, b in a.subject != b.subject ? naturalOrder(a.subject, b.subject) : naturalOrder(a.id, b.id) }
        let skipped = writtenSequences.filter { !$0.labeled }.map { SkippedSequence(id: identifier(of: $0), path: "", reason: "no emotion label") }
        return SequenceList(sequences: entries, classNames: classNames, skipped: skipped)
    }

    /// The clips of the labelled sequences, rendered in memory (only the frames a clip uses) and preprocessed by
    /// Vision's clip builder: the same clips, ids and order as writing the CK+ or folder layout and preparing it,
    /// without the files. (The Oulu-CASIA layout stores JPEG, so its prepared pixels differ from these.)
    public func labeledClips(parameters: PreprocessingParameters = PreprocessingParameters(),
                             threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                             progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> (LabeledClips, PreparationReport, faceFound: [Bool]) {
        let list = sequenceList()
        let byID = Dictionary(uniqueKeysWithValues: writtenSequences.map { (identifier(of: $0), $0) })
        let keep = parameters.frames
        return try ClipCache.prepare(list, parameters: parameters, threads: threads, progress: progress) { builder, entry in
            let sequence = byID[entry.id]!
            let first = max(0, sequence.frameCount - keep)
            let frames = self.frames(of: sequence, indices: Array(first..<sequence.frameCount))
            return try builder.build(frames: frames, sourceFrameCount: sequence.frameCount, name: entry.id)
        }
    }

    /// Sequence id as the readers give it (`S005/001`, `P001/Anger`, `subject01/anger/001`).
    public func identifier(of sequence: SyntheticSequence) -> String {
        switch options.layout {
        case .ckPlus: String(format: "%@/%03d", sequence.subject, sequence.index + 1)
        case .ouluCASIA: "\(sequence.subject)/\(Self.ouluFolder(sequence.className))"
        case .folder: String(format: "%@/%@/%03d", sequence.subject, sequence.className, sequence.index + 1)
        }
    }

    static func ouluFolder(_ className: String) -> String {
        className == "happy" ? "Happiness" : className.prefix(1).uppercased() + className.dropFirst()
    }

    /// Name of the file that records, at the root of a written tree, the options and generator version.
    public static let markerFile = "emotion3d-synthetic.json"

    /// Writes the set under `root` in the options' layout, rendering sequences on `threads` threads, and returns
    /// the number of sequences written (0 when `root` already holds this very set: its marker file matches).
    /// `root` must be missing, empty, or a tree this generator wrote; anything else is an error rather than a
    /// mix of old and new files. `progress(done, total)` is called after each sequence (serialised).
    /// The Oulu-CASIA layout keeps one sequence per subject and class (the first one dealt).
    @discardableResult
    public func write(to root: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                      progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> Int {
        let fm = FileManager.default
        let marker = (root as NSString).appendingPathComponent(Self.markerFile)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var record = String(decoding: try encoder.encode(options), as: UTF8.self)
        record = "{\"generator_version\":\(Self.version),\"options\":\(record)}\n"
        let existing = (try? fm.contentsOfDirectory(atPath: root)) ?? []
        if !existing.isEmpty {
            guard let stored = fm.contents(atPath: marker).map({ String(decoding: $0, as: UTF8.self) }) else {
                throw DatasetError.invalidLayout(path: root, message: "the folder is not empty and holds no complete synthetic set (no \(Self.markerFile)); choose an empty or new folder")
            }
            if stored == record { return 0 }
            throw DatasetError.invalidLayout(path: root, message: "the folder holds a synthetic set made with other options or another generator version (\(Self.markerFile)); delete it or choose another folder")
        }
        do { try fm.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw DatasetError.io(path: root, message: "cannot create the folder (\(error.localizedDescription))")
        }
        let jobs = writtenSequences
        let state = WriteState()
        let workers = max(1, min(threads, jobs.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var k = worker
            while k < jobs.count {
                do {
                    try self.writeSequence(jobs[k], root: root)
                } catch {
                    state.fail(error)
                    return
                }
                let done = state.advance()
                progress?(done, jobs.count)
                k += workers
            }
        }
        if let error = state.error { throw error }
        // the marker last: a tree cut short by an error or a crash is never mistaken for a complete one
        try writeAtomically(Data(record.utf8), to: marker)
        return jobs.count
    }

    private func writeSequence(_ sequence: SyntheticSequence, root: String) throws {
        let fm = FileManager.default
        let frames = self.frames(of: sequence)
        func makeFolder(_ path: String) throws {
            do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw DatasetError.io(path: path, message: "cannot create the folder (\(error.localizedDescription))")
            }
        }
        switch options.layout {
        case .ckPlus:
            let number = String(format: "%03d", sequence.index + 1)
            let folder = "\(root)/cohn-kanade-images/\(sequence.subject)/\(number)"
            try makeFolder(folder)
            for (f, frame) in frames.enumerated() {
                try PNGEncoder.write(frame, to: String(format: "%@/%@_%@_%08d.png", folder, sequence.subject, number, f + 1))
            }
            let emotionFolder = "\(root)/Emotion/\(sequence.subject)/\(number)"
            if sequence.labeled {
                try makeFolder(emotionFolder)
                let label = Self.ckPlusClasses.firstIndex(of: sequence.className)! + 1
                let text = String(format: "   %.7e\n", Double(label))
                let path = String(format: "%@/%@_%@_%08d_emotion.txt", emotionFolder, sequence.subject, number, frames.count)
                try writeAtomically(Data(text.utf8), to: path)
            } else if sequence.seed % 2 == 0 {
                try makeFolder(emotionFolder)  // the real set has empty label folders too
            }
        case .ouluCASIA:
            let folder = "\(root)/OriginalImg/VL/Strong/\(sequence.subject)/\(Self.ouluFolder(sequence.className))"
            try makeFolder(folder)
            for (f, frame) in frames.enumerated() {
                try JPEGEncoder.write(frame, to: String(format: "%@/%03d.jpeg", folder, f), quality: 92)
            }
        case .folder:
            let folder = String(format: "%@/%@/%@/%03d", root, sequence.subject, sequence.className, sequence.index + 1)
            try makeFolder(folder)
            for (f, frame) in frames.enumerated() {
                try PNGEncoder.write(frame, to: String(format: "%@/frame_%04d.png", folder, f + 1))
            }
        }
    }

    private final class WriteState: @unchecked Sendable {
        private let lock = NSLock()
        private var done = 0
        private(set) var error: Error?
        func advance() -> Int { lock.lock(); defer { lock.unlock() }; done += 1; return done }
        func fail(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
    }
}
