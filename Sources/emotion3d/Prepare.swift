import ArgumentParser
import EmotionRecognition
import Foundation
import Layers
import Training
import Vision

/// Turns a dataset (CK+, Oulu-CASIA, a folder layout, or the built-in synthetic set) into a clip cache (HDF5).
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Preprocess a dataset into a clip cache (HDF5): faces found, tracked, cropped, resized, optional CLAHE.",
        discussion: """
            Datasets: ckplus (cohn-kanade-images/ + Emotion/), oulu (OriginalImg/VL/Strong/P001/Anger/000.jpeg), \
            folder (<subject>/<label>/<sequence>/ with frames or one video), synthetic (rendered procedural faces, \
            CK+ layout; --root keeps the rendered tree there). A cache whose parameters and data match is reused.
            """)

    @OptionGroup var data: DatasetArguments

    @Option(help: "The clip cache to write (HDF5).")
    var output: String

    // preprocessing
    @Option(help: "Frames per clip (the last ones of each sequence).") var frames = 10
    @Option(help: "Side of the face crops, pixels.") var size = 112
    @Flag(help: "Apply CLAHE (clip limit 2, 8×8 tiles) after resizing.") var clahe = false
    @Option(help: "Face cascade: a file under OpenCV's data folder, an absolute path, or 'none' for centre crops.")
    var cascade = CascadeFaceDetector.defaultCascade
    @Option(help: "Detector scale factor.") var scaleFactor = 1.1
    @Option(help: "Detector minimum neighbours.") var minNeighbors = 5
    @Option(help: "Smallest face, pixels.") var minSize = 30
    @Option(help: "Shrink frames wider than this before detection (0 = never).") var maxDetectionWidth = 0
    @Option(help: "Border around the face box on each side, fraction of its side (0: the detector's box, as the paper crops).") var margin = 0.0
    @Flag(help: "Drop sequences where no face is found instead of keeping centre crops.") var noFallback = false
    @Option(help: "Worker threads (sequences in parallel).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Rebuild even when the cache matches.") var force = false
    @Option(help: "Also write a PNG montage of the last frame of a few clips per class.") var preview: String?

    func run() throws {
        var parameters = PreprocessingParameters()
        parameters.frames = frames
        parameters.size = size
        parameters.clahe = clahe
        parameters.cascade = cascade
        parameters.scaleFactor = scaleFactor
        parameters.minNeighbors = minNeighbors
        parameters.minSize = minSize
        parameters.maxDetectionWidth = maxDetectionWidth
        parameters.margin = margin
        parameters.centreCropFallback = !noFallback
        do { try parameters.validate() } catch { throw ValidationError("\(error)") }
        guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1") }

        let source = try data.source()

        if force, FileManager.default.fileExists(atPath: output) {
            try FileManager.default.removeItem(atPath: output)
        }
        let bar = ProgressReporter()
        let (clips, report, reused) = try ClipCache.loadOrPrepare(
            source, parameters: parameters, cachePath: output, threads: threads,
            log: { bar.finishTask(); print($0) }, progress: { done, total in bar.task("preparing", done: done, total: total) })
        bar.finishTask()
        print(report)
        if !reused {
            let clipFrames = Double(report.clips * frames)
            print(String(format: "prepared in %.1f s (%.1f sequences/s, %.0f clip frames/s, %d threads)", report.seconds,
                         Double(report.sequences) / max(report.seconds, 1e-9), clipFrames / max(report.seconds, 1e-9), threads))
        }
        let rows = clips.classNames.indices.map { [clips.classNames[$0], "\(clips.classCounts[$0])"] }
        print(formatTable(header: ["class", "clips"], rows: rows, footer: ["total", "\(clips.count)"]))
        let subjectCount = Set(clips.subjects).count
        print("\(subjectCount) subject\(subjectCount == 1 ? "" : "s"), clip shape \(clips.clipShape.dims) uint8, \(output)")
        if let preview {
            try Self.montage(clips, perClass: 6).writePNG(to: preview)
            print("wrote \(preview)")
        }
    }

    /// The last frame of up to `perClass` clips of each class, one row per class.
    static func montage(_ clips: LabeledClips, perClass: Int) -> Canvas {
        let dims = clips.clipShape.dims, side = dims[2], frames = dims[1]
        let labelWidth = Canvas.textWidth(clips.classNames.max { $0.count < $1.count } ?? "") + 16
        var canvas = Canvas(width: labelWidth + perClass * (side + 4), height: clips.classNames.count * (side + 4) + 4, channels: 1,
                            background: .white)
        for (row, name) in clips.classNames.enumerated() {
            canvas.drawText(name, x: 6, y: row * (side + 4) + side / 2)
            let members = clips.labels.indices.filter { clips.labels[$0] == row }.prefix(perClass)
            for (column, index) in members.enumerated() {
                let start = index * clips.clipShape.count + (frames - 1) * side * side  // channel 0, last frame
                for y in 0..<side {
                    for x in 0..<side {
                        canvas.samples[(row * (side + 4) + 4 + y) * canvas.width + labelWidth + column * (side + 4) + x] =
                            Float(clips.pixels[start + y * side + x]) / 255
                    }
                }
            }
        }
        return canvas
    }
}

