import Foundation

/// An 8-bit single-channel image, row-major, `pixels.count == width * height`, no padding.
public struct GrayImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Row-major grey levels 0...255, row `y` starts at `y * width`.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height,
                     "GrayImage: \(pixels.count) pixels for \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A `width`×`height` image filled with `value`.
    public init(width: Int, height: Int, value: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: value, count: width * height))
    }

    @inlinable public subscript(x: Int, y: Int) -> UInt8 {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }
}

/// An 8-bit 3-channel image, interleaved R, G, B, row-major, `pixels.count == width * height * 3`.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Interleaved RGB bytes; pixel (x, y) starts at `(y * width + x) * 3`.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Grey replicated on the three channels (the paper's "grayscale RGB").
    public init(replicating gray: GrayImage) {
        var out = [UInt8](repeating: 0, count: gray.pixels.count * 3)
        gray.pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for i in 0..<s.count {
                    let v = s[i]
                    d[3 * i] = v; d[3 * i + 1] = v; d[3 * i + 2] = v
                }
            }
        }
        self.init(width: gray.width, height: gray.height, pixels: out)
    }

    /// Luma with OpenCV's `cvtColor(RGB2GRAY)` fixed-point weights:
    /// `(9798 R + 19235 G + 3735 B + 16384) >> 15` (0.299, 0.587, 0.114; OpenCV 4.x, bit-exact).
    public func gray() -> GrayImage {
        var out = [UInt8](repeating: 0, count: width * height)
        pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for i in 0..<d.count {
                    let r = Int32(s[3 * i]), g = Int32(s[3 * i + 1]), b = Int32(s[3 * i + 2])
                    d[i] = UInt8(truncatingIfNeeded: (r &* 9798 &+ g &* 19235 &+ b &* 3735 &+ 16384) >> 15)
                }
            }
        }
        return GrayImage(width: width, height: height, pixels: out)
    }
}

/// An axis-aligned rectangle in pixels (OpenCV's `cv::Rect`: top-left corner, size).
public struct Rect: Sendable, Hashable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    public var area: Int { max(width, 0) * max(height, 0) }

    public func intersection(_ o: Rect) -> Rect {
        let x0 = max(x, o.x), y0 = max(y, o.y)
        let x1 = min(x + width, o.x + o.width), y1 = min(y + height, o.y + o.height)
        return Rect(x: x0, y: y0, width: max(0, x1 - x0), height: max(0, y1 - y0))
    }

    /// Intersection over union, 0 when either is empty.
    public func iou(_ o: Rect) -> Double {
        let i = intersection(o).area
        let u = area + o.area - i
        return u > 0 ? Double(i) / Double(u) : 0
    }

    public var description: String { "(\(x), \(y), \(width)x\(height))" }
}
