import Foundation
import Testing
@testable import Vision

@Suite struct DecodingTests {
    static let videos = ["tiny_h264.mp4", "tiny_hevc.mov", "tiny_mpeg4.avi", "tiny_gray_png.avi", "face_h264.mp4"]

    @Test(arguments: videos)
    func frameCountByDecodingMatchesOpenCV(name: String) throws {
        let counts = try jsonObject("media/frame_counts.json") as! [String: Int]
        let src = try FrameSource(path: fixture("media/" + name))
        #expect(src.kind == .video)
        #expect(try src.frameCount() == counts[name])
    }

    @Test func colourVideoDecodesToGreyAndRGB() throws {
        let d = try FrameSource(path: fixture("media/tiny_h264.mp4")).decode(color: true)
        #expect(d.gray.count == 12 && d.rgb.count == 12 && d.totalFrames == 12)
        #expect(d.sourceIsColor)
        #expect(d.gray[0].width == 64 && d.gray[0].height == 48)
        #expect(d.rgb[3].gray() == d.gray[3])
    }

    @Test func greyVideoStaysGrey() throws {
        let d = try FrameSource(path: fixture("media/tiny_gray_png.avi")).decode(keepLast: 4, color: true)
        #expect(!d.sourceIsColor)
        #expect(d.gray.count == 4 && d.rgb.isEmpty && d.totalFrames == 12)
    }

    @Test func keepLastKeepsTheLastFrames() throws {
        let src = try FrameSource(path: fixture("media/tiny_mpeg4.avi"))
        let all = try src.decode()
        let last = try src.decode(keepLast: 5)
        #expect(Array(all.gray.suffix(5)) == last.gray)
    }

    @Test func ckLayoutImageSequence() throws {
        let src = try FrameSource(path: fixture("media/ck/S005/001"))
        guard case .imageSequence(let files) = src.kind else { Issue.record("not a sequence"); return }
        #expect(files.count == 7)
        #expect(files.first!.hasSuffix("S005_001_00000001.png"))
        let d = try src.decode(color: true)
        #expect(d.gray.count == 7 && !d.sourceIsColor && d.rgb.isEmpty)
        #expect(d.gray[0].width == 160 && d.gray[0].height == 120)
    }

    @Test func ouluLayoutJPEGSequence() throws {
        let src = try FrameSource(path: fixture("media/oulu/P001/Anger"))
        let d = try src.decode(keepLast: 10, color: true)
        #expect(d.totalFrames == 12 && d.gray.count == 10 && d.rgb.count == 10 && d.sourceIsColor)
    }

    @Test func naturalOrder() {
        let names = ["f10.png", "f2.png", "f1.png", "f010a.png", "g.png"]
        #expect(names.sorted(by: naturalLess) == ["f1.png", "f2.png", "f10.png", "f010a.png", "g.png"])
    }

    // MARK: errors name the file

    @Test func missingFile() {
        let p = "/nonexistent/clip.mp4"
        #expect(throws: VisionError.fileNotFound(path: p)) { try FrameSource(path: p) }
    }

    @Test func emptyFile() throws {
        let p = tempDir() + "/empty.mp4"
        _ = FileManager.default.createFile(atPath: p, contents: Data())
        #expect(throws: VisionError.emptyFile(path: p)) { try FrameSource(path: p) }
        #expect(VisionError.emptyFile(path: p).description.contains(p))
    }

    @Test func nonMediaFile() throws {
        let p = tempDir() + "/notes.mp4"
        _ = FileManager.default.createFile(atPath: p, contents: Data(repeating: 0x41, count: 5000))
        do {
            _ = try FrameSource(path: p).decode()
            Issue.record("decoded a text file")
        } catch let e as VisionError {
            guard case .notMedia(let path, _) = e else { Issue.record("wrong error \(e)"); return }
            #expect(path == p)
            #expect(e.description.contains(p))
        }
    }

    @Test(arguments: ["tiny_h264.mp4", "tiny_mpeg4.avi", "tiny_hevc.mov"])
    func truncatedVideo(name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("media/" + name)))
        for fraction in [0.02, 0.5] {
            let p = tempDir() + "/cut_" + name
            _ = FileManager.default.createFile(atPath: p, contents: data.prefix(Int(Double(data.count) * fraction)))
            do {
                let n = try FrameSource(path: p).frameCount()
                Issue.record("\(name) cut to \(fraction) decoded \(n) frames without an error")
            } catch let e as VisionError {
                #expect(e.description.contains(p), "\(e)")
            }
        }
    }

    @Test func truncatedPNGInSequence() throws {
        let dir = tempDir()
        let srcDir = fixture("media/ck/S005/001")
        for f in try FileManager.default.contentsOfDirectory(atPath: srcDir) {
            try FileManager.default.copyItem(atPath: srcDir + "/" + f, toPath: dir + "/" + f)
        }
        let victim = dir + "/S005_001_00000007.png"
        let d = try Data(contentsOf: URL(fileURLWithPath: victim))
        try d.prefix(d.count / 2).write(to: URL(fileURLWithPath: victim))
        do {
            _ = try FrameSource(path: dir).decode()
            Issue.record("decoded a truncated PNG")
        } catch let e as VisionError {
            #expect(e.description.contains(victim), "\(e)")
        }
    }

    @Test func emptyFolder() {
        let d = tempDir()
        #expect(throws: VisionError.emptySequence(path: d)) { try FrameSource(path: d) }
    }
}
