import Foundation
@testable import Vision

/// Fixtures/vision, found from this file's path (tests run from any folder).
let fixtureDir: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Fixtures/vision").path
}()

func fixture(_ rel: String) -> String { (fixtureDir as NSString).appendingPathComponent(rel) }

func jsonObject(_ rel: String) throws -> [String: Any] {
    let d = try Data(contentsOf: URL(fileURLWithPath: fixture(rel)))
    return try JSONSerialization.jsonObject(with: d) as! [String: Any]
}

/// A fresh temporary folder for one test.
func tempDir() -> String {
    let p = NSTemporaryDirectory() + "vision-tests-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}

/// Largest absolute difference and how many pixels differ by more than `tol`.
func compare(_ a: GrayImage, _ b: GrayImage, tol: Int = 0) -> (maxDiff: Int, over: Int) {
    precondition(a.width == b.width && a.height == b.height, "size \(a.width)x\(a.height) vs \(b.width)x\(b.height)")
    var m = 0, over = 0
    for i in 0..<a.pixels.count {
        let d = abs(Int(a.pixels[i]) - Int(b.pixels[i]))
        m = max(m, d)
        if d > tol { over += 1 }
    }
    return (m, over)
}
