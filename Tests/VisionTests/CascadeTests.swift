import Foundation
import Testing
@testable import Vision

/// The cascade detector against cv2.CascadeClassifier.detectMultiScale (Tools/vision_reference.py detect).
@Suite struct CascadeTests {
    static var cases: [[String: Any]] { try! jsonObject("detect/detections.json")["cases"] as! [[String: Any]] }
    static let cascadeDir = "/usr/share/opencv4"

    @Test(arguments: 0..<12)
    func sameFacesAsOpenCV(index: Int) throws {
        let c = Self.cases[index]
        let img = try GrayImage(pgmFile: fixture("detect/" + (c["image"] as! String)))
        let cascade = try CascadeClassifier(path: Self.cascadeDir + "/" + (c["cascade"] as! String))
        let opts = DetectionOptions(scaleFactor: c["scaleFactor"] as! Double, minNeighbors: c["minNeighbors"] as! Int,
                                    minSize: c["minSize"] as! Int)
        let found = cascade.detectMultiScale(img, options: opts)
        // the raw windows (before grouping) are the same number as OpenCV's
        #expect(cascade.detectCandidates(img, options: opts).count == c["raw"] as! Int)
        let expected = (c["boxes"] as! [[Int]]).map { Rect(x: $0[0], y: $0[1], width: $0[2], height: $0[3]) }
        #expect(found.count == expected.count, "\(c["image"]!) \(c["cascade"]!): \(found) vs OpenCV \(expected)")
        for e in expected {
            let best = found.map { $0.iou(e) }.max() ?? 0
            #expect(best >= 0.9, "\(c["cascade"]!): OpenCV box \(e) best IoU \(best) among \(found)")
        }
    }

    @Test func bitExactPyramidResize() throws {
        let astro = try GrayImage(pgmFile: fixture("detect/astro.pgm"))
        let ref = try GrayImage(pgmFile: fixture("detect/astro_exact_385.pgm"))
        let out = astro.resized(width: 385, height: 385, interpolation: .linearExact)
        let (m, over) = compare(out, ref)
        #expect(m == 0, "max diff \(m) on \(over) px")
    }

    @Test func integralImagesMatchOpenCV() throws {
        let g = try GrayImage(pgmFile: fixture("ops/astro_rgb64_gray.pgm"))
        let ii = IntegralImages(g, squared: true, tilted: true)
        func load(_ f: String) throws -> [Int32] {
            let d = try Data(contentsOf: URL(fileURLWithPath: fixture("ops/" + f)))
            return d.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        }
        #expect(ii.sum == (try load("astro_rgb64_integral.i32")))
        #expect(ii.tilted == (try load("astro_rgb64_tilted.i32")))
    }

    @Test func groupingFollowsOpenCV() {
        // three near-identical windows and one isolated one; threshold 1 keeps the cluster only
        let r = [Rect(x: 10, y: 10, width: 20, height: 20), Rect(x: 11, y: 10, width: 20, height: 20),
                 Rect(x: 10, y: 12, width: 21, height: 21), Rect(x: 100, y: 100, width: 20, height: 20)]
        #expect(groupRectangles(r, groupThreshold: 1, eps: 0.2) == [Rect(x: 10, y: 11, width: 20, height: 20)])
        #expect(groupRectangles(r, groupThreshold: 0, eps: 0.2) == r)
    }

    @Test func badCascadeFilesNameThemselves() throws {
        let dir = tempDir()
        let p = dir + "/broken.xml"
        try "<opencv_storage><cascade><stageType>BOOST</stageType>".write(toFile: p, atomically: true, encoding: .utf8)
        #expect(throws: VisionError.self) { try CascadeClassifier(path: p) }
        do { _ = try CascadeClassifier(path: p) } catch { #expect("\(error)".contains(p)) }
        #expect(throws: VisionError.fileNotFound(path: dir + "/none.xml")) { try CascadeClassifier(path: dir + "/none.xml") }
    }
}
