import Foundation
@testable import EmotionRecognition
import Vision

/// A fresh temporary folder for one test.
func temporaryFolder(_ name: String = #function) -> String {
    let clean = name.filter { $0.isLetter || $0.isNumber }
    let path = NSTemporaryDirectory() + "e3d-er-\(clean)-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Small synthetic options that render fast in debug builds.
func smallSynthetic(subjects: Int = 2, perSubject: Int = 7, size: Int = 64, layout: SyntheticLayout = .ckPlus,
                    seed: UInt64 = 3, frames: ClosedRange<Int> = 10...12, unlabeled: Double = 0.1) -> SyntheticOptions {
    var o = SyntheticOptions()
    o.subjects = subjects
    o.sequencesPerSubject = perSubject
    o.width = size
    o.height = size
    o.minFrames = frames.lowerBound
    o.maxFrames = frames.upperBound
    o.layout = layout
    o.seed = seed
    o.unlabeledFraction = unlabeled
    return o
}

/// Relative paths of every file under `root`, sorted.
func filesUnder(_ root: String) -> [String] {
    let e = FileManager.default.enumerator(atPath: root)
    var out = [String]()
    while let p = e?.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + p, isDirectory: &isDir), !isDir.boolValue { out.append(p) }
    }
    return out.sorted()
}

func writeText(_ text: String, _ path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// A small grey test image with structure (a gradient, a disc, stripes).
func testImage(width: Int, height: Int, seed: Int = 0) -> GrayImage {
    var img = GrayImage(width: width, height: height)
    for y in 0..<height {
        for x in 0..<width {
            let dx = Double(x - width / 2), dy = Double(y - height / 2)
            var v = Double(x * 255 / max(1, width - 1)) * 0.6 + 40
            if dx * dx + dy * dy < Double(min(width, height) * min(width, height)) / 9 { v = 220 - Double(y + seed) }
            if (x / 3 + seed) % 7 == 0 { v *= 0.5 }
            img[x, y] = UInt8(max(0, min(255, v)))
        }
    }
    return img
}
