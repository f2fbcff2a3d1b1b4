import Foundation
import TestSupport
import Testing
@testable import EmotionRecognition
import Vision

@Suite struct DatasetReaderTests {
    /// A hand-made CK+ tree: labelled, unlabelled (empty label folder, no label folder) and frameless sequences.
    func makeCKPlus(_ root: String, images: String = "cohn-kanade-images", emotion: String = "Emotion") throws {
        func frames(_ subject: String, _ seq: String, _ n: Int) throws {
            let folder = "\(root)/\(images)/\(subject)/\(seq)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for f in 1...max(1, n) where n > 0 {
                try PNGEncoder.write(testImage(width: 8, height: 8, seed: f), to: String(format: "%@/%@_%@_%08d.png", folder, subject, seq, f))
            }
        }
        try frames("S005", "001", 3)
        try writeText("   3.0000000e+00\n", "\(root)/\(emotion)/S005/001/S005_001_00000003_emotion.txt")
        try frames("S005", "002", 2)
        try FileManager.default.createDirectory(atPath: "\(root)/\(emotion)/S005/002", withIntermediateDirectories: true)
        try frames("S010", "001", 2)
        try writeText("7.0000000e+00", "\(root)/\(emotion)/S010/001/S010_001_00000002_emotion.txt")
        try frames("S010", "004", 0)
        try frames("S010", "005", 1)  // no label folder at all
        try frames("S2", "001", 1)  // natural order puts S2 before S005
        try writeText(" 1.0000000e+00", "\(root)/\(emotion)/S2/001/S2_001_00000001_emotion.txt")
    }

    @Test func readsCKPlus() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeCKPlus(root)
        let list = try CKPlusDataset.scan(root: root)
        #expect(list.classNames == ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"])
        #expect(list.sequences.map(\.id) == ["S2/001", "S005/001", "S010/001"])
        #expect(list.sequences.map(\.label) == [0, 2, 6])
        #expect(list.sequences.map(\.subject) == ["S2", "S005", "S010"])
        #expect(list.sequences[1].path == "\(root)/cohn-kanade-images/S005/001")
        #expect(Set(list.skipped.map(\.id)) == ["S005/002", "S010/004", "S010/005"])
        #expect(list.skipped.filter { $0.reason == "no emotion label" }.count == 2)
        #expect(list.skipped.first { $0.id == "S010/004" }?.reason == "no frames")
        #expect(try FrameSource(path: list.sequences[1].path).frameCount() == 3)
    }

    @Test func readsCKPlusOneLevelDown() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeCKPlus(root, images: "extended-cohn-kanade-images/cohn-kanade-images", emotion: "Emotion_labels/Emotion")
        #expect(try CKPlusDataset.scan(root: root).sequences.count == 3)
    }

    @Test func ckPlusErrorsNameTheFile() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeCKPlus(root)
        let bad = "\(root)/Emotion/S010/001/S010_001_00000002_emotion.txt"
        for content in ["abc", "8.0000000e+00", "2.5", ""] {
            try writeText(content, bad)
            do {
                _ = try CKPlusDataset.scan(root: root)
                Issue.record("'\(content)' was accepted")
            } catch let error as DatasetError {
                #expect("\(error)".contains(bad) && "\(error)".contains("1...7"), "\(error)")
            }
        }
        try FileManager.default.removeItem(atPath: "\(root)/Emotion")
        #expect { try CKPlusDataset.scan(root: root) } throws: { "\($0)".contains("Emotion") }
        #expect { try CKPlusDataset.scan(root: root + "/missing") } throws: { "\($0)".contains("/missing") }
    }

    @Test func readsOuluCASIA() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let set = try SyntheticExpressionSet(options: smallSynthetic(subjects: 2, perSubject: 6, size: 40, layout: .ouluCASIA, frames: 10...10))
        #expect(try set.write(to: root) == 12)
        #expect(FileManager.default.fileExists(atPath: "\(root)/OriginalImg/VL/Strong/P001/Happiness/009.jpeg"))
        // another camera and light, and a folder that is not an expression
        let nir = "\(root)/OriginalImg/NI/Dark/P007/Fear"
        try FileManager.default.createDirectory(atPath: nir, withIntermediateDirectories: true)
        try JPEGEncoder.write(testImage(width: 16, height: 16), to: "\(nir)/000.jpeg")
        try FileManager.default.createDirectory(atPath: "\(root)/OriginalImg/VL/Strong/P002/Smile", withIntermediateDirectories: true)

        let list = try OuluCASIADataset().scan(root: root)
        #expect(list.classNames == ["anger", "disgust", "fear", "happy", "sadness", "surprise"])
        #expect(list.sequences.count == 12)
        #expect(list.sequences.first?.id == "P001/Anger" && list.sequences.first?.subject == "P001")
        #expect(list.classCounts == [2, 2, 2, 2, 2, 2])
        #expect(list.skipped.map(\.id) == ["P002/Smile"])
        let happy = try #require(list.sequences.first { $0.id == "P002/Happiness" })
        #expect(list.classNames[happy.label] == "happy")
        let decoded = try FrameSource(path: happy.path).decode()
        #expect(decoded.gray.count == 10 && decoded.gray[0].width == 40)

        let dark = try OuluCASIADataset(camera: .nearInfrared, illumination: .dark).scan(root: root)
        #expect(dark.sequences.map(\.id) == ["P007/Fear"])
        // the subjects folder itself as the root
        #expect(try OuluCASIADataset().scan(root: "\(root)/OriginalImg/VL/Strong").sequences.count == 12)
        #expect { try OuluCASIADataset(camera: .nearInfrared, illumination: .weak).scan(root: root) } throws: {
            "\($0)".contains("NI/Weak")
        }
    }

    @Test func readsFolderLayout() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (subject, label, seq) in [("alice", "Happy", "take1"), ("alice", "sad", "take1"), ("bob", "happy", "t2")] {
            let folder = "\(root)/\(subject)/\(label)/\(seq)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for f in 0..<3 { try PNGEncoder.write(testImage(width: 12, height: 10, seed: f), to: "\(folder)/f\(f).png") }
        }
        let video = Fixtures.path("vision/media/tiny_h264.mp4")
        try FileManager.default.createDirectory(atPath: "\(root)/bob/sad/clip", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: video, toPath: "\(root)/bob/sad/clip/video.mp4")
        try FileManager.default.copyItem(atPath: video, toPath: "\(root)/bob/sad/direct.mp4")
        try FileManager.default.createDirectory(atPath: "\(root)/bob/sad/empty", withIntermediateDirectories: true)
        try writeText("notes", "\(root)/bob/readme.txt")

        let list = try FolderDataset().scan(root: root)
        #expect(list.classNames == ["Happy", "sad"])
        #expect(list.sequences.map(\.id) == ["alice/Happy/take1", "alice/sad/take1", "bob/happy/t2", "bob/sad/clip", "bob/sad/direct"])
        #expect(list.sequences.map(\.label) == [0, 1, 0, 1, 1])
        #expect(list.sequences[3].path.hasSuffix("bob/sad/clip/video.mp4"))
        #expect(list.skipped.map(\.id) == ["bob/sad/empty"])
        #expect(try FrameSource(path: list.sequences[4].path).frameCount() > 0)

        let ordered = try FolderDataset(classNames: ["sad"]).scan(root: root)
        #expect(ordered.classNames == ["sad"] && ordered.sequences.count == 3 && ordered.sequences.allSatisfy { $0.label == 0 })
        #expect(ordered.skipped.count == 3)
        #expect { try FolderDataset().scan(root: root + "/nope") } throws: { "\($0)".contains("nope") }
    }
}
