import ArgumentParser
import EmotionRecognition
import Foundation
import Layers
import Training
import Vision

/// Classifies the facial expression in a video or a folder of frames with a trained checkpoint.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify the expression in a video or frame folder: per-window class probabilities and the overall label.",
        discussion: """
            The video is decoded, the face is detected and cropped as in training (the checkpoint's
            architecture gives the clip size and frame count; its hyper-parameters say whether CLAHE
            and [−1, 1] normalisation were used), and a window of that many frames slides over the
            sequence. The overall label averages the probabilities of the windows where a face was found.
            """)

    @Argument(help: "A video file (mp4, avi, mov, …) or a folder of PNG/JPEG frames.")
    var path: String

    @Option(help: "The trained checkpoint (.h5).")
    var checkpoint: String

    @Option(help: "Frames between the starts of two windows.")
    var stride = 5

    @Option(help: "OpenCV face cascade (XML); a bare name is looked up in /usr/share/opencv4.")
    var cascade = CascadeFaceDetector.defaultCascade

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Also write a PNG strip: each window's last frame with the face box and the predicted label.")
    var strip: String?

    func run() throws {
        guard stride >= 1 else { throw CommandError("--stride must be ≥ 1, got \(stride)") }
        let checkpoint = try Checkpoint.load(from: self.checkpoint)
        let architecture = checkpoint.architecture
        let (frames, height, width) = (architecture.inputShape[1], architecture.inputShape[2], architecture.inputShape[3])
        guard height == width, architecture.inputShape[0] == 3 else {
            throw CommandError("\(self.checkpoint): predict needs square 3-channel clips, the architecture takes \(architecture.inputShape)")
        }
        let clahe = architecture.hyperparameters["clahe"] == .flag(true)
        let scaling: PixelScaling = architecture.hyperparameters["normalization"] == .flag(true) ? .symmetric : .unit
        let classNames = checkpoint.classNames.count == architecture.classes
            ? checkpoint.classNames : (0..<architecture.classes).map { "class \($0)" }

        let decoded = try FrameSource(path: path).decode()
        var tracker = FaceTracker()
        tracker.centreCropFallback = false
        let builder = ClipBuilder(
            detector: try CascadeFaceDetector(cascadePath: cascade),
            options: ClipOptions(frameCount: frames, size: height, clahe: clahe ? CLAHE() : nil, tracker: tracker))
        let starts = decoded.gray.count <= frames
            ? [0] : Array(Swift.stride(from: 0, through: decoded.gray.count - frames, by: stride))
                + ((decoded.gray.count - frames) % stride == 0 ? [] : [decoded.gray.count - frames])

        var windows: [(start: Int, clip: FaceClip?)] = []
        for start in starts {
            let window = Array(decoded.gray[start..<min(start + frames, decoded.gray.count)])
            do {
                windows.append((start, try builder.build(frames: window, name: path)))
            } catch VisionError.noFaceFound {
                windows.append((start, nil))
            }
        }
        let withFace = windows.compactMap { $0.clip }
        guard !withFace.isEmpty else { throw CommandError("\(path): no face found in any of its \(decoded.gray.count) frames") }
        let input = Tensor(shape: Shape([withFace.count] + architecture.inputShape.dims), scalars: withFace.flatMap { $0.tensor(scaling: scaling) })
        let logits = try NetworkRun.evaluate(architecture: architecture, weights: checkpoint.stateDict, input: input).output
        let probabilities = (0..<withFace.count).map { row -> [Double] in
            let slice = logits.scalars[(row * architecture.classes)..<((row + 1) * architecture.classes)].map(Double.init)
            let top = slice.max()!
            let exps = slice.map { Foundation.exp($0 - top) }
            let sum = exps.reduce(0, +)
            return exps.map { $0 / sum }
        }
        let mean = (0..<architecture.classes).map { k in probabilities.map { $0[k] }.reduce(0, +) / Double(probabilities.count) }
        let overall = mean.indices.max { mean[$0] < mean[$1] }!

        var row = 0
        let report = windows.map { window -> [String: Any] in
            var entry: [String: Any] = ["start": window.start, "end": window.start + frames - 1, "face": window.clip != nil]
            if window.clip != nil {
                let p = probabilities[row]
                row += 1
                entry["probabilities"] = Dictionary(uniqueKeysWithValues: zip(classNames, p))
                entry["label"] = classNames[p.indices.max { p[$0] < p[$1] }!]
            }
            return entry
        }
        if let strip {
            var windowIndex = 0
            let thumbnails = windows.map { window -> PredictionStrip.Window in
                let last = min(window.start + frames, decoded.gray.count) - 1
                var caption = "\(window.start)-\(last): no face"
                if window.clip != nil {
                    let p = probabilities[windowIndex]
                    windowIndex += 1
                    let top = p.indices.max { p[$0] < p[$1] }!
                    caption = String(format: "%d-%d: %@ %.0f%%", window.start, last, classNames[top], p[top] * 100)
                }
                return PredictionStrip.Window(frame: decoded.gray[last], box: window.clip?.boxes.last, caption: caption)
            }
            let title = String(format: "%@: %@ (%.0f %%)", (path as NSString).lastPathComponent, classNames[overall], mean[overall] * 100)
            try PredictionStrip.render(thumbnails, title: title).writePNG(to: strip)
            if !json { print("wrote \(strip)") }
        }
        if json {
            let object: [String: Any] = [
                "path": path, "frames": decoded.gray.count, "windows": report, "label": classNames[overall],
                "probabilities": Dictionary(uniqueKeysWithValues: zip(classNames, mean)),
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            return
        }
        let header = ["frames"] + classNames + ["label"]
        let rows = report.map { entry -> [String] in
            let range = "\(entry["start"]!)–\(entry["end"]!)"
            guard let p = entry["probabilities"] as? [String: Double] else { return [range] + classNames.map { _ in "" } + ["no face"] }
            return [range] + classNames.map { String(format: "%.3f", p[$0]!) } + [entry["label"] as! String]
        }
        print(formatTable(header: header, rows: rows, footer: ["all"] + mean.map { String(format: "%.3f", $0) } + [classNames[overall]]))
        print("\(path): \(classNames[overall]) (\(String(format: "%.1f", mean[overall] * 100)) %, \(withFace.count) of \(windows.count) windows with a face)")
    }
}
