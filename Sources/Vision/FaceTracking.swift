import Dispatch
import Foundation

/// Anything that finds faces in a grey image. The cascade detector is one; a DNN detector can be another.
public protocol FaceDetector: Sendable {
    /// Face boxes in pixel coordinates of `image`, any order.
    func detectFaces(in image: GrayImage) -> [Rect]
}

/// OpenCV's trained frontal-face cascades (Haar or LBP) through `CascadeClassifier`.
public struct CascadeFaceDetector: FaceDetector {
    /// The default cascade, relative to `CascadeClassifier.defaultDirectory` (Debian's opencv-data).
    public static let defaultCascade = "haarcascades/haarcascade_frontalface_default.xml"

    /// scaleFactor 1.1, minNeighbors 5, minSize 30, single-threaded (ClipBuilder runs frames in parallel).
    public static let defaultOptions = DetectionOptions(scaleFactor: 1.1, minNeighbors: 5, minSize: 30, parallel: false)

    public let cascade: CascadeClassifier
    public var options: DetectionOptions
    /// Frames wider than this are shrunk (INTER_AREA) before detection and boxes scaled back; 0 = never.
    public var maxDetectionWidth: Int

    public init(cascade: CascadeClassifier,
                options: DetectionOptions = CascadeFaceDetector.defaultOptions,
                maxDetectionWidth: Int = 0) {
        self.cascade = cascade
        self.options = options
        self.maxDetectionWidth = maxDetectionWidth
    }

    /// Loads `cascadePath` (absolute, or relative to `CascadeClassifier.defaultDirectory`).
    public init(cascadePath: String = CascadeFaceDetector.defaultCascade,
                options: DetectionOptions = CascadeFaceDetector.defaultOptions,
                maxDetectionWidth: Int = 0) throws {
        self.init(cascade: try CascadeClassifier(named: cascadePath), options: options,
                  maxDetectionWidth: maxDetectionWidth)
    }

    public func detectFaces(in image: GrayImage) -> [Rect] {
        guard maxDetectionWidth > 0, image.width > maxDetectionWidth else {
            return cascade.detectMultiScale(image, options: options)
        }
        let s = Double(image.width) / Double(maxDetectionWidth)
        let h = max(1, Int((Double(image.height) / s).rounded()))
        var o = options
        o.minSize = Int((Double(o.minSize) / s).rounded())
        return cascade.detectMultiScale(image.resized(width: maxDetectionWidth, height: h), options: o).map {
            Rect(x: Int((Double($0.x) * s).rounded()), y: Int((Double($0.y) * s).rounded()),
                 width: Int((Double($0.width) * s).rounded()), height: Int((Double($0.height) * s).rounded()))
        }
    }
}

/// Choice of one face box per frame for a whole sequence.
public struct FaceTrack: Sendable, Equatable {
    /// The crop box of every frame (after smoothing and margin, inside the image).
    public var boxes: [Rect]
    /// Whether a face was detected in at least one frame; false means the boxes are centre crops.
    public var faceFound: Bool
    /// Frames in which the chosen face was detected.
    public var framesWithFace: Int
}

/// Per-sequence face selection: detect in every frame, keep the subject's face (the box supported by the most
/// frames, then the largest), fill frames without a detection from the nearest ones, smooth centres with a
/// moving average and use one median size so the crop does not jitter, then add a margin and make it square.
public struct FaceTracker: Sendable {
    /// Extra border on each side, as a fraction of the face box side (0.2 = 20 %).
    public var margin: Double
    /// Moving-average window (frames) over box centres; 1 disables smoothing.
    public var smoothingWindow: Int
    /// When no face is found in any frame: true gives centre crops (reported as `faceFound == false`),
    /// false makes `ClipBuilder` throw `VisionError.noFaceFound`.
    public var centreCropFallback: Bool

    public init(margin: Double = 0, smoothingWindow: Int = 5, centreCropFallback: Bool = true) {
        self.margin = margin
        self.smoothingWindow = smoothingWindow
        self.centreCropFallback = centreCropFallback
    }

    /// Boxes for `frames` given the detections of each frame.
    public func track(detections: [[Rect]], width: Int, height: Int) -> FaceTrack {
        let n = detections.count
        let all = detections.flatMap { $0 }
        guard !all.isEmpty else {
            let side = min(width, height)
            let r = Rect(x: (width - side) / 2, y: (height - side) / 2, width: side, height: side)
            return FaceTrack(boxes: Array(repeating: r, count: n), faceFound: false, framesWithFace: 0)
        }
        // the subject: the box matched (IoU ≥ 0.3) in the most frames, ties to the larger box
        func support(_ b: Rect) -> Int { detections.filter { f in f.contains { $0.iou(b) >= 0.3 } }.count }
        let anchor = all.max { a, b in
            let sa = support(a), sb = support(b)
            return sa != sb ? sa < sb : a.area < b.area
        }!
        var chosen: [Rect?] = detections.map { f in
            let best = f.max { $0.iou(anchor) < $1.iou(anchor) }
            return best.flatMap { $0.iou(anchor) >= 0.3 ? $0 : nil }
        }
        let found = chosen.compactMap { $0 }.count
        // frames without the face take the nearest frame's box
        for i in 0..<n where chosen[i] == nil {
            var d = 1
            while chosen[i] == nil && d < n {
                if i - d >= 0, let b = chosen[i - d] ?? nil { chosen[i] = b; break }
                if i + d < n, let b = chosen[i + d] ?? nil { chosen[i] = b; break }
                d += 1
            }
        }
        let boxes = chosen.map { $0! }
        let sides = boxes.map { Double(max($0.width, $0.height)) }.sorted()
        let side = sides[sides.count / 2] * (1 + 2 * margin)
        let cx = boxes.map { Double($0.x) + Double($0.width) / 2 }
        let cy = boxes.map { Double($0.y) + Double($0.height) / 2 }
        let half = max(smoothingWindow, 1) / 2
        var out: [Rect] = []
        for i in 0..<n {
            let lo = max(0, i - half), hi = min(n - 1, i + half)
            let mx = cx[lo...hi].reduce(0, +) / Double(hi - lo + 1)
            let my = cy[lo...hi].reduce(0, +) / Double(hi - lo + 1)
            let s = max(1, Int(side.rounded()))
            out.append(Rect(x: Int((mx - Double(s) / 2).rounded()), y: Int((my - Double(s) / 2).rounded()),
                            width: s, height: s).clamped(toWidth: width, height: height))
        }
        return FaceTrack(boxes: out, faceFound: true, framesWithFace: found)
    }
}
