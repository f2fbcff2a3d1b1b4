import CKernels
import GraphCore

/// Sizes of one 3D pooling, shared by the pooling operators' kernels.
struct PoolGeometry {
    let planes: Int, input: Triple, output: Triple, kernel: Triple, stride: Triple, padding: Triple

    init(input x: Shape, output y: Shape, kernel: Triple, stride: Triple, padding: Triple) {
        planes = x[0] * x[1]
        input = Triple(x[2], x[3], x[4])
        output = Triple(y[2], y[3], y[4])
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    /// The window of output position (od, oh, ow) clipped to the input: start and end per axis,
    /// plus the divisor PyTorch's average pooling uses with `count_include_pad` (the window
    /// clipped to the padded input).
    @inline(__always)
    func window(_ od: Int, _ oh: Int, _ ow: Int) -> (start: Triple, end: Triple, paddedCount: Int) {
        let d0 = od * stride.d - padding.d, h0 = oh * stride.h - padding.h, w0 = ow * stride.w - padding.w
        let d1 = min(d0 + kernel.d, input.d + padding.d), h1 = min(h0 + kernel.h, input.h + padding.h)
        let w1 = min(w0 + kernel.w, input.w + padding.w)
        let count = (d1 - d0) * (h1 - h0) * (w1 - w0)
        return (
            Triple(max(d0, 0), max(h0, 0), max(w0, 0)),
            Triple(min(d1, input.d), min(h1, input.h), min(w1, input.w)), count
        )
    }

    /// Visits every output position of `planes` in storage order: `body(o, plane, od, oh, ow)`,
    /// `o` the flat output index. Shared by the pooling kernels.
    @inline(__always)
    func forEachOutput(planes: Range<Int>, _ body: (_ o: Int, _ plane: Int, _ od: Int, _ oh: Int, _ ow: Int) -> Void) {
        var o = planes.lowerBound * output.product
        for plane in planes {
            for od in 0..<output.d {
                for oh in 0..<output.h {
                    for ow in 0..<output.w {
                        body(o, plane, od, oh, ow)
                        o += 1
                    }
                }
            }
        }
    }

    /// Max pooling without padding (`Float`), one output row at a time. Width windows of 2 at
    /// stride 2 (every pool of the paper's family) go 8 outputs at a time: one 16-wide load per
    /// window row, its even and odd halves the two taps, the whole window folded in registers;
    /// rows of fewer than 8 outputs (the small configuration's 6- and 3-wide pools) load and
    /// store only their lanes (masked moves), where the per-output loop below ran ~4× slower.
    /// The other outputs start at the window's first element and fold each window row and width
    /// tap into the row, so the inner loop runs along it (a per-window `argmax` ran at ~2 GB/s).
    /// The first maximum wins and a NaN beats everything, as in `argmax`. `y` and `offsets` (the
    /// maxima's flat offsets within their plane, if given) are `[planes, D', H', W']`.
    func maxOfWindows(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, offsets: UnsafeMutablePointer<Float>? = nil, planes: Range<Int>) {
        precondition(padding == Triple(0), "maxOfWindows: windows must lie inside the input")
        typealias V = SIMD8<Float>
        let k = kernel, s = stride, first = planes.lowerBound * output.product
        var row = y + first, offsetRow = offsets.map { $0 + first }
        // Rows of at least 8 such outputs are all vectors: the last one overlaps its neighbour
        // (2·W' ≤ W, so its 16-wide loads stay in the row) and writes the same values again.
        // A shorter row is one vector of W' lanes.
        let paired = k.w == 2 && s.w == 2 ? output.w : 0, lanes = min(8, output.w)
        let lane = V(0, 2, 4, 6, 8, 10, 12, 14)
        for plane in planes {
            let source = x + plane * input.product
            for od in 0..<output.d {
                for oh in 0..<output.h {
                    // Start of window row (a, b) of this output row.
                    @inline(__always) func rowStart(_ a: Int, _ b: Int) -> Int { ((od * s.d + a) * input.h + oh * s.h + b) * input.w }
                    var next = 0
                    while next < paired {
                        let ow = max(0, min(next, paired - 8))
                        next = ow + 8
                        // The two taps of `lanes` windows from `start`.
                        @inline(__always) func pair(_ start: Int) -> (even: V, odd: V) { columnPairs(source + start, width: 2 * lanes, from: 0) }
                        let firstPair = pair(rowStart(0, 0) + 2 * ow)
                        var best = firstPair.even
                        if let offsetRow {
                            var offset = lane + Float(rowStart(0, 0) + 2 * ow)
                            @inline(__always) func fold(_ v: V, _ at: V) {
                                let wins = (v .> best) .| ((v .!= v) .& (best .== best))
                                best.replace(with: v, where: wins)
                                offset.replace(with: at, where: wins)
                            }
                            fold(firstPair.odd, offset + 1)
                            for a in 0..<k.d {
                                for b in 0..<k.h where a > 0 || b > 0 {
                                    let start = rowStart(a, b) + 2 * ow
                                    let taps = pair(start), here = lane + Float(start)
                                    fold(taps.even, here)
                                    fold(taps.odd, here + 1)
                                }
                            }
                            emotion3d_store_lanes(offsetRow + ow, offset, lanes)
                        } else {
                            @inline(__always) func fold(_ v: V) { best.replace(with: v, where: (v .> best) .| (v .!= v)) }
                            fold(firstPair.odd)
                            for a in 0..<k.d {
                                for b in 0..<k.h where a > 0 || b > 0 {
                                    let taps = pair(rowStart(a, b) + 2 * ow)
                                    fold(taps.even)
                                    fold(taps.odd)
                                }
                            }
                        }
                        emotion3d_store_lanes(row + ow, best, lanes)
                    }
                    if paired < output.w {
                        let corner = rowStart(0, 0)
                        for ow in paired..<output.w { row[ow] = source[corner + ow * s.w] }
                        if let offsetRow { for ow in paired..<output.w { offsetRow[ow] = Float(corner + ow * s.w) } }
                        for a in 0..<k.d {
                            for b in 0..<k.h {
                                let start = rowStart(a, b), line = source + start
                                for c in 0..<k.w {
                                    if let offsetRow {
                                        // Selects, not branches: on random data a branch here mispredicts
                                        // about every other time (1 GB/s on the small network's first pool).
                                        for ow in paired..<output.w {
                                            let v = line[ow * s.w + c], best = row[ow]
                                            let wins = v > best || (v != v && best == best)
                                            row[ow] = wins ? v : best
                                            offsetRow[ow] = wins ? Float(start + ow * s.w + c) : offsetRow[ow]
                                        }
                                    } else {
                                        for ow in paired..<output.w {
                                            let v = line[ow * s.w + c], best = row[ow]
                                            row[ow] = v > best || v != v ? v : best
                                        }
                                    }
                                }
                            }
                        }
                    }
                    row += output.w
                    offsetRow = offsetRow.map { $0 + output.w }
                }
            }
        }
    }

    /// Flat input offset (within a plane) of the first maximum of the window, PyTorch's tie rule.
    @inline(__always)
    func argmax<T: KernelScalar>(_ plane: UnsafePointer<T>, _ od: Int, _ oh: Int, _ ow: Int) -> Int {
        let (start, end, _) = window(od, oh, ow)
        var best = -T.infinity, bestIndex = (start.d * input.h + start.h) * input.w + start.w
        for d in start.d..<end.d {
            for h in start.h..<end.h {
                for w in start.w..<end.w {
                    let index = (d * input.h + h) * input.w + w
                    let value = plane[index]
                    if value > best || value.isNaN {
                        best = value
                        bestIndex = index
                        if value.isNaN { return index }
                    }
                }
            }
        }
        return bestIndex
    }
}

/// Shape rule shared by the pooling operators: PyTorch's limits (padding at most half the kernel).
func poolShape(_ x: Shape, kernel: Triple, stride: Triple, padding: Triple, _ name: String) throws(ShapeError) -> Shape {
    for (k, p) in zip(kernel.array, padding.array) where p * 2 > k {
        throw ShapeError("\(name) padding \(padding) must be at most half the kernel \(kernel)")
    }
    let out = try slidingShape(x, kernel: kernel, stride: stride, padding: padding, name)
    return [x[0], x[1], out.d, out.h, out.w]
}
