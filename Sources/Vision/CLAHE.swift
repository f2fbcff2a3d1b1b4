import Foundation

/// Contrast-limited adaptive histogram equalisation with OpenCV's algorithm (`cv::createCLAHE().apply`):
/// tile histograms (the image padded with BORDER_REFLECT_101 at the bottom/right when its size is not a
/// multiple of the grid), clipping at `max(Int(clipLimit · tileArea / 256), 1)` with the excess spread evenly
/// and its remainder one by one from bin 0 with a stride, one LUT per tile, and bilinear interpolation
/// between the four nearest tile LUTs.
public struct CLAHE: Sendable {
    /// OpenCV's `clipLimit` (the paper: 2); ≤ 0 disables clipping.
    public var clipLimit: Double
    /// Tiles across and down (the paper: 8 × 8).
    public var tilesX: Int
    public var tilesY: Int

    public init(clipLimit: Double = 2, tilesX: Int = 8, tilesY: Int = 8) {
        self.clipLimit = clipLimit
        self.tilesX = tilesX
        self.tilesY = tilesY
    }

    public func apply(_ img: GrayImage) -> GrayImage {
        let w = img.width, h = img.height
        let tx = tilesX, ty = tilesY
        // OpenCV pads both directions when either is not divisible (the divisible one by a whole tile).
        let divisible = w % tx == 0 && h % ty == 0
        let ew = divisible ? w : w + tx - w % tx
        let eh = divisible ? h : h + ty - h % ty
        let tw = ew / tx, th = eh / ty
        let tileArea = tw * th
        let limit: Int = clipLimit > 0 ? max(Int(clipLimit * Double(tileArea) / 256), 1) : 0
        let lutScale = Float(255) / Float(tileArea)
        func reflect(_ i: Int, _ n: Int) -> Int {
            if n == 1 { return 0 }
            var i = i
            while i < 0 || i >= n { i = i < 0 ? -i : 2 * n - 2 - i }
            return i
        }
        var xmap = [Int](repeating: 0, count: ew)
        for x in 0..<ew { xmap[x] = reflect(x, w) }
        var luts = [UInt8](repeating: 0, count: tx * ty * 256)
        var hist = [Int](repeating: 0, count: 256)
        img.pixels.withUnsafeBufferPointer { sp in
            hist.withUnsafeMutableBufferPointer { hp in
                for j in 0..<ty {
                    for i in 0..<tx {
                        for k in 0..<256 { hp[k] = 0 }
                        for y in (j * th)..<((j + 1) * th) {
                            let row = sp.baseAddress! + reflect(y, h) * w
                            for x in (i * tw)..<((i + 1) * tw) { hp[Int(row[xmap[x]])] += 1 }
                        }
                        if limit > 0 {
                            var clipped = 0
                            for k in 0..<256 where hp[k] > limit { clipped += hp[k] - limit; hp[k] = limit }
                            let batch = clipped / 256
                            var residual = clipped - batch * 256
                            for k in 0..<256 { hp[k] += batch }
                            if residual != 0 {
                                let step = max(256 / residual, 1)
                                var k = 0
                                while k < 256 && residual > 0 { hp[k] += 1; k += step; residual -= 1 }
                            }
                        }
                        var sum = 0
                        let base = (j * tx + i) * 256
                        for k in 0..<256 {
                            sum += hp[k]
                            luts[base + k] = UInt8(clamping: Int((Float(sum) * lutScale).rounded(.toNearestOrEven)))
                        }
                    }
                }
            }
        }
        // bilinear interpolation between tile LUTs, in Float as OpenCV
        var out = [UInt8](repeating: 0, count: w * h)
        let invTW = 1 / Float(tw), invTH = 1 / Float(th)
        var x1s = [Int](repeating: 0, count: w), x2s = x1s
        var xas = [Float](repeating: 0, count: w)
        for x in 0..<w {
            let txf = Float(x) * invTW - 0.5
            let t1 = Int(txf.rounded(.down))
            xas[x] = txf - Float(t1)
            x1s[x] = max(t1, 0) * 256
            x2s[x] = min(t1 + 1, tx - 1) * 256
        }
        img.pixels.withUnsafeBufferPointer { sp in
            luts.withUnsafeBufferPointer { lp in
                out.withUnsafeMutableBufferPointer { dp in
                    for y in 0..<h {
                        let tyf = Float(y) * invTH - 0.5
                        let t1 = Int(tyf.rounded(.down))
                        let ya = tyf - Float(t1), ya1 = 1 - ya
                        let l1 = lp.baseAddress! + max(t1, 0) * tx * 256
                        let l2 = lp.baseAddress! + min(t1 + 1, ty - 1) * tx * 256
                        let row = sp.baseAddress! + y * w, drow = dp.baseAddress! + y * w
                        for x in 0..<w {
                            let v = Int(row[x])
                            let xa = xas[x], xa1 = 1 - xa
                            let a = Float(l1[x1s[x] + v]) * xa1 + Float(l1[x2s[x] + v]) * xa
                            let b = Float(l2[x1s[x] + v]) * xa1 + Float(l2[x2s[x] + v]) * xa
                            let r = a * ya1 + b * ya
                            drow[x] = UInt8(clamping: Int(r.rounded(.toNearestOrEven)))
                        }
                    }
                }
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }
}
