import Foundation
import Vision

/// A colour with components in 0...1.
public struct Color: Sendable, Hashable {
    public var r: Float, g: Float, b: Float
    public init(_ r: Float, _ g: Float, _ b: Float) { self.r = r; self.g = g; self.b = b }
    public static func gray(_ v: Float) -> Color { Color(v, v, v) }
    public static let black = Color(0, 0, 0), white = Color(1, 1, 1)
    /// Luma with the usual 0.299 / 0.587 / 0.114 weights.
    public var luma: Float { 0.299 * r + 0.587 * g + 0.114 * b }
    func mixed(with other: Color, _ t: Float) -> Color {
        Color(r + (other.r - r) * t, g + (other.g - g) * t, b + (other.b - b) * t)
    }
}

public typealias Point = SIMD2<Float>

/// An anti-aliased raster canvas of Float samples in 0...1 (1 channel: grey, 3: RGB), top-left origin,
/// pixel centres at integer + 0.5. Shapes are drawn from signed distances (negative inside, in pixels): a pixel's
/// coverage is the part of a `1 + softness` pixel wide ramp across the edge it lies under, which gives
/// anti-aliased edges at softness 0 and soft shadows and highlights at larger softness.
public struct Canvas: Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    /// Row-major samples, channels interleaved.
    public var samples: [Float]

    public init(width: Int, height: Int, channels: Int = 3, background: Color = .white) {
        precondition(width > 0 && height > 0 && (channels == 1 || channels == 3), "Canvas \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        if channels == 1 {
            samples = [Float](repeating: background.luma, count: width * height)
        } else {
            samples = [Float](repeating: 0, count: width * height * 3)
            for i in 0..<(width * height) { samples[3 * i] = background.r; samples[3 * i + 1] = background.g; samples[3 * i + 2] = background.b }
        }
    }

    // MARK: the general fill

    /// Fills the shape whose signed distance (pixels) at a point is `distance(p)`, within `bounds`
    /// (x0, y0, x1, y1 in pixels, expanded by the ramp), painting each covered pixel with `paint(p)` at `opacity`.
    public mutating func fill(bounds: (Float, Float, Float, Float), softness: Float = 0, opacity: Float = 1,
                              distance: (Point) -> Float, paint: (Point) -> Color) {
        let ramp = 1 + max(0, softness)
        let pad = ramp / 2 + 1
        let x0 = max(0, Int((bounds.0 - pad).rounded(.down))), x1 = min(width - 1, Int((bounds.2 + pad).rounded(.up)))
        let y0 = max(0, Int((bounds.1 - pad).rounded(.down))), y1 = min(height - 1, Int((bounds.3 + pad).rounded(.up)))
        guard x0 <= x1, y0 <= y1, opacity > 0 else { return }
        let channels = self.channels
        samples.withUnsafeMutableBufferPointer { s in
            for y in y0...y1 {
                for x in x0...x1 {
                    let p = Point(Float(x) + 0.5, Float(y) + 0.5)
                    let d = distance(p)
                    var coverage = 0.5 - d / ramp
                    if coverage <= 0 { continue }
                    if coverage > 1 { coverage = 1 }
                    if softness > 1 { coverage = coverage * coverage * (3 - 2 * coverage) }  // smooth soft edges
                    let a = coverage * opacity
                    let c = paint(p)
                    if channels == 1 {
                        let i = y * width + x
                        s[i] += (c.luma - s[i]) * a
                    } else {
                        let i = 3 * (y * width + x)
                        s[i] += (c.r - s[i]) * a; s[i + 1] += (c.g - s[i + 1]) * a; s[i + 2] += (c.b - s[i + 2]) * a
                    }
                }
            }
        }
    }

    /// Fills the region where the implicit function `f` (any units, negative inside) is below zero. The signed
    /// distance is taken as `f / |∇f|` with a numerical gradient (central differences at ±0.5 pixel), which is
    /// exact for distance-like functions and good near the edge for smooth ones.
    /// `band`: where |f| exceeds it the pixel is taken as wholly inside or outside without the gradient (a
    /// shortcut for functions scaled like distances; keep it wider than the edge ramp).
    public mutating func fillImplicit(bounds: (Float, Float, Float, Float), softness: Float = 0, opacity: Float = 1,
                                      band: Float = .infinity, f: (Point) -> Float, paint: (Point) -> Color) {
        fill(bounds: bounds, softness: softness, opacity: opacity, distance: { p in
            let v = f(p)
            if v > band { return 1e6 }
            if v < -band { return -1e6 }
            let gx = f(p + Point(0.5, 0)) - f(p - Point(0.5, 0))
            let gy = f(p + Point(0, 0.5)) - f(p - Point(0, 0.5))
            let g = (gx * gx + gy * gy).squareRoot()
            return g > 1e-12 ? v / g : (v < 0 ? -1e6 : 1e6)
        }, paint: paint)
    }

    // MARK: shapes

    /// An ellipse with semi-axes `radii`, rotated by `angle` radians.
    public mutating func fillEllipse(center: Point, radii: Point, angle: Float = 0, softness: Float = 0, opacity: Float = 1,
                                     color: Color) {
        fillEllipse(center: center, radii: radii, angle: angle, softness: softness, opacity: opacity) { _ in color }
    }

    public mutating func fillEllipse(center: Point, radii: Point, angle: Float = 0, softness: Float = 0, opacity: Float = 1,
                                     paint: (Point) -> Color) {
        guard radii.x > 0, radii.y > 0 else { return }
        let c = cos(angle), s = sin(angle)
        let extent = max(radii.x, radii.y)
        fill(bounds: (center.x - extent, center.y - extent, center.x + extent, center.y + extent),
             softness: softness, opacity: opacity,
             distance: { ellipseDistance($0, center: center, radii: radii, cosine: c, sine: s) }, paint: paint)
    }

    /// An axis-aligned rectangle.
    public mutating func fillRect(x0: Float, y0: Float, x1: Float, y1: Float, opacity: Float = 1, color: Color) {
        fill(bounds: (x0, y0, x1, y1), opacity: opacity,
             distance: { p in max(x0 - p.x, p.x - x1, y0 - p.y, p.y - y1) }, paint: { _ in color })
    }

    /// A stroke along a polyline whose width varies linearly from point to point (`widths` per point, or one value).
    public mutating func stroke(_ points: [Point], widths: [Float], softness: Float = 0, opacity: Float = 1, color: Color) {
        stroke(points, widths: widths, softness: softness, opacity: opacity) { _ in color }
    }

    public mutating func stroke(_ points: [Point], width: Float, softness: Float = 0, opacity: Float = 1, color: Color) {
        stroke(points, widths: [Float](repeating: width, count: points.count), softness: softness, opacity: opacity) { _ in color }
    }

    public mutating func stroke(_ points: [Point], widths: [Float], softness: Float = 0, opacity: Float = 1,
                                paint: (Point) -> Color) {
        guard points.count >= 2, widths.count == points.count else { return }
        var lo = points[0], hi = points[0]
        for p in points { lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p) }
        let half = (widths.max() ?? 1) / 2
        fill(bounds: (lo.x - half, lo.y - half, hi.x + half, hi.y + half), softness: softness, opacity: opacity,
             distance: { p in
                 var best = Float.greatestFiniteMagnitude
                 for i in 0..<(points.count - 1) {
                     let a = points[i], ab = points[i + 1] - a
                     let length2 = (ab * ab).sum()
                     var t = length2 > 0 ? ((p - a) * ab).sum() / length2 : 0
                     t = min(1, max(0, t))
                     let d = (p - (a + ab * t)).length - (widths[i] + (widths[i + 1] - widths[i]) * t) / 2
                     if d < best { best = d }
                 }
                 return best
             }, paint: paint)
    }

    /// A closed polygon (even-odd rule).
    public mutating func fillPolygon(_ points: [Point], softness: Float = 0, opacity: Float = 1, color: Color) {
        fillPolygon(points, softness: softness, opacity: opacity) { _ in color }
    }

    public mutating func fillPolygon(_ points: [Point], softness: Float = 0, opacity: Float = 1, paint: (Point) -> Color) {
        guard points.count >= 3 else { return }
        var lo = points[0], hi = points[0]
        for p in points { lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p) }
        fill(bounds: (lo.x, lo.y, hi.x, hi.y), softness: softness, opacity: opacity,
             distance: { polygonDistance(points, $0) }, paint: paint)
    }

    // MARK: output

    /// The canvas as an 8-bit grey image (rounded, clipped; RGB canvases through their luma).
    public func grayImage() -> GrayImage {
        var out = [UInt8](repeating: 0, count: width * height)
        for i in 0..<(width * height) {
            let v = channels == 1 ? samples[i] : 0.299 * samples[3 * i] + 0.587 * samples[3 * i + 1] + 0.114 * samples[3 * i + 2]
            out[i] = UInt8(max(0, min(255, (v * 255).rounded())))
        }
        return GrayImage(width: width, height: height, pixels: out)
    }

    /// The canvas as an 8-bit RGB image (grey canvases replicated).
    public func rgbImage() -> RGBImage {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height * 3) {
            let v = channels == 1 ? samples[i / 3] : samples[i]
            out[i] = UInt8(max(0, min(255, (v * 255).rounded())))
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Writes the canvas as PNG (RGB canvases as RGB, grey ones as grey).
    public func writePNG(to path: String) throws {
        if channels == 1 { try PNGEncoder.write(grayImage(), to: path) } else { try PNGEncoder.write(rgbImage(), to: path) }
    }
}

extension SIMD2 where Scalar == Float {
    var length: Float { (self * self).sum().squareRoot() }
}

/// Points of a cubic Bézier curve, `segments + 1` of them including both ends.
public func bezier(_ p0: Point, _ p1: Point, _ p2: Point, _ p3: Point, segments: Int = 12) -> [Point] {
    (0...segments).map { i in
        let t = Float(i) / Float(segments), u = 1 - t
        return p0 * (u * u * u) + p1 * (3 * u * u * t) + p2 * (3 * u * t * t) + p3 * (t * t * t)
    }
}

/// Points of a quadratic Bézier curve.
public func bezier(_ p0: Point, _ p1: Point, _ p2: Point, segments: Int = 10) -> [Point] {
    (0...segments).map { i in
        let t = Float(i) / Float(segments), u = 1 - t
        return p0 * (u * u) + p1 * (2 * u * t) + p2 * (t * t)
    }
}

/// Signed distance (negative inside) from `p` to a closed polygon, even-odd rule.
public func polygonDistance(_ points: [Point], _ p: Point) -> Float {
    var best = Float.greatestFiniteMagnitude
    var inside = false
    var j = points.count - 1
    for i in 0..<points.count {
        let a = points[j], b = points[i]
        if (b.y > p.y) != (a.y > p.y) {
            let x = b.x + (p.y - b.y) * (a.x - b.x) / (a.y - b.y)
            if p.x < x { inside.toggle() }
        }
        let ab = b - a
        let length2 = (ab * ab).sum()
        let t = length2 > 0 ? min(1, max(0, ((p - a) * ab).sum() / length2)) : 0
        best = min(best, (p - (a + ab * t)).length)
        j = i
    }
    return inside ? -best : best
}

/// Approximate signed distance from `p` to an ellipse rotated by the angle whose cosine and sine are given:
/// the first-order distance to the implicit curve |q / r| = 1, good near the edge.
public func ellipseDistance(_ p: Point, center: Point, radii: Point, cosine c: Float = 1, sine s: Float = 0) -> Float {
    let d = p - center
    let q = Point(c * d.x + s * d.y, -s * d.x + c * d.y)
    let inverse = 1 / radii
    let k = (q * inverse).length
    let g = (q * inverse * inverse).length
    return g > 0 ? (k - 1) * k / g : -min(radii.x, radii.y)
}
