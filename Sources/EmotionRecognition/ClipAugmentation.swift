import Dispatch
import Foundation
import GraphCore
import Training
import Vision

/// The training set enlarged by Vision's per-class augmentations (paper §3.2, §4.1–4.2): the original clips
/// first, in their order, then for each clip its augmented copies (flips, rotations, contrast changes, the same
/// parameters on every frame and channel). Apply it to a training fold only, never to test clips.
///
/// The parameters of a clip's augmentations depend on `seed` and its sequence id only, so a clip is augmented
/// identically in every fold and trial, whatever the order or the threads. Augmented copies keep the subject and
/// label; their sequence id gets a suffix (`S005/001#flip`, `#rotate1`, `#contrast2`).
public func augmented(_ clips: LabeledClips, policy: AugmentationPolicy, seed: UInt64,
                      threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> LabeledClips {
    let size = clips.clipShape.count
    let dims = clips.clipShape.dims  // [C, D, H, W]
    let channels = dims[0], depth = dims[1], height = dims[2], width = dims[3], plane = height * width
    // the plan: (source clip, augmentation, id suffix)
    var plan: [(Int, Augmentation, String)] = []
    for index in 0..<clips.count {
        let list = policy.augmentations(forClass: clips.classNames[clips.labels[index]], seed: seed,
                                        sampleIndex: Int(truncatingIfNeeded: fnv1a64(Array(clips.sequenceIDs[index].utf8))))
        var rotations = 0, contrasts = 0
        for augmentation in list {
            let suffix: String
            switch augmentation {
            case .flip: suffix = "flip"
            case .rotation: rotations += 1; suffix = "rotate\(rotations)"
            case .contrast: contrasts += 1; suffix = "contrast\(contrasts)"
            }
            plan.append((index, augmentation, suffix))
        }
    }
    var pixels = clips.pixels
    pixels.append(contentsOf: repeatElement(0, count: plan.count * size))
    let workers = max(1, min(threads, plan.count))
    if !plan.isEmpty {
        let base = clips.count * size
        pixels.withUnsafeMutableBufferPointer { buffer in
            let out = UnsafeSendablePointer(buffer.baseAddress!)
            let jobs = plan
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var k = worker
                while k < jobs.count {
                    let (source, augmentation, _) = jobs[k]
                    for t in 0..<depth {
                        var first: [UInt8] = []
                        for c in 0..<channels {
                            let p = c * depth + t
                            let from = out.pointer + source * size + p * plane
                            let to = out.pointer + base + k * size + p * plane
                            // grey replicated on the channels: augment the first plane once and copy it
                            if c > 0, memcmp(from, out.pointer + source * size + t * plane, plane) == 0 {
                                to.update(from: first, count: plane)
                                continue
                            }
                            let image = GrayImage(width: width, height: height, pixels: Array(UnsafeBufferPointer(start: from, count: plane)))
                            let result = augmentation.apply(image).pixels
                            to.update(from: result, count: plane)
                            if c == 0 { first = result }
                        }
                    }
                    k += workers
                }
            }
        }
    }
    return try! LabeledClips(
        clipShape: clips.clipShape, pixels: pixels,
        labels: clips.labels + plan.map { clips.labels[$0.0] }, classNames: clips.classNames,
        subjects: clips.subjects + plan.map { clips.subjects[$0.0] },
        sequenceIDs: clips.sequenceIDs + plan.map { "\(clips.sequenceIDs[$0.0])#\($0.2)" })
}

/// A raw pointer handed to concurrent workers that write disjoint ranges.
struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt8>
    init(_ pointer: UnsafeMutablePointer<UInt8>) { self.pointer = pointer }
}
