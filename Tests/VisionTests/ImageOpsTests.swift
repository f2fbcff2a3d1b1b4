import Foundation
import Testing
@testable import Vision

/// Image operations against OpenCV 4.14 reference outputs (Tools/vision_reference.py ops).
@Suite struct ImageOpsTests {
    static var manifest: [String: Any] { try! jsonObject("ops/manifest.json") }
    static func entries(_ key: String) -> [[String: Any]] { manifest[key] as! [[String: Any]] }
    static func input(_ name: String) throws -> GrayImage { try GrayImage(pgmFile: fixture("ops/\(name).pgm")) }
    static func ref(_ e: [String: Any]) throws -> GrayImage { try GrayImage(pgmFile: fixture("ops/" + (e["file"] as! String))) }

    @Test func resizeWithinOneLevel() throws {
        for e in Self.entries("resize") {
            let img = try Self.input(e["input"] as! String)
            let out = img.resized(width: e["width"] as! Int, height: e["height"] as! Int)
            let (m, over) = compare(out, try Self.ref(e), tol: 1)
            #expect(m <= 1, "\(e["file"]!): max diff \(m), \(over) px over 1")
        }
    }

    @Test func claheWithinOneLevel() throws {
        for e in Self.entries("clahe") {
            let img = try Self.input(e["input"] as! String)
            let t = e["tiles"] as! Int
            let out = CLAHE(clipLimit: e["clipLimit"] as! Double, tilesX: t, tilesY: t).apply(img)
            let (m, over) = compare(out, try Self.ref(e), tol: 1)
            #expect(m <= 1, "\(e["file"]!): max diff \(m), \(over) px over 1")
        }
    }

    @Test func rotationWithinTolerance() throws {
        for e in Self.entries("rotate") {
            let img = try Self.input(e["input"] as! String)
            let out = img.rotated(degrees: e["angle"] as! Double)
            let (m, over) = compare(out, try Self.ref(e), tol: 1)
            #expect(m <= 3, "\(e["file"]!): max diff \(m)")
            #expect(Double(over) <= 0.01 * Double(img.pixels.count), "\(e["file"]!): \(over) px over 1")
        }
    }

    @Test func contrastExact() throws {
        for e in Self.entries("contrast") {
            let img = try Self.input(e["input"] as! String)
            let out = img.linearContrast(alpha: e["alpha"] as! Double)
            #expect(compare(out, try Self.ref(e)).maxDiff == 0)
        }
    }

    @Test func rgbToGrayMatchesOpenCV() throws {
        let rgb = try RGBImage(ppmFile: fixture("ops/astro_rgb64.ppm"))
        let g = try GrayImage(pgmFile: fixture("ops/astro_rgb64_gray.pgm"))
        let (m, over) = compare(rgb.gray(), g)
        #expect(m == 0, "max diff \(m) on \(over) px")
        let rep = RGBImage(replicating: g)
        #expect(rep.pixels[3 * 100] == g.pixels[100] && rep.pixels[3 * 100 + 2] == g.pixels[100])
    }

    @Test func flipTwiceIsIdentity() throws {
        let img = try Self.input("astro")
        let f = img.flippedHorizontally()
        #expect(f[0, 5] == img[img.width - 1, 5])
        #expect(f.flippedHorizontally() == img)
    }

    @Test func floatScaling() {
        let g = GrayImage(width: 3, height: 1, pixels: [0, 255, 51])
        let f = g.floats01()
        #expect(f[0] == 0 && f[1] == 1 && abs(f[2] - 0.2) < 1e-6)
        let s = g.floatsSymmetric()
        #expect(s[0] == -1 && s[1] == 1)
    }
}
