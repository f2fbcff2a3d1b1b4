import Foundation
import Testing
@testable import Vision

@Suite struct ClipTests {
    static func detector() throws -> CascadeFaceDetector { try CascadeFaceDetector() }

    @Test func faceVideoGivesTrackedClip() throws {
        // a 20 % border, so the smoothed crop contains the last frame's own detection
        let b = ClipBuilder(detector: try Self.detector(), options: ClipOptions(clahe: CLAHE(), tracker: FaceTracker(margin: 0.2)))
        let clip = try b.build(path: fixture("media/face_h264.mp4"))
        #expect(clip.faceFound && clip.frames.count == 10 && clip.sourceFrameCount == 30)
        #expect(clip.frames.allSatisfy { $0.width == 112 && $0.height == 112 })
        #expect(clip.tensorShape == [3, 10, 112, 112])
        let t = clip.tensor()
        #expect(t.count == 3 * 10 * 112 * 112 && t.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(t[5] == t[10 * 112 * 112 + 5] && t[5] == t[2 * 10 * 112 * 112 + 5])
        let sym = clip.tensor(scaling: .symmetric)
        #expect(sym.allSatisfy { $0 >= -1 && $0 <= 1 })
        // smoothing: consecutive crop boxes move by a few pixels only
        for (a, c) in zip(clip.boxes, clip.boxes.dropFirst()) {
            #expect(abs(a.x - c.x) <= 4 && abs(a.y - c.y) <= 4 && a.width == c.width)
        }
        // the crop holds the face OpenCV finds in the last frame
        let last = try FrameSource(path: fixture("media/face_h264.mp4")).decode(keepLast: 1).gray[0]
        let face = try Self.detector().detectFaces(in: last)
        #expect(face.count == 1)
        #expect(clip.boxes[9].intersection(face[0]).area == face[0].area)
    }

    @Test func shortSequenceRepeatsLastFrame() throws {
        let b = ClipBuilder(detector: try Self.detector())
        let clip = try b.build(path: fixture("media/ck/S005/001"))
        #expect(clip.sourceFrameCount == 7 && clip.frames.count == 10)
        #expect(clip.frames[6] == clip.frames[9] && clip.frames[7] == clip.frames[8])
        #expect(clip.faceFound)
    }

    @Test func noFaceFallsBackToCentreCropOrThrows() throws {
        let blank = GrayImage(width: 160, height: 120, value: 90)
        let b = ClipBuilder(detector: try Self.detector())
        let clip = try b.build(frames: [blank, blank])
        #expect(!clip.faceFound)
        #expect(clip.boxes[0] == Rect(x: 20, y: 0, width: 120, height: 120))
        var report = PreprocessingReport()
        report.record(clip)
        #expect(report.centreCropFallbacks == 1 && report.padded == 1)
        let strict = ClipBuilder(detector: try Self.detector(),
                                 options: ClipOptions(tracker: FaceTracker(centreCropFallback: false)))
        #expect(throws: VisionError.noFaceFound(path: "blank")) { try strict.build(frames: [blank], name: "blank") }
    }

    @Test func trackerPicksTheConsistentFaceAndFillsGaps() {
        let face = Rect(x: 50, y: 40, width: 60, height: 60)
        let big = Rect(x: 0, y: 0, width: 100, height: 100)  // a larger false positive in one frame only
        var dets: [[Rect]] = Array(repeating: [face], count: 10)
        dets[3] = [face, big]
        dets[5] = []
        let t = FaceTracker(margin: 0, smoothingWindow: 5).track(detections: dets, width: 200, height: 200)
        #expect(t.faceFound && t.framesWithFace == 9)
        #expect(t.boxes.allSatisfy { $0 == face })
    }

    @Test func augmentationIsSeededAndSharedAcrossFrames() throws {
        let p = AugmentationPolicy.ckPlus
        let a1 = p.augmentations(forClass: "Contempt", seed: 42, sampleIndex: 3)
        let a2 = p.augmentations(forClass: "contempt", seed: 42, sampleIndex: 3)
        let a3 = p.augmentations(forClass: "contempt", seed: 43, sampleIndex: 3)
        #expect(a1 == a2 && a1 != a3)
        #expect(a1.count == 12 && a1.first == .flip)
        for a in a1 {
            switch a {
            case .rotation(let d): #expect(d >= -30 && d <= 30)
            case .contrast(let c): #expect(c >= 0.22 && c <= 2.2)
            case .flip: break
            }
        }
        #expect(p.counts(forClass: "surprise") == AugmentationCounts(flips: 1, rotations: 1, contrasts: 0))
        #expect(AugmentationPolicy.ouluCASIA.counts(forClass: "happiness").total == 8)
        let img = try GrayImage(pgmFile: fixture("ops/astro112.pgm"))
        let clip = FaceClip(frames: [img, img.flippedHorizontally()], faceFound: true, boxes: [], sourceFrameCount: 2)
        let rot = clip.applying(.rotation(degrees: 12))
        #expect(rot.frames[0] == img.rotated(degrees: 12))
        #expect(rot.frames[1] == img.flippedHorizontally().rotated(degrees: 12))
    }
}
