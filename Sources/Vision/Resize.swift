import Foundation

/// Interpolation of `resize`, with OpenCV's names and semantics.
public enum Interpolation: Sendable {
    /// `INTER_AREA`: pixel-area averaging; for shrinking (OpenCV's recommended choice).
    case area
    /// `INTER_LINEAR`: bilinear, 11-bit fixed-point weights, pixel-centre convention.
    case linear
    /// `INTER_LINEAR_EXACT`: bilinear with 8-bit weights, bit-exact (the image pyramid of detectMultiScale).
    case linearExact
}

extension GrayImage {
    /// Resizes to `width`×`height` as `cv::resize` does. Without `interpolation`: `.area` when shrinking in both
    /// directions, `.linear` otherwise (OpenCV's documented defaults for shrinking and enlarging).
    public func resized(width dw: Int, height dh: Int, interpolation: Interpolation? = nil) -> GrayImage {
        precondition(dw > 0 && dh > 0 && width > 0 && height > 0, "resize: empty size")
        if dw == width && dh == height { return self }
        let interp = interpolation ?? ((dw <= width && dh <= height) ? .area : .linear)
        switch interp {
        case .area where dw <= width && dh <= height:
            let sx = Double(width) / Double(dw), sy = Double(height) / Double(dh)
            if sx == sx.rounded() && sy == sy.rounded() {
                return resizeAreaInteger(Int(sx), Int(sy), dw, dh)
            }
            return resizeAreaGeneric(dw, dh)
        case .area, .linear:
            return resizeLinear(dw, dh, bits: 11)
        case .linearExact:
            return resizeLinear(dw, dh, bits: 8)
        }
    }

    /// Integer factors: mean of each `kx`×`ky` block, rounded (half up for 2×2, half to even otherwise).
    private func resizeAreaInteger(_ kx: Int, _ ky: Int, _ dw: Int, _ dh: Int) -> GrayImage {
        var out = [UInt8](repeating: 0, count: dw * dh)
        let w = width
        let scale = 1 / Float(kx * ky)
        pixels.withUnsafeBufferPointer { sp in
            out.withUnsafeMutableBufferPointer { dp in
                let s = sp.baseAddress!, d = dp.baseAddress!
                for y in 0..<dh {
                    for x in 0..<dw {
                        var sum = 0
                        for j in 0..<ky {
                            let row = s + (y * ky + j) * w + x * kx
                            for i in 0..<kx { sum &+= Int(row[i]) }
                        }
                        if kx == 2 && ky == 2 {
                            d[y * dw + x] = UInt8((sum + 2) >> 2)
                        } else {
                            d[y * dw + x] = UInt8(clamping: Int((Float(sum) * scale).rounded(.toNearestOrEven)))
                        }
                    }
                }
            }
        }
        return GrayImage(width: dw, height: dh, pixels: out)
    }

    /// One axis of fractional area averaging: (destination, source, weight) triples in OpenCV's order.
    private static func areaTable(src: Int, dst: Int) -> [(d: Int, s: Int, a: Float)] {
        let scale = Double(src) / Double(dst)
        var tab: [(Int, Int, Float)] = []
        for dx in 0..<dst {
            let f1 = Double(dx) * scale, f2 = f1 + scale
            let cell = min(scale, Double(src) - f1)
            var s2 = Int(f2.rounded(.down))
            var s1 = Int(f1.rounded(.up))
            s2 = min(s2, src - 1)
            s1 = min(s1, s2)
            if Double(s1) - f1 > 1e-3 { tab.append((dx, s1 - 1, Float((Double(s1) - f1) / cell))) }
            for sx in s1..<max(s1, s2) { tab.append((dx, sx, Float(1.0 / cell))) }
            if f2 - Double(s2) > 1e-3 { tab.append((dx, s2, Float(min(min(f2 - Double(s2), 1), cell) / cell))) }
        }
        return tab
    }

    private func resizeAreaGeneric(_ dw: Int, _ dh: Int) -> GrayImage {
        let xt = GrayImage.areaTable(src: width, dst: dw)
        let yt = GrayImage.areaTable(src: height, dst: dh)
        var out = [UInt8](repeating: 0, count: dw * dh)
        var buf = [Float](repeating: 0, count: dw)
        var sum = [Float](repeating: 0, count: dw)
        let w = width
        pixels.withUnsafeBufferPointer { sp in
            out.withUnsafeMutableBufferPointer { dp in
                buf.withUnsafeMutableBufferPointer { bp in
                    sum.withUnsafeMutableBufferPointer { up in
                        var prevD = -1
                        for (dy, sy, beta) in yt {
                            if dy != prevD && prevD >= 0 {
                                for x in 0..<dw { dp[prevD * dw + x] = UInt8(clamping: Int(up[x].rounded(.toNearestOrEven))) }
                            }
                            for x in 0..<dw { bp[x] = 0 }
                            let row = sp.baseAddress! + sy * w
                            for (dx, sx, a) in xt { bp[dx] += Float(row[sx]) * a }
                            if dy != prevD {
                                for x in 0..<dw { up[x] = bp[x] * beta }
                                prevD = dy
                            } else {
                                for x in 0..<dw { up[x] += bp[x] * beta }
                            }
                        }
                        for x in 0..<dw { dp[prevD * dw + x] = UInt8(clamping: Int(up[x].rounded(.toNearestOrEven))) }
                    }
                }
            }
        }
        return GrayImage(width: dw, height: dh, pixels: out)
    }

    /// Source index and fixed-point weights of one axis, pixel-centre convention, clamped at the borders.
    private static func linearTable(src: Int, dst: Int, bits: Int) -> (idx: [Int32], w0: [Int32], w1: [Int32]) {
        let scale = Double(src) / Double(dst)
        let one = Int32(1) << Int32(bits)
        var idx = [Int32](repeating: 0, count: dst), w0 = idx, w1 = idx
        for d in 0..<dst {
            var f: Double
            var s: Int
            if bits == 11 {
                let ff = Float((Double(d) + 0.5) * scale - 0.5)
                s = Int(ff.rounded(.down)); f = Double(ff - Float(s))
            } else {
                let ff = (Double(d) + 0.5) * scale - 0.5
                s = Int(ff.rounded(.down)); f = ff - Double(s)
            }
            if s < 0 { s = 0; f = 0 }
            if s >= src - 1 { s = src - 1; f = 0 }
            let a1: Int32
            if bits == 11 {
                let a0 = Int32((Float(1 - f) * Float(one)).rounded(.toNearestOrEven))
                a1 = one - a0
            } else {
                a1 = Int32((f * Double(one)).rounded(.toNearestOrEven))
            }
            idx[d] = Int32(s); w1[d] = a1; w0[d] = one - a1
        }
        return (idx, w0, w1)
    }

    /// Separable bilinear: `bits` = 11 (INTER_LINEAR) or 8 (INTER_LINEAR_EXACT); rounds once at the end.
    private func resizeLinear(_ dw: Int, _ dh: Int, bits: Int) -> GrayImage {
        let xt = GrayImage.linearTable(src: width, dst: dw, bits: bits)
        let yt = GrayImage.linearTable(src: height, dst: dh, bits: bits)
        var out = [UInt8](repeating: 0, count: dw * dh)
        let w = width, h = height
        let shift = Int64(2 * bits), half = Int64(1) << (shift - 1)
        var rowA = [Int32](repeating: 0, count: dw), rowB = rowA
        pixels.withUnsafeBufferPointer { sp in
            out.withUnsafeMutableBufferPointer { dp in
                xt.idx.withUnsafeBufferPointer { xi in
                    xt.w0.withUnsafeBufferPointer { xa in
                        xt.w1.withUnsafeBufferPointer { xb in
                            rowA.withUnsafeMutableBufferPointer { ra in
                                rowB.withUnsafeMutableBufferPointer { rb in
                                    func hpass(_ sy: Int, _ r: UnsafeMutableBufferPointer<Int32>) {
                                        let row = sp.baseAddress! + sy * w
                                        for x in 0..<dw {
                                            let s = Int(xi[x])
                                            let s1 = min(s + 1, w - 1)
                                            r[x] = Int32(row[s]) &* xa[x] &+ Int32(row[s1]) &* xb[x]
                                        }
                                    }
                                    var pa = ra, pb = rb
                                    var cachedA = -1, cachedB = -1
                                    for y in 0..<dh {
                                        let sy = Int(yt.idx[y]), sy1 = min(sy + 1, h - 1)
                                        if cachedA != sy {
                                            if cachedB == sy { swap(&pa, &pb); swap(&cachedA, &cachedB) }
                                            else { hpass(sy, pa); cachedA = sy }
                                        }
                                        if cachedB != sy1 { hpass(sy1, pb); cachedB = sy1 }
                                        let b0 = Int64(yt.w0[y]), b1 = Int64(yt.w1[y])
                                        let d = dp.baseAddress! + y * dw
                                        for x in 0..<dw {
                                            let v = (b0 * Int64(pa[x]) + b1 * Int64(pb[x]) + half) >> shift
                                            d[x] = UInt8(clamping: v)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return GrayImage(width: dw, height: dh, pixels: out)
    }
}
