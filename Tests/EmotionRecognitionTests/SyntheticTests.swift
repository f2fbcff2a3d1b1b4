import Foundation
import Testing
@testable import EmotionRecognition
import Vision

@Suite struct SyntheticTests {
    @Test func sameSeedSamePixelsOtherSeedOtherPixels() throws {
        let a = try SyntheticExpressionSet(options: smallSynthetic(subjects: 2, perSubject: 2, size: 48))
        let b = try SyntheticExpressionSet(options: smallSynthetic(subjects: 2, perSubject: 2, size: 48))
        let c = try SyntheticExpressionSet(options: smallSynthetic(subjects: 2, perSubject: 2, size: 48, seed: 4))
        #expect(a.sequences == b.sequences)
        #expect(a.frames(of: a.sequences[1]) == b.frames(of: b.sequences[1]))
        #expect(a.frames(of: a.sequences[1]) != c.frames(of: c.sequences[1]))
    }

    @Test func sequencesFollowTheOptions() throws {
        var o = smallSynthetic(subjects: 5, perSubject: 14, frames: 10...30, unlabeled: 0.3)
        o.seed = 11
        let set = try SyntheticExpressionSet(options: o)
        #expect(set.sequences.count == 70)
        #expect(set.sequences.allSatisfy { (10...30).contains($0.frameCount) })
        #expect(Set(set.sequences.map(\.frameCount)).count > 5)
        // 14 per subject = every class twice per subject
        for s in 0..<5 {
            let names = set.sequences.filter { $0.subjectIndex == s }.map(\.className)
            #expect(SyntheticExpressionSet.ckPlusClasses.allSatisfy { c in names.filter { $0 == c }.count == 2 })
        }
        let unlabeled = set.sequences.filter { !$0.labeled }.count
        #expect(unlabeled > 5 && unlabeled < 40)
        let subjects = Array(Set(set.sequences.map(\.subject))).sorted()
        #expect(subjects.count == 5 && subjects.allSatisfy { $0.count == 4 && $0.hasPrefix("S") })
        let frames = set.frames(of: set.sequences[0])
        #expect(frames.count == set.sequences[0].frameCount)
        #expect(frames.allSatisfy { $0.width == 64 && $0.height == 64 })
    }

    @Test func invalidOptionsAreRejected() {
        var o = SyntheticOptions()
        o.minFrames = 9
        #expect(throws: DatasetError.self) { try SyntheticExpressionSet(options: o) }
        o = SyntheticOptions(); o.maxFrames = 31
        #expect(throws: DatasetError.self) { try SyntheticExpressionSet(options: o) }
        o = SyntheticOptions(); o.width = 16
        #expect(throws: DatasetError.self) { try SyntheticExpressionSet(options: o) }
        o = SyntheticOptions(); o.subjects = 0
        #expect(throws: DatasetError.self) { try SyntheticExpressionSet(options: o) }
    }

    @Test func writesTheCKPlusLayout() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let set = try SyntheticExpressionSet(options: smallSynthetic(subjects: 2, perSubject: 4, size: 40, unlabeled: 0.3))
        #expect(try set.write(to: root) == 8)
        let files = filesUnder(root)
        let first = set.sequences[0]
        let number = String(format: "%03d", first.index + 1)
        for f in 1...first.frameCount {
            #expect(files.contains(String(format: "cohn-kanade-images/%@/%@/%@_%@_%08d.png", first.subject, number, first.subject, number, f)))
        }
        let labels = files.filter { $0.hasPrefix("Emotion/") }
        #expect(labels.count == set.sequences.filter(\.labeled).count)
        for s in set.sequences where s.labeled {
            let n = String(format: "%03d", s.index + 1)
            let path = String(format: "%@/Emotion/%@/%@/%@_%@_%08d_emotion.txt", root, s.subject, n, s.subject, n, s.frameCount)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let code = SyntheticExpressionSet.ckPlusClasses.firstIndex(of: s.className)! + 1
            #expect(text == String(format: "   %d.0000000e+00\n", code))
        }
        // the same set again is recognised by its marker; another set or a foreign folder is refused
        #expect(try set.write(to: root) == 0)
        let other = try SyntheticExpressionSet(options: smallSynthetic(subjects: 3, perSubject: 4, size: 40))
        #expect { try other.write(to: root) } throws: { "\($0)".contains("other options") && "\($0)".contains(root) }
        let foreign = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: foreign) }
        try writeText("x", "\(foreign)/notes.txt")
        #expect { try other.write(to: foreign) } throws: { "\($0)".contains("not empty") }
    }

    /// Fear/surprise and anger/disgust share their apex and differ in time: checked on the action intensities
    /// over many draws. At the last frame a pair is indistinguishable by its mean intensities; over the clip's
    /// frames a temporal statistic (frame-to-frame alternation; which actions lead) separates it.
    @Test func pairedClassesDifferOnlyInTime() {
        func draws(_ name: String, _ n: Int) -> [[FaceControls]] {
            var rng = SplitMix64(seed: 77)
            return (0..<n).map { _ in ExpressionDynamics.ckPlus[name]!.timeline(frameCount: 10 + Int(rng.next() % 21), using: &rng).controls }
        }
        func meanApex(_ clips: [[FaceControls]], _ a: FaceAction) -> Float {
            clips.map { $0.last![a] }.reduce(0, +) / Float(clips.count)
        }
        let fear = draws("fear", 300), surprise = draws("surprise", 300)
        let anger = draws("anger", 300), disgust = draws("disgust", 300)
        for a in FaceAction.allCases where a != .blink {
            #expect(abs(meanApex(fear, a) - meanApex(surprise, a)) < 0.05, "\(a) at the apex: fear vs surprise")
            #expect(abs(meanApex(anger, a) - meanApex(disgust, a)) < 0.05, "\(a) at the apex: anger vs disgust")
        }
        // tempo: the lids' frame-to-frame change flips sign at almost every frame in fear, rarely in surprise
        func signChanges(_ c: [FaceControls]) -> Int {
            let v: [Float] = c.suffix(10).map { $0[.upperLidRaise] }
            let steps = (1..<v.count).map { v[$0] - v[$0 - 1] }.filter { abs($0) > 0.01 }
            return (1..<max(1, steps.count)).filter { steps[$0] * steps[$0 - 1] < 0 }.count
        }
        let fearHigh = fear.filter { signChanges($0) >= 4 }.count, surpriseHigh = surprise.filter { signChanges($0) >= 4 }.count
        #expect(fearHigh > 265 && surpriseHigh < 15, "4+ sign changes: fear \(fearHigh)/300, surprise \(surpriseHigh)/300")
        // …while the multiset of values over a clip is alike: compare the mean spread of the lids over the clip
        func spread(_ clips: [[FaceControls]]) -> Float {
            clips.map { c in
                let v = c.suffix(10).map { $0[.upperLidRaise] }
                return v.max()! - v.min()!
            }.reduce(0, +) / Float(clips.count)
        }
        #expect(abs(spread(fear) - spread(surprise)) < 0.05, "lid range over the clip: fear \(spread(fear)), surprise \(spread(surprise))")
        // order: in anger the brows reach half their apex before the nose wrinkle does; in disgust after
        func browsLead(_ c: [FaceControls]) -> Bool {
            func half(_ a: FaceAction) -> Int { c.firstIndex { $0[a] >= 0.5 * c.last![a] } ?? c.count }
            return half(.browLower) < half(.noseWrinkle)
        }
        #expect(anger.filter(browsLead).count > 290 && disgust.filter(browsLead).count < 10)
    }

    /// OpenCV's default frontal cascade finds the synthetic faces (Vision's detector reproduces OpenCV's).
    @Test func cascadeFindsTheFaces() throws {
        let set = try SyntheticExpressionSet(options: smallSynthetic(subjects: 4, perSubject: 7, size: 64, seed: 21))
        let detector = try CascadeFaceDetector()
        var frames = 0, found = 0, sequencesWithFace = 0
        for s in set.sequences {
            // every other frame of the clip keeps the test fast; `prepare` detects on all of them
            let images = set.frames(of: s, indices: Array(stride(from: s.frameCount - 1, to: s.frameCount - 10, by: -2)))
            let hits = images.map { !detector.detectFaces(in: $0).isEmpty }
            frames += hits.count
            found += hits.filter { $0 }.count
            if hits.contains(true) { sequencesWithFace += 1 }
        }
        #expect(Double(sequencesWithFace) >= 0.9 * Double(set.sequences.count), "sequences with a face: \(sequencesWithFace)/\(set.sequences.count)")
        #expect(Double(found) >= 0.9 * Double(frames), "frames with a face: \(found)/\(frames)")
    }
}
