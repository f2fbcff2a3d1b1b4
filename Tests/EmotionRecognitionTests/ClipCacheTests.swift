import Foundation
import GraphCore
import HDF5
import Testing
@testable import EmotionRecognition
import Training
import Vision

@Suite struct ClipCacheTests {
    static func parameters(size: Int = 32) -> PreprocessingParameters {
        var p = PreprocessingParameters()
        p.size = size
        return p
    }

    @Test func preparesWritesReusesAndRebuilds() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = "\(dir)/clips.h5"
        let source = DatasetSource.synthetic(options: smallSynthetic(subjects: 2, perSubject: 7, size: 64, unlabeled: 0.2), root: "\(dir)/tree")
        let logged = LogBox()
        let (clips, report, reused) = try ClipCache.loadOrPrepare(source, parameters: Self.parameters(), cachePath: cache,
                                                                  log: { logged.add($0) })
        #expect(!reused)
        #expect(clips.clipShape.dims == [3, 10, 32, 32])
        #expect(clips.count == report.clips && clips.count + report.skipped == 14)
        #expect(report.skippedReasons["no emotion label"] == report.skipped)
        #expect(report.facesNotFound == 0 && report.failures.isEmpty)
        #expect(report.classCounts == clips.classCounts)
        #expect(Set(clips.subjects).count == 2)
        #expect(clips.sequenceIDs.allSatisfy { $0.hasPrefix("S0") && $0.count == 8 })
        // grey replicated on three channels
        let plane = 10 * 32 * 32
        #expect(Array(clips.pixels[0..<plane]) == Array(clips.pixels[plane..<(2 * plane)]))
        #expect(filesUnder(dir).allSatisfy { !$0.hasSuffix(".tmp") })

        let (again, _, reusedAgain) = try ClipCache.loadOrPrepare(source, parameters: Self.parameters(), cachePath: cache,
                                                                   log: { logged.add($0) })
        #expect(reusedAgain)
        #expect(again.pixels == clips.pixels && again.labels == clips.labels && again.subjects == clips.subjects
            && again.sequenceIDs == clips.sequenceIDs && again.classNames == clips.classNames)
        #expect(logged.lines.contains { $0.hasPrefix("reusing") })

        let (smaller, _, reusedSmaller) = try ClipCache.loadOrPrepare(source, parameters: Self.parameters(size: 24), cachePath: cache)
        #expect(!reusedSmaller && smaller.clipShape.dims == [3, 10, 24, 24])
        let (_, info) = try ClipCache.load(cache)
        #expect(info.parameters.size == 24 && info.source == source && info.faceFound.count == smaller.count)

        // the same tree read as CK+ is another source: its own key
        let ck = DatasetSource.ckPlus(root: "\(dir)/tree")
        let (fromTree, _, reusedTree) = try ClipCache.loadOrPrepare(ck, parameters: Self.parameters(), cachePath: cache)
        #expect(!reusedTree && fromTree.pixels == clips.pixels)
        #expect(try ClipCache.keyHash(parameters: Self.parameters(), source: ck, list: try ck.scan())
            == ClipCache.storedKeyHash(cache))
        // a frame replaced in place changes the key
        let frame = try #require(filesUnder("\(dir)/tree").first { $0.hasSuffix(".png") })
        let frameData = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/tree/\(frame)"))
        try (frameData + Data([0])).write(to: URL(fileURLWithPath: "\(dir)/tree/\(frame)"))
        #expect(try ClipCache.keyHash(parameters: Self.parameters(), source: ck, list: try ck.scan())
            != ClipCache.storedKeyHash(cache))
    }

    /// Rendering in memory gives the very clips that writing the PNG tree and preparing it gives.
    @Test func inMemorySyntheticClipsEqualTheWrittenTree() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for layout in [SyntheticLayout.ckPlus, .folder] {
            let options = smallSynthetic(subjects: 2, perSubject: 5, size: 64, layout: layout, seed: 5, frames: 10...14, unlabeled: 0.3)
            let set = try SyntheticExpressionSet(options: options)
            let (memory, memoryReport, _) = try set.labeledClips(parameters: Self.parameters())
            try set.write(to: "\(dir)/\(layout)")
            let list = try DatasetSource.synthetic(options: options, root: "\(dir)/\(layout)").scan()
            #expect(list.sequences.map(\.id) == set.sequenceList().sequences.map(\.id))
            let (disk, diskReport, _) = try ClipCache.prepare(list, parameters: Self.parameters())
            #expect(memory.sequenceIDs == disk.sequenceIDs && memory.labels == disk.labels && memory.subjects == disk.subjects)
            #expect(memory.pixels == disk.pixels, "\(layout): pixels differ")
            #expect(memoryReport.skipped == diskReport.skipped && memoryReport.padded == diskReport.padded)
        }
        let logged = LogBox()
        let options = smallSynthetic(subjects: 1, perSubject: 3, size: 64)
        let (clips, _, _) = try ClipCache.loadOrPrepare(.synthetic(options: options, root: nil), parameters: Self.parameters(),
                                                        cachePath: "\(dir)/m.h5", log: { logged.add($0) })
        #expect(logged.lines.first?.contains("in memory") == true)
        #expect(try ClipCache.load("\(dir)/m.h5").0.pixels == clips.pixels)
    }

    @Test func cacheIsReadableAsDocumented() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clips = try LabeledClips(clipShape: Shape([3, 2, 4, 4]), pixels: (0..<192).map { UInt8($0) }, labels: [1, 0],
                                     classNames: ["a", "b"], subjects: ["P1", "P2"], sequenceIDs: ["P1/x", "P2/y"])
        var p = PreprocessingParameters()
        p.frames = 2; p.size = 4
        try ClipCache.write(clips, parameters: p, source: .folder(root: "/r", classNames: nil), keyHash: "k", report: PreparationReport(),
                            to: "\(dir)/sub/c.h5")
        let file = try HDF5File.open("\(dir)/sub/c.h5")
        #expect(try file.root.read("clips", as: UInt8.self).shape == [2, 3, 2, 4, 4])
        #expect(try file.root.read("labels", as: Int64.self).values == [1, 0])
        #expect(try file.root.stringAttribute("subjects") == #"["P1","P2"]"#)
        #expect(try file.root.stringAttribute("format") == "emotion3d-clips")
        let (back, _) = try ClipCache.load("\(dir)/sub/c.h5")
        #expect(back.pixels == clips.pixels && back.sequenceIDs == clips.sequenceIDs)
    }

    @Test func badCachesAreReportedWithTheFile() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeText("not hdf5", "\(dir)/text.h5")
        #expect { try ClipCache.load("\(dir)/text.h5") } throws: { "\($0)".contains("text.h5") }
        let other = try HDF5File.create("\(dir)/other.h5")
        try other.root.setAttribute("format", "emotion3d-checkpoint")
        try other.flush()
        #expect { try ClipCache.load("\(dir)/other.h5") } throws: { "\($0)".contains("other.h5") && "\($0)".contains("clip cache") }
        #expect(ClipCache.storedKeyHash("\(dir)/other.h5") == nil)
        #expect(ClipCache.storedKeyHash("\(dir)/missing.h5") == nil)
    }

    @Test func emptyDatasetsNameTheFolder() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/cohn-kanade-images/S1/001", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/Emotion", withIntermediateDirectories: true)
        #expect { try ClipCache.loadOrPrepare(.ckPlus(root: dir), parameters: Self.parameters(), cachePath: nil) } throws: {
            "\($0)".contains(dir) && "\($0)".contains("1 no frames")
        }
        #expect { try ClipCache.loadOrPrepare(.folder(root: "\(dir)/Emotion", classNames: nil), parameters: Self.parameters(), cachePath: nil) } throws: {
            "\($0)".contains("no labelled sequences (no sequence folders found)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/clips.h5"))
    }

    @Test func preparationSurvivesBadSequences() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = "\(dir)/good"
        try FileManager.default.createDirectory(atPath: good, withIntermediateDirectories: true)
        for f in 0..<4 { try PNGEncoder.write(testImage(width: 40, height: 30, seed: f), to: "\(good)/\(f).png") }
        let broken = "\(dir)/broken"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        try writeText("garbage", "\(broken)/0.png")
        let list = SequenceList(sequences: [SequenceEntry(path: good, subject: "a", label: 0, id: "a/good"),
                                            SequenceEntry(path: broken, subject: "b", label: 1, id: "b/broken")],
                                classNames: ["x", "y"])
        var p = PreprocessingParameters()
        p.size = 16
        let (clips, report, faces) = try ClipCache.prepare(list, parameters: p)
        #expect(clips.sequenceIDs == ["a/good"] && faces == [false])
        #expect(report.failures.count == 1 && report.failures[0].contains("b/broken") && report.failures[0].contains("0.png"))
        #expect(report.facesNotFound == 1 && report.padded == 1)
        p.centreCropFallback = false
        #expect { try ClipCache.prepare(list, parameters: p) } throws: { "\($0)".contains("no face") }
        p.size = 4
        #expect(throws: DatasetError.self) { try ClipCache.prepare(list, parameters: p) }
    }
}

final class LogBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func add(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}
