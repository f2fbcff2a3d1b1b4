import Dispatch
import Foundation

/// Pixel scaling of clip tensors.
public enum PixelScaling: String, Sendable, Codable {
    /// `v / 255` ∈ [0, 1] (the paper's default).
    case unit
    /// `v / 127.5 − 1` ∈ [−1, 1] (the paper's "normalisation" option).
    case symmetric
}

/// The face frames of one clip: `frames.count` grey `size`×`size` images (after crop, resize and CLAHE).
public struct FaceClip: Sendable, Equatable {
    public var frames: [GrayImage]
    /// Whether a face was detected (false: centre crops).
    public var faceFound: Bool
    /// The crop box in each source frame.
    public var boxes: [Rect]
    /// Frames the source held (decoded); fewer than the clip length means the last one was repeated.
    public var sourceFrameCount: Int

    /// The clip with `augmentation` applied to every frame with the same parameters.
    public func applying(_ augmentation: Augmentation) -> FaceClip {
        var c = self
        c.frames = frames.map { augmentation.apply($0) }
        return c
    }

    /// Tensor `[3, T, H, W]` (channels, frames, rows, columns), row-major Float, grey replicated on the three
    /// channels ("grayscale RGB").
    public func tensor(scaling: PixelScaling = .unit) -> [Float] {
        guard let f0 = frames.first else { return [] }
        let plane = f0.width * f0.height, t = frames.count
        var out = [Float](repeating: 0, count: 3 * t * plane)
        let (a, b): (Float, Float) = scaling == .unit ? (1 / 255, 0) : (1 / 127.5, -1)
        out.withUnsafeMutableBufferPointer { d in
            for (k, f) in frames.enumerated() {
                f.pixels.withUnsafeBufferPointer { s in
                    let dst = d.baseAddress! + k * plane
                    for i in 0..<plane { dst[i] = Float(s[i]) * a + b }
                }
            }
            for c in 1..<3 { (d.baseAddress! + c * t * plane).update(from: d.baseAddress!, count: t * plane) }
        }
        return out
    }

    /// `[3, T, H, W]`.
    public var tensorShape: [Int] { [3, frames.count, frames.first?.height ?? 0, frames.first?.width ?? 0] }
}

/// Options of the paper's preprocessing (§4.1–4.2).
public struct ClipOptions: Sendable {
    /// Frames per clip, taken from the end of the sequence (paper: 10).
    public var frameCount: Int
    /// Side of the square face crops (paper: 112).
    public var size: Int
    /// CLAHE after resizing (paper option: clipLimit 2, 8×8 tiles); nil = off.
    public var clahe: CLAHE?
    public var tracker: FaceTracker
    /// Detect faces in the clip's frames on several threads (one detection per thread).
    public var parallelFrames: Bool

    public init(frameCount: Int = 10, size: Int = 112, clahe: CLAHE? = nil, tracker: FaceTracker = FaceTracker(),
                parallelFrames: Bool = true) {
        self.frameCount = frameCount
        self.size = size
        self.clahe = clahe
        self.tracker = tracker
        self.parallelFrames = parallelFrames
    }
}

/// Sequence → clip: the last `frameCount` frames (shorter sequences repeat their last frame), the face found per
/// frame and tracked over the clip, cropped, resized to `size`² (area when shrinking, bilinear when enlarging),
/// optional CLAHE.
public struct ClipBuilder: Sendable {
    public var detector: (any FaceDetector)?
    public var options: ClipOptions

    /// `detector` nil: always centre crops.
    public init(detector: (any FaceDetector)?, options: ClipOptions = ClipOptions()) {
        self.detector = detector
        self.options = options
    }

    /// Decodes `path` (video or image folder) and builds its clip.
    public func build(path: String) throws -> FaceClip {
        let src = try FrameSource(path: path)
        let d = try src.decode(keepLast: options.frameCount, color: false)
        return try build(frames: d.gray, sourceFrameCount: d.totalFrames, name: path)
    }

    /// Builds a clip from decoded grey frames (oldest first). Throws when no face is found and the fallback is off.
    public func build(frames: [GrayImage], sourceFrameCount: Int? = nil, name: String = "<frames>") throws -> FaceClip {
        guard let last = frames.last else { throw VisionError.invalidArgument("\(name): no frames") }
        var clipFrames = Array(frames.suffix(options.frameCount))
        while clipFrames.count < options.frameCount { clipFrames.append(last) }
        let w = last.width, h = last.height
        guard clipFrames.allSatisfy({ $0.width == w && $0.height == h }) else {
            throw VisionError.inconsistentFrameSize(path: name, expected: "\(w)x\(h)", found: "mixed")
        }
        // detect once per distinct frame (repeated last frames share the result)
        let distinct = min(frames.count, options.frameCount)
        var dets = [[Rect]](repeating: [], count: distinct)
        if let det = detector {
            if options.parallelFrames && distinct > 1 {
                let box = DetectionBox(dets)
                let lock = NSLock()
                let fr = clipFrames
                DispatchQueue.concurrentPerform(iterations: distinct) { i in
                    let r = det.detectFaces(in: fr[i])
                    lock.lock(); box.value[i] = r; lock.unlock()
                }
                dets = box.value
            } else {
                for i in 0..<distinct { dets[i] = det.detectFaces(in: clipFrames[i]) }
            }
        }
        // repeated frames take the last real frame's box, so padding repeats the very same face image
        var track = options.tracker.track(detections: dets, width: w, height: h)
        while track.boxes.count < clipFrames.count { track.boxes.append(track.boxes.last!) }
        if !track.faceFound && detector != nil && !options.tracker.centreCropFallback {
            throw VisionError.noFaceFound(path: name)
        }
        let s = options.size
        let out = zip(clipFrames, track.boxes).map { f, b -> GrayImage in
            let r = f.cropped(to: b).resized(width: s, height: s)
            return options.clahe.map { $0.apply(r) } ?? r
        }
        return FaceClip(frames: out, faceFound: track.faceFound, boxes: track.boxes,
                        sourceFrameCount: sourceFrameCount ?? frames.count)
    }

    final class DetectionBox: @unchecked Sendable {
        var value: [[Rect]]
        init(_ v: [[Rect]]) { value = v }
    }
}

/// Counts over a preprocessing run, for the report.
public struct PreprocessingReport: Sendable, Equatable, CustomStringConvertible {
    public var sequences = 0
    public var facesFound = 0
    /// Sequences without any detected face that were kept as centre crops.
    public var centreCropFallbacks = 0
    /// Sequences shorter than the clip length (last frame repeated).
    public var padded = 0
    /// Sequences that failed, with their error.
    public var failures: [String] = []

    public init() {}

    public mutating func record(_ clip: FaceClip, frameCount: Int = 10) {
        sequences += 1
        if clip.faceFound { facesFound += 1 } else { centreCropFallbacks += 1 }
        if clip.sourceFrameCount < frameCount { padded += 1 }
    }

    public mutating func recordFailure(_ path: String, _ error: Error) {
        sequences += 1
        failures.append("\(error)")
    }

    public var description: String {
        "\(sequences) sequences: \(facesFound) with a face, \(centreCropFallbacks) centre-cropped (no face found), "
            + "\(padded) padded to the clip length, \(failures.count) failed"
    }
}
