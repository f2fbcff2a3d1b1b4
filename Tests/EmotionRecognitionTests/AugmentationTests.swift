import Foundation
import GraphCore
import Testing
@testable import EmotionRecognition
import Training
import Vision

@Suite struct AugmentationTests {
    /// Three clips [3, 2, 12, 12] with distinct asymmetric content.
    static func clips() throws -> LabeledClips {
        var pixels = [UInt8]()
        for clip in 0..<3 {
            var frames = [UInt8]()
            for t in 0..<2 { frames += testImage(width: 12, height: 12, seed: clip * 5 + t).pixels }
            for _ in 0..<3 { pixels += frames }
        }
        return try LabeledClips(clipShape: Shape([3, 2, 12, 12]), pixels: pixels, labels: [1, 6, 4],
                                classNames: SyntheticExpressionSet.ckPlusClasses, subjects: ["S1", "S2", "S2"],
                                sequenceIDs: ["S1/001", "S2/001", "S2/002"])
    }

    @Test func followsThePaperTable() throws {
        let set = try Self.clips()
        let out = augmented(set, policy: .ckPlus, seed: 7)
        // contempt 1+7+4, surprise 1+1+0, happy 1+1+1
        #expect(out.count == 3 + 12 + 2 + 3)
        #expect(Array(out.pixels.prefix(set.pixels.count)) == set.pixels)
        #expect(Array(out.sequenceIDs.prefix(3)) == set.sequenceIDs)
        let contempt = out.sequenceIDs.filter { $0.hasPrefix("S1/001#") }
        #expect(contempt.count == 12 && contempt.contains("S1/001#rotate7") && contempt.contains("S1/001#contrast4"))
        #expect(out.classCounts == [0, 13, 0, 0, 4, 0, 3])
        #expect(zip(out.sequenceIDs, out.subjects).allSatisfy { id, subject in id.hasPrefix(subject + "/") })
        #expect(augmented(set, policy: .ouluCASIA, seed: 7).count == 3 * 9)
        #expect(augmented(set, policy: .none, seed: 7).pixels == set.pixels)
    }

    @Test func flipsEveryPlaneAndKeepsDeterminism() throws {
        var set = try Self.clips()
        let size = set.clipShape.count, plane = 144
        // clip 2's last channel differs from the others (a colour source): augmented on its own
        for i in 0..<(2 * plane) { set.pixels[2 * size + 4 * plane + i] = UInt8(truncatingIfNeeded: i * 7) }
        let out = augmented(set, policy: .ckPlus, seed: 7)
        let flipIndex = try #require(out.sequenceIDs.firstIndex(of: "S2/002#flip"))
        for p in 0..<6 {
            let source = GrayImage(width: 12, height: 12, pixels: Array(set.pixels[(2 * size + p * plane)..<(2 * size + (p + 1) * plane)]))
            let flipped = Array(out.pixels[(flipIndex * size + p * plane)..<(flipIndex * size + (p + 1) * plane)])
            #expect(flipped == source.flippedHorizontally().pixels)
        }
        // same seed, same result; another order of the clips gives each clip the same augmentations
        #expect(augmented(set, policy: .ckPlus, seed: 7).pixels == out.pixels)
        let reordered = augmented(set.subset([2, 0, 1]), policy: .ckPlus, seed: 7, threads: 1)
        for id in ["S1/001#rotate3", "S2/001#rotate1", "S2/002#contrast1"] {
            let a = out.sequenceIDs.firstIndex(of: id)!, b = reordered.sequenceIDs.firstIndex(of: id)!
            #expect(out.pixels[(a * size)..<((a + 1) * size)] == reordered.pixels[(b * size)..<((b + 1) * size)], "\(id)")
        }
        let other = augmented(set, policy: .ckPlus, seed: 8)
        let r = out.sequenceIDs.firstIndex(of: "S1/001#rotate1")!
        #expect(other.pixels[(r * size)..<((r + 1) * size)] != out.pixels[(r * size)..<((r + 1) * size)])
    }
}
