import Foundation

extension GrayImage {
    /// The pixels inside `rect`, which must lie inside the image (see `Rect.clamped(toWidth:height:)`).
    public func cropped(to rect: Rect) -> GrayImage {
        precondition(rect.x >= 0 && rect.y >= 0 && rect.width > 0 && rect.height > 0
                     && rect.x + rect.width <= width && rect.y + rect.height <= height,
                     "crop \(rect) outside \(width)x\(height)")
        var out = [UInt8](repeating: 0, count: rect.area)
        pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for y in 0..<rect.height {
                    (d.baseAddress! + y * rect.width)
                        .update(from: s.baseAddress! + (rect.y + y) * width + rect.x, count: rect.width)
                }
            }
        }
        return GrayImage(width: rect.width, height: rect.height, pixels: out)
    }

    /// Mirror image left ↔ right (`cv::flip(src, dst, 1)`).
    public func flippedHorizontally() -> GrayImage {
        var out = pixels
        out.withUnsafeMutableBufferPointer { d in
            for y in 0..<height {
                let row = d.baseAddress! + y * width
                var i = 0, j = width - 1
                while i < j { let t = row[i]; row[i] = row[j]; row[j] = t; i += 1; j -= 1 }
            }
        }
        return GrayImage(width: width, height: height, pixels: out)
    }

    /// Linear contrast `127 + alpha (v − 127)`, rounded to nearest and clipped to [0, 255]
    /// (imgaug's `LinearContrast` with its default centre 127, as the paper).
    public func linearContrast(alpha: Double) -> GrayImage {
        var lut = [UInt8](repeating: 0, count: 256)
        for v in 0..<256 {
            let r = (127 + alpha * Double(v - 127)).rounded(.toNearestOrEven)
            lut[v] = UInt8(max(0, min(255, r)))
        }
        return applyingLUT(lut)
    }

    /// Maps every pixel through a 256-entry table.
    public func applyingLUT(_ lut: [UInt8]) -> GrayImage {
        precondition(lut.count == 256)
        var out = pixels
        lut.withUnsafeBufferPointer { l in
            out.withUnsafeMutableBufferPointer { d in
                for i in 0..<d.count { d[i] = l[Int(d[i])] }
            }
        }
        return GrayImage(width: width, height: height, pixels: out)
    }

    /// Rotation by `degrees` (counter-clockwise for positive angles, as `cv::getRotationMatrix2D`) about the
    /// image centre `((w−1)/2, (h−1)/2)`, bilinear, constant border 0, same size (`cv::warpAffine`).
    public func rotated(degrees: Double) -> GrayImage {
        let cx = Double(width - 1) / 2, cy = Double(height - 1) / 2
        let a = cos(degrees * .pi / 180), b = sin(degrees * .pi / 180)
        // forward map M = [[a, b, (1−a)cx − b cy], [−b, a, b cx + (1−a) cy]], inverted for sampling
        let m = [a, b, (1 - a) * cx - b * cy, -b, a, b * cx + (1 - a) * cy]
        return warpAffine(forward: m)
    }

    /// `cv::warpAffine(src, dst, M, size, INTER_LINEAR, BORDER_CONSTANT, 0)` with the forward 2×3 matrix `m`.
    public func warpAffine(forward m: [Double]) -> GrayImage {
        var det = m[0] * m[4] - m[1] * m[3]
        det = det != 0 ? 1 / det : 0
        let i0 = m[4] * det, i1 = -m[1] * det, i3 = -m[3] * det, i4 = m[0] * det
        let i2 = -i0 * m[2] - i1 * m[5], i5 = -i3 * m[2] - i4 * m[5]
        // Fixed point as OpenCV's warpAffine: coordinates in 1/1024 (AB_BITS 10) reduced to 1/32 (INTER_BITS 5),
        // bilinear weights in 1/32768 (INTER_REMAP_COEF_BITS 15).
        let w = width, h = height
        var out = [UInt8](repeating: 0, count: w * h)
        var adelta = [Int](repeating: 0, count: w), bdelta = adelta
        for x in 0..<w {
            adelta[x] = Int((i0 * Double(x) * 1024).rounded(.toNearestOrEven))
            bdelta[x] = Int((i3 * Double(x) * 1024).rounded(.toNearestOrEven))
        }
        var wtab = [Int32](repeating: 0, count: 32 * 32 * 4)
        for fy in 0..<32 {
            for fx in 0..<32 {
                let ax = Float(fx) / 32, ay = Float(fy) / 32
                let c: [Float] = [(1 - ay) * (1 - ax), (1 - ay) * ax, ay * (1 - ax), ay * ax]
                var ws = c.map { Int32(($0 * 32768).rounded(.toNearestOrEven)) }
                let sum = ws.reduce(0, +)
                if sum != 32768 {  // OpenCV puts the rounding error on the largest weight
                    var k = 0
                    for j in 1..<4 where ws[j] > ws[k] { k = j }
                    ws[k] += 32768 - sum
                }
                for j in 0..<4 { wtab[(fy * 32 + fx) * 4 + j] = ws[j] }
            }
        }
        pixels.withUnsafeBufferPointer { sp in
            out.withUnsafeMutableBufferPointer { dp in
                let s = sp.baseAddress!
                for y in 0..<h {
                    let x0 = Int(((i1 * Double(y) + i2) * 1024).rounded(.toNearestOrEven)) + 16
                    let y0 = Int(((i4 * Double(y) + i5) * 1024).rounded(.toNearestOrEven)) + 16
                    for x in 0..<w {
                        let X = (x0 + adelta[x]) >> 5, Y = (y0 + bdelta[x]) >> 5
                        let sx = X >> 5, sy = Y >> 5
                        let t = ((Y & 31) * 32 + (X & 31)) * 4
                        var v00: Int32 = 0, v01: Int32 = 0, v10: Int32 = 0, v11: Int32 = 0
                        if sx >= 0 && sx + 1 < w && sy >= 0 && sy + 1 < h {
                            let p = s + sy * w + sx
                            v00 = Int32(p[0]); v01 = Int32(p[1]); v10 = Int32(p[w]); v11 = Int32(p[w + 1])
                        } else if sx >= w || sx + 1 < 0 || sy >= h || sy + 1 < 0 {
                            dp[y * w + x] = 0
                            continue
                        } else {
                            func px(_ xx: Int, _ yy: Int) -> Int32 {
                                (xx >= 0 && xx < w && yy >= 0 && yy < h) ? Int32(s[yy * w + xx]) : 0
                            }
                            v00 = px(sx, sy); v01 = px(sx + 1, sy); v10 = px(sx, sy + 1); v11 = px(sx + 1, sy + 1)
                        }
                        let acc = v00 * wtab[t] + v01 * wtab[t + 1] + v10 * wtab[t + 2] + v11 * wtab[t + 3]
                        dp[y * w + x] = UInt8(clamping: (acc + (1 << 14)) >> 15)
                    }
                }
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }

    /// Pixels scaled to [0, 1] (`v / 255`), row-major.
    public func floats01() -> [Float] { pixels.map { Float($0) * (1 / 255) } }

    /// Pixels scaled to [−1, 1] (`v / 127.5 − 1`), row-major.
    public func floatsSymmetric() -> [Float] { pixels.map { Float($0) * (1 / 127.5) - 1 } }
}

extension Rect {
    /// Shifted (and if needed shrunk) to lie inside a `width`×`height` image.
    public func clamped(toWidth w: Int, height h: Int) -> Rect {
        let cw = min(max(width, 1), w), ch = min(max(height, 1), h)
        let cx = min(max(x, 0), w - cw), cy = min(max(y, 0), h - ch)
        return Rect(x: cx, y: cy, width: cw, height: ch)
    }
}
