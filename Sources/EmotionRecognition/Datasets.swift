import Foundation
import Vision

/// One labelled sequence found on disk: a folder of frames or a video file.
public struct SequenceEntry: Sendable, Hashable, Codable {
    /// The folder of frames (or the video file) Vision's `FrameSource` reads.
    public var path: String
    /// Subject name (`S005`, `P001`, the folder layout's subject folder); folds never split a subject.
    public var subject: String
    /// Class index into the list's `classNames`.
    public var label: Int
    /// Sequence id, unique in the set: `S005/001`, `P001/Anger`, `subject/label/sequence`.
    public var id: String

    public init(path: String, subject: String, label: Int, id: String) {
        self.path = path; self.subject = subject; self.label = label; self.id = id
    }
}

/// A sequence the reader found but did not keep, and why (no emotion label, no frames…).
public struct SkippedSequence: Sendable, Hashable, Codable {
    public var id: String
    public var path: String
    public var reason: String
}

/// The labelled sequences of a dataset, in a stable order (subjects, then sequences, in natural name order).
public struct SequenceList: Sendable, Codable {
    public var sequences: [SequenceEntry]
    public var classNames: [String]
    public var skipped: [SkippedSequence]

    public init(sequences: [SequenceEntry], classNames: [String], skipped: [SkippedSequence] = []) {
        self.sequences = sequences; self.classNames = classNames; self.skipped = skipped
    }

    /// Sequences per class, in `classNames` order.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classNames.count)
        for s in sequences { counts[s.label] += 1 }
        return counts
    }

    /// Distinct subjects, in natural order.
    public var subjects: [String] { Array(Set(sequences.map(\.subject))).sorted(by: naturalOrder) }
}

/// "S2" < "S10": digit runs compare by value.
public func naturalOrder(_ a: String, _ b: String) -> Bool {
    a.compare(b, options: [.numeric]) == .orderedAscending
}

private let fileManager = FileManager.default

private func isDirectory(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return fileManager.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
}

/// Visible entries of a folder in natural order; an unreadable folder is an error naming it.
private func entries(_ path: String) throws -> [String] {
    do {
        return try fileManager.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted(by: naturalOrder)
    } catch {
        throw DatasetError.io(path: path, message: "cannot list the folder (\(error.localizedDescription))")
    }
}

private func subfolders(_ path: String) throws -> [String] {
    try entries(path).filter { isDirectory("\(path)/\($0)") }
}

private func imageFiles(_ path: String) throws -> [String] {
    try entries(path).filter { FrameSource.imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
}

/// Video file extensions the folder layout takes as one sequence each.
public let videoExtensions: Set<String> = ["mp4", "avi", "mov", "mkv", "webm", "m4v", "mpg", "mpeg", "wmv", "flv"]

// MARK: - CK+

/// The Extended Cohn-Kanade set (CK+) in its distributed layout:
/// `cohn-kanade-images/S005/001/S005_001_00000001.png` and `Emotion/S005/001/S005_001_00000011_emotion.txt`
/// holding the label 1...7 as text (e.g. `   3.0000000e+00`). The root may be the folder that holds both (also when
/// they sit one level down, as in `extended-cohn-kanade-images/` and `Emotion_labels/`). Sequences without an
/// emotion file are skipped and counted (327 of 593 are labelled in the real set).
public enum CKPlusDataset {
    /// Label k (1...7) is `classNames[k - 1]`.
    public static let classNames = SyntheticExpressionSet.ckPlusClasses

    public static func scan(root: String) throws -> SequenceList {
        guard isDirectory(root) else { throw DatasetError.notFound(path: root, expected: "a CK+ folder holding cohn-kanade-images/ and Emotion/") }
        func find(_ name: String) throws -> String? {
            if isDirectory("\(root)/\(name)") { return "\(root)/\(name)" }
            for child in try subfolders(root) where isDirectory("\(root)/\(child)/\(name)") { return "\(root)/\(child)/\(name)" }
            return nil
        }
        guard let images = try find("cohn-kanade-images") else {
            throw DatasetError.notFound(path: "\(root)/cohn-kanade-images", expected: "CK+'s image folder (cohn-kanade-images/S005/001/*.png)")
        }
        guard let emotions = try find("Emotion") else {
            throw DatasetError.notFound(path: "\(root)/Emotion", expected: "CK+'s label folder (Emotion/S005/001/*_emotion.txt)")
        }
        var sequences = [SequenceEntry]()
        var skipped = [SkippedSequence]()
        for subject in try subfolders(images) {
            for number in try subfolders("\(images)/\(subject)") {
                let id = "\(subject)/\(number)", folder = "\(images)/\(subject)/\(number)"
                if try imageFiles(folder).isEmpty {
                    skipped.append(SkippedSequence(id: id, path: folder, reason: "no frames")); continue
                }
                let labelFolder = "\(emotions)/\(subject)/\(number)"
                let labelFiles = isDirectory(labelFolder) ? try entries(labelFolder).filter { $0.hasSuffix("_emotion.txt") } : []
                guard let labelFile = labelFiles.last else {
                    skipped.append(SkippedSequence(id: id, path: folder, reason: "no emotion label")); continue
                }
                if labelFiles.count > 1 {
                    throw DatasetError.invalidLayout(path: labelFolder, message: "\(labelFiles.count) emotion files; expected one")
                }
                let label = try readEmotion("\(labelFolder)/\(labelFile)")
                sequences.append(SequenceEntry(path: folder, subject: subject, label: label - 1, id: id))
            }
        }
        return SequenceList(sequences: sequences, classNames: classNames, skipped: skipped)
    }

    /// Reads an emotion file: one number 1...7 written as a float (`   3.0000000e+00`).
    public static func readEmotion(_ path: String) throws -> Int {
        guard let data = fileManager.contents(atPath: path) else {
            throw DatasetError.io(path: path, message: "cannot read the emotion file")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = Double(text), value.isFinite, value == value.rounded(), (1...7).contains(Int(value)) else {
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            throw DatasetError.invalidFile(path: path, message: "expected one emotion label 1...7 (e.g. '   3.0000000e+00'), found '\(shown)'")
        }
        return Int(value)
    }
}

// MARK: - Oulu-CASIA

/// Oulu-CASIA NIR&VIS in its distributed layout: `OriginalImg/VL/Strong/P001/Anger/000.jpeg`. Six classes; the
/// paper uses the visible-light camera under normal ("Strong") illumination, the default here.
public struct OuluCASIADataset: Sendable {
    public enum Camera: String, Sendable, Codable, CaseIterable {
        case visible = "VL", nearInfrared = "NI"
    }
    public enum Illumination: String, Sendable, Codable, CaseIterable {
        case normal = "Strong", weak = "Weak", dark = "Dark"
    }
    public static let classNames = SyntheticExpressionSet.ouluClasses
    /// Folder names of the classes (Happiness is `happy` here).
    static let folderToClass: [String: String] = [
        "anger": "anger", "disgust": "disgust", "fear": "fear", "happiness": "happy", "happy": "happy",
        "sadness": "sadness", "surprise": "surprise",
    ]

    public var camera: Camera
    public var illumination: Illumination

    public init(camera: Camera = .visible, illumination: Illumination = .normal) {
        self.camera = camera; self.illumination = illumination
    }

    /// The folder holding the subjects for this camera and illumination under `root` (which may be the dataset
    /// root, `OriginalImg`, or that folder itself).
    public func subjectsFolder(root: String) throws -> String {
        let tail = "\(camera.rawValue)/\(illumination.rawValue)"
        for candidate in ["\(root)/OriginalImg/\(tail)", "\(root)/\(tail)"] where isDirectory(candidate) { return candidate }
        if isDirectory(root), try subfolders(root).contains(where: { $0.hasPrefix("P") }),
           !isDirectory("\(root)/OriginalImg"), !isDirectory("\(root)/\(camera.rawValue)") {
            return root
        }
        throw DatasetError.notFound(path: "\(root)/OriginalImg/\(tail)",
                                    expected: "Oulu-CASIA's \(camera == .visible ? "VIS" : "NIR") frames under \(illumination == .normal ? "normal" : illumination.rawValue.lowercased()) light (OriginalImg/\(tail)/P001/Anger/000.jpeg)")
    }

    public func scan(root: String) throws -> SequenceList {
        let base = try subjectsFolder(root: root)
        var sequences = [SequenceEntry]()
        var skipped = [SkippedSequence]()
        for subject in try subfolders(base) {
            for expression in try subfolders("\(base)/\(subject)") {
                let id = "\(subject)/\(expression)", folder = "\(base)/\(subject)/\(expression)"
                guard let name = Self.folderToClass[expression.lowercased()], let label = Self.classNames.firstIndex(of: name) else {
                    skipped.append(SkippedSequence(id: id, path: folder, reason: "unknown expression folder '\(expression)' (expected Anger, Disgust, Fear, Happiness, Sadness, Surprise)"))
                    continue
                }
                if try imageFiles(folder).isEmpty {
                    skipped.append(SkippedSequence(id: id, path: folder, reason: "no frames")); continue
                }
                sequences.append(SequenceEntry(path: folder, subject: subject, label: label, id: id))
            }
        }
        return SequenceList(sequences: sequences, classNames: Self.classNames, skipped: skipped)
    }
}

// MARK: - Generic folders

/// A generic layout, `<root>/<subject>/<label>/<sequence>/` holding frames (PNG/JPEG…) or one video file;
/// a video file directly in a label folder is a sequence too. Labels come from the folder names.
public struct FolderDataset: Sendable {
    /// The class order; nil takes the label folder names found, sorted. Names compare case-insensitively.
    public var classNames: [String]?

    public init(classNames: [String]? = nil) { self.classNames = classNames }

    public func scan(root: String) throws -> SequenceList {
        guard isDirectory(root) else {
            throw DatasetError.notFound(path: root, expected: "a folder laid out as <subject>/<label>/<sequence>/")
        }
        var found: [(subject: String, label: String, id: String, path: String)] = []
        var skipped = [SkippedSequence]()
        for subject in try subfolders(root) {
            for label in try subfolders("\(root)/\(subject)") {
                let labelFolder = "\(root)/\(subject)/\(label)"
                for item in try entries(labelFolder) {
                    let path = "\(labelFolder)/\(item)"
                    let id = "\(subject)/\(label)/\(item)"
                    if isDirectory(path) {
                        if !(try imageFiles(path)).isEmpty {
                            found.append((subject, label, id, path))
                        } else {
                            let videos = try entries(path).filter { videoExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
                            if videos.count == 1 {
                                found.append((subject, label, id, "\(path)/\(videos[0])"))
                            } else {
                                skipped.append(SkippedSequence(id: id, path: path, reason: videos.isEmpty
                                    ? "no frames and no video file" : "\(videos.count) video files; expected one per sequence folder"))
                            }
                        }
                    } else if videoExtensions.contains((item as NSString).pathExtension.lowercased()) {
                        found.append((subject, label, "\(subject)/\(label)/\((item as NSString).deletingPathExtension)", path))
                    }
                }
            }
        }
        let names: [String]
        if let given = classNames {
            names = given
        } else {
            var seen = [String: String]()
            for f in found where seen[f.label.lowercased()] == nil { seen[f.label.lowercased()] = f.label }
            names = seen.keys.sorted().map { seen[$0]! }
        }
        let index = Dictionary(names.enumerated().map { ($1.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        var sequences = [SequenceEntry]()
        for f in found {
            guard let label = index[f.label.lowercased()] else {
                skipped.append(SkippedSequence(id: f.id, path: f.path, reason: "label folder '\(f.label)' is not one of the classes \(names.joined(separator: ", "))"))
                continue
            }
            sequences.append(SequenceEntry(path: f.path, subject: f.subject, label: label, id: f.id))
        }
        return SequenceList(sequences: sequences, classNames: names, skipped: skipped)
    }
}
