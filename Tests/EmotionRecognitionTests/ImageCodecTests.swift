import Foundation
import Testing
@testable import EmotionRecognition
import Vision

@Suite struct ImageCodecTests {
    @Test func pngRoundTripsThroughFFmpeg() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (w, h) in [(1, 1), (13, 7), (64, 48)] {
            let gray = testImage(width: w, height: h, seed: w)
            try PNGEncoder.write(gray, to: "\(dir)/g\(w).png")
            let decoded = try FrameSource(path: "\(dir)/g\(w).png").decode()
            #expect(decoded.gray == [gray])
            #expect(!decoded.sourceIsColor)

            var rgb = [UInt8]()
            for (i, v) in gray.pixels.enumerated() { rgb += [v, UInt8((Int(v) + i) % 256), 255 - v] }
            let color = RGBImage(width: w, height: h, pixels: rgb)
            try PNGEncoder.write(color, to: "\(dir)/c\(w).png")
            let back = try FrameSource(path: "\(dir)/c\(w).png").decode(color: true)
            #expect(back.rgb == [color])
        }
    }

    @Test func pngRejectsBadInput() {
        #expect(throws: DatasetError.self) { try PNGEncoder.encode(width: 2, height: 2, channels: 2, pixels: [0, 0, 0, 0, 0, 0, 0, 0]) }
        #expect(throws: DatasetError.self) { try PNGEncoder.encode(width: 3, height: 2, channels: 1, pixels: [1, 2, 3]) }
        #expect(throws: DatasetError.self) { try PNGEncoder.write(GrayImage(width: 2, height: 2), to: "/nonexistent-folder-e3d/x.png") }
    }

    @Test func jpegDecodesCloseToTheSource() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // odd sizes (partial blocks), a flat image (one DC symbol), a noisy one (many AC symbols, long codes)
        var noise = GrayImage(width: 40, height: 24)
        var rng = SplitMix64(seed: 9)
        for i in noise.pixels.indices { noise.pixels[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let cases: [(String, GrayImage, Int, Double)] = [
            ("structured", testImage(width: 37, height: 21), 95, 3.0),
            ("flat", GrayImage(width: 16, height: 16, value: 77), 90, 0.6),
            ("noise", noise, 100, 3.0),
            ("face", FaceRenderer(identity: FaceIdentity(using: &rng), width: 96, height: 72).render(FaceControls(), noiseSeed: 1), 92, 2.5),
        ]
        for (name, image, quality, tolerance) in cases {
            let path = "\(dir)/\(name).jpeg"
            try JPEGEncoder.write(image, to: path, quality: quality)
            let decoded = try FrameSource(path: path).decode().gray
            #expect(decoded.count == 1)
            let back = try #require(decoded.first)
            #expect(back.width == image.width && back.height == image.height)
            let rms = (zip(back.pixels, image.pixels).map { pow(Double($0) - Double($1), 2) }.reduce(0, +) / Double(image.pixels.count)).squareRoot()
            #expect(rms <= tolerance, "\(name): RMS error \(rms) grey levels at quality \(quality)")
        }
    }

    @Test func jpegQualityTradesSizeForError() throws {
        let image = testImage(width: 64, height: 64)
        let low = try JPEGEncoder.encode(image, quality: 20), high = try JPEGEncoder.encode(image, quality: 95)
        #expect(low.count < high.count)
        #expect(Array(low.prefix(2)) == [0xFF, 0xD8] && Array(low.suffix(2)) == [0xFF, 0xD9])
    }
}
