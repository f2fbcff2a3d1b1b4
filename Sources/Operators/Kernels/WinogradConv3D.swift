import CKernels
import Dispatch
import GraphCore

/// Winograd F(2×2, 3×3) for convolutions of kernel (kD, 3, 3), stride (sD, 1, 1), padding ≤ 2 in
/// height and width: a 2×2 block of outputs costs 16 multiply-adds per (input channel, depth tap)
/// instead of 36, 2.25× fewer.
///
/// Each input plane is cut into 4×4 patches two apart and transformed (`V = Bᵀ d B`), each 3×3
/// filter too (`U = G g Gᵀ`); then for each of the 16 positions ξ of a patch one sgemm
/// `M_ξ [Cout, cols] = U_ξ [Cout, taps·Cin] · V_ξ [taps·Cin, cols]` (cols: one output depth plane's
/// 2×2 blocks of a group of samples), and `Y = Aᵀ M A` gives the outputs. Depth taps that fall on
/// padding are left out of the product, as in `FastConv3D`. The backward passes run the adjoints
/// of the same linear maps, so they are exact gradients of this forward: data `dV_ξ = U_ξᵀ dM_ξ`
/// with `dM = A dY Aᵀ` and `dx += B dV Bᵀ`; filter `dU_ξ += dM_ξ V_ξᵀ`, `dw = Gᵀ dU G`.
///
/// Work goes by groups of samples: every input frame of a group is transformed once into
/// `V [ξ][frame][Cin][cols]`, so the rows an output plane's depth taps read are contiguous and
/// no frame is transformed once per tap; then each output depth plane runs its 16 products and its
/// output transform. Both cores share each phase (transforms split by planes, products by ξ),
/// with OpenBLAS single-threaded: one level of parallelism, a few synchronisations per plane.
struct WinogradConv3D {
    let g: ConvGeometry
    /// 2×2 output blocks per plane: rows, columns, and all of them.
    let tilesH: Int, tilesW: Int, tilePlane: Int
    /// Entries per row of the per-plane work arrays: `tilesW + 1` rounded up to 8-lane vectors
    /// (the extra entry is a zero the data gradient reads past the last block).
    let lanes: Int
    /// A row of a transformed weight matrix (`kD·Cin`).
    let kFull: Int
    /// Samples per group at most, and groups over the batch.
    let chunk: Int, chunks: Int

    /// Floats of transformed input (`V`) per group at most (32 MiB): a single sample may exceed it.
    static let budget = 1 << 23

    /// Nil unless the geometry is one this kernel computes.
    init?(_ g: ConvGeometry) {
        guard g.kernel.h == 3, g.kernel.w == 3, g.stride.h == 1, g.stride.w == 1, (0...2).contains(g.padding.h),
            (0...2).contains(g.padding.w), g.output.d > 0, g.output.h > 0, g.output.w > 0, g.batch > 0
        else { return nil }
        self.g = g
        tilesH = (g.output.h + 1) / 2
        tilesW = (g.output.w + 1) / 2
        tilePlane = tilesH * tilesW
        lanes = (tilesW + 1 + 7) / 8 * 8
        kFull = g.kernel.d * g.inChannels
        // Enough columns for sgemm to run at speed (≥ 512), within the budget (2048 measured the
        // same on the small configuration, within this machine's noise).
        var samples = max(1, min(g.batch, (512 + tilePlane - 1) / tilePlane))
        while samples > 1 && 16 * g.input.d * g.inChannels * samples * tilePlane > WinogradConv3D.budget { samples -= 1 }
        chunks = (g.batch + samples - 1) / samples
        chunk = (g.batch + chunks - 1) / chunks
    }

    /// Whether it beats vol2col + sgemm and the direct kernel for `pass`. Measured on a 2-core
    /// AVX-512 Xeon (`EMOTION3D_CONV=winograd|gemm emotion3d bench --layer-network full|small`, GFLOP/s
    /// counted on the direct algorithm's useful work): ahead on every layer with ≥ 16 channels in
    /// and out and ≥ 6×6 outputs (full network at batch 4: 56×56 265 against 168, 28×28 296–311
    /// against 178–182, 14×14 232–251 against 112–191; small one at batch 30: 24×24 111 against
    /// 66), behind on 3 input channels (70 against 100), on 3×3 outputs (23 against 35), and for
    /// the filter gradient of 7×7 outputs at batch 4 (37 against 43: 64 columns per product).
    /// Forward at batch 1, with 49 and 16 columns per product, it still wins (node times of the
    /// fused layers: 14×14 20–21 ms against 31–42, 7×7 8.5–9.3 against 10–13).
    /// Convolutions under 2^28 multiply-adds keep the shape rule (the main job's tiny network).
    func competes(_ pass: ConvPass) -> Bool {
        return g.inChannels >= 16 && g.outChannels >= 16 && tilePlane >= 9 && g.multiplyAdds >= 1 << 28
            && (pass != .backwardFilter || chunk * tilePlane >= 128)
    }

    // MARK: Work and scratch

    private var maxColumns: Int { chunk * tilePlane }
    private var weightFloats: Int { 16 * g.outChannels * kFull }
    /// 8 floats of slack: the transforms read whole vectors past a row's last block.
    private var inputFloats: Int { 16 * g.input.d * g.inChannels * maxColumns + 8 }
    private var outputFloats: Int { 16 * g.outChannels * maxColumns + 8 }
    /// One worker's arrays: the horizontal transforms of a plane's rows and one padded row (the
    /// output transform's two rows fit in the first).
    private var workerFloats: Int { (2 * tilesH + 2) * 4 * lanes + 2 * lanes }

    private static var workers: Int { FastConv3D.workers }

    /// Floats of scratch `pass` takes with `workers` workers.
    func scratchFloats(_ pass: ConvPass, workers: Int = WinogradConv3D.workers) -> Int {
        Scratch.floats([weightFloats, inputFloats, outputFloats] + Array(repeating: workerFloats, count: max(workers, 1)))
    }

    /// The groups of samples: `n0..<n0+count`, near-equal.
    private var groups: [(n0: Int, count: Int)] {
        (0..<chunks).map { part in (g.batch * part / chunks, g.batch * (part + 1) / chunks - g.batch * part / chunks) }.filter { $0.count > 0 }
    }

    /// Transforms every input frame of samples `n0..<n0+count` into `buffers.input` (`V`).
    private func transformFrames(_ buffers: Buffers, _ x: SendableConstPointer<Float>, n0: Int, count: Int, workers: Int) {
        claimRanges(g.input.d * g.inChannels * count, workers: workers) { worker, rows in
            for row in rows { transformInput(buffers.input, x.base, n0: n0, count: count, row: row, worker: buffers.workers[worker]) }
        }
    }

    /// For each output depth plane that reads an input frame: its gradient's transform `dM` into
    /// `buffers.output`, then `products(taps, first frame read)`.
    private func forEachGradientPlane(
        _ buffers: Buffers, _ dy: SendableConstPointer<Float>, n0: Int, count: Int, workers: Int, _ products: (Range<Int>, Int) -> Void
    ) {
        for od in 0..<g.output.d {
            let taps = g.depthTaps(od)
            guard !taps.isEmpty else { continue }
            claimRanges(g.outChannels * count, workers: workers) { _, planes in
                for plane in planes {
                    transformGradient(buffers.output, dy.base, n0: n0, count: count, od: od, plane: plane)
                }
            }
            products(taps, firstFrame(od, taps))
        }
    }

    /// The first input frame output plane `od` reads (through its first depth tap).
    @inline(__always)
    private func firstFrame(_ od: Int, _ taps: Range<Int>) -> Int { od * g.stride.d + taps.lowerBound - g.padding.d }

    /// The scratch of one call: transformed weights, transformed input, transformed output, and
    /// each worker's arrays.
    private struct Buffers: @unchecked Sendable {
        let weights: UnsafeMutablePointer<Float>, input: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>
        let workers: [UnsafeMutablePointer<Float>]
    }

    /// Carves the buffers from `given` (or one allocation) and runs `body` with one or two
    /// workers, OpenBLAS single-threaded while two run (its own threads when one does).
    private func run(_ pass: ConvPass, scratch given: UnsafeMutableBufferPointer<Float>?, _ body: (Buffers, Int) -> Void) {
        let workers = WinogradConv3D.workers
        Scratch.with(given, floats: scratchFloats(pass, workers: workers)) { scratch in
            let buffers = Buffers(
                weights: scratch.take(weightFloats), input: scratch.take(inputFloats), output: scratch.take(outputFloats),
                workers: (0..<workers).map { _ in scratch.take(workerFloats) })
            if workers > 1 {
                BLASThreads.singleThreaded { body(buffers, workers) }
            } else {
                BLASThreads.shared { body(buffers, 1) }
            }
        }
    }

    // MARK: Passes

    /// `y [N, Cout, D', H', W'] = epilogue(conv(x, w))`; `w` in the standard layout.
    func forward(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue,
        scratch: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        let cout = g.outChannels, cin = g.inChannels, kFull = self.kFull, frames = g.input.d
        let shared = (y: SendablePointer(y), x: SendableConstPointer(x))
        let bias = epilogue.bias.map { SendableConstPointer($0) }, activation = epilogue.activation
        run(.forward, scratch: scratch) { buffers, workers in
            // The transformed weights are twice the filter's size: a kept copy saves writing them every call.
            let kept = epilogue.prepared?.floats(weightFloats), weights = SendablePointer(kept?.buffer ?? buffers.weights)
            if kept?.current != true { transformWeights(weights.base, w, scale: epilogue.scale, workers: workers) }
            for (n0, count) in groups {
                let cols = count * tilePlane
                transformFrames(buffers, shared.x, n0: n0, count: count, workers: workers)
                for od in 0..<g.output.d {
                    let taps = g.depthTaps(od), k = taps.count * cin
                    if k > 0 {
                        let first = firstFrame(od, taps)
                        claimRanges(16, workers: workers) { _, positions in
                            for xi in positions {
                                Gemm.multiply(
                                    m: cout, n: cols, k: k, MatrixView(weights.base + xi * cout * kFull + taps.lowerBound * cin, rowStride: kFull),
                                    MatrixView(buffers.input + (xi * frames + first) * cin * cols, rowStride: cols), buffers.output + xi * cout * cols,
                                    ldc: cols, accumulate: false)
                            }
                        }
                    } else {
                        buffers.output.update(repeating: 0, count: 16 * cout * cols)
                    }
                    claimRanges(cout * count, workers: workers) { worker, planes in
                        for plane in planes {
                            transformOutput(
                                shared.y.base, buffers.output, n0: n0, count: count, od: od, plane: plane, bias: bias?.base[plane % cout] ?? 0, activation,
                                worker: buffers.workers[worker])
                        }
                    }
                }
            }
        }
    }

    /// `dx [N, Cin, D, H, W]` from `dy [N, Cout, D', H', W']` and `w`: each output plane's
    /// `Uᵀ dM` adds into the transformed gradient of the frames it reads, which is brought back to
    /// `dx` once per frame.
    func backwardData(
        _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, scratch: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        let cout = g.outChannels, cin = g.inChannels, kFull = self.kFull, frames = g.input.d
        let shared = (dx: SendablePointer(dx), dy: SendableConstPointer(dy))
        run(.backwardData, scratch: scratch) { buffers, workers in
            transformWeights(buffers.weights, w, workers: workers)
            for (n0, count) in groups {
                let cols = count * tilePlane
                buffers.input.update(repeating: 0, count: 16 * frames * cin * cols)
                forEachGradientPlane(buffers, shared.dy, n0: n0, count: count, workers: workers) { taps, first in
                    let k = taps.count * cin
                    claimRanges(16, workers: workers) { _, positions in
                        for xi in positions {
                            Gemm.multiply(
                                m: k, n: cols, k: cout,
                                MatrixView.transposed(buffers.weights + xi * cout * kFull + taps.lowerBound * cin, rowStride: kFull),
                                MatrixView(buffers.output + xi * cout * cols, rowStride: cols), buffers.input + (xi * frames + first) * cin * cols,
                                ldc: cols, accumulate: true)
                        }
                    }
                }
                // Each (frame, channel, sample) row writes its own input plane.
                claimRanges(frames * cin * count, workers: workers) { worker, rows in
                    for row in rows { scatterInputGradient(shared.dx.base, buffers.input, n0: n0, count: count, row: row, worker: buffers.workers[worker]) }
                }
            }
        }
    }

    /// `dw [Cout, Cin, kD, 3, 3]` from `dy` and `x`.
    func backwardFilter(
        _ dw: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, scratch: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        let cout = g.outChannels, cin = g.inChannels, kFull = self.kFull, frames = g.input.d
        let shared = (dy: SendableConstPointer(dy), x: SendableConstPointer(x))
        run(.backwardFilter, scratch: scratch) { buffers, workers in
            buffers.weights.update(repeating: 0, count: weightFloats)
            for (n0, count) in groups {
                let cols = count * tilePlane
                transformFrames(buffers, shared.x, n0: n0, count: count, workers: workers)
                forEachGradientPlane(buffers, shared.dy, n0: n0, count: count, workers: workers) { taps, first in
                    let k = taps.count * cin
                    claimRanges(16, workers: workers) { _, positions in
                        for xi in positions {
                            Gemm.multiply(
                                m: cout, n: k, k: cols, MatrixView(buffers.output + xi * cout * cols, rowStride: cols),
                                MatrixView.transposed(buffers.input + (xi * frames + first) * cin * cols, rowStride: cols),
                                buffers.weights + xi * cout * kFull + taps.lowerBound * cin, ldc: kFull, accumulate: true)
                        }
                    }
                }
            }
            filterGradient(dw, buffers.weights, workers: workers)
        }
    }

    // MARK: Weights

    /// `U_ξ [Cout, kD·Cin]` (tap-major columns) `= G g Gᵀ` for every 3×3 filter `g` of the used
    /// taps, 8 input channels at a time (their filters are 9·kD floats apart; their transforms
    /// land side by side in each `U_ξ`). `scale`: a factor per output channel (`ConvEpilogue.scale`).
    private func transformWeights(_ u: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, scale: UnsafePointer<Float>? = nil, workers: Int) {
        let cout = g.outChannels, cin = g.inChannels, kd = g.kernel.d, kFull = self.kFull, taps = g.usedTaps
        let target = SendablePointer(u), source = SendableConstPointer(w), factors = scale.map { SendableConstPointer($0) }
        claimRanges(cout, workers: workers) { _, outputs in
            for o in outputs {
                let factor = factors?.base[o] ?? 1
                for a in taps {
                    for c0 in stride(from: 0, to: cin, by: 8) {
                        let count = min(8, cin - c0), f = source.base + ((o * cin + c0) * kd + a) * 9
                        func tap(_ k: Int) -> SIMD8<Float> {
                            var v = SIMD8<Float>.zero
                            for l in 0..<count { v[l] = f[l * kd * 9 + k] }
                            return v * factor
                        }
                        // G · g (4×3), column by column, then · Gᵀ row by row.
                        let p = gTransform(tap(0), tap(3), tap(6)), q = gTransform(tap(1), tap(4), tap(7)), r = gTransform(tap(2), tap(5), tap(8))
                        let out = target.base + o * kFull + a * cin + c0, plane = cout * kFull
                        func row(_ i: Int, _ x: SIMD8<Float>, _ y: SIMD8<Float>, _ z: SIMD8<Float>) {
                            let u = gTransform(x, y, z)
                            store(out + 4 * i * plane, u.0, count)
                            store(out + (4 * i + 1) * plane, u.1, count)
                            store(out + (4 * i + 2) * plane, u.2, count)
                            store(out + (4 * i + 3) * plane, u.3, count)
                        }
                        row(0, p.0, q.0, r.0)
                        row(1, p.1, q.1, r.1)
                        row(2, p.2, q.2, r.2)
                        row(3, p.3, q.3, r.3)
                    }
                }
            }
        }
    }

    /// `G · (g0, g1, g2)`, for each lane.
    @inline(__always)
    private func gTransform(
        _ g0: SIMD8<Float>, _ g1: SIMD8<Float>, _ g2: SIMD8<Float>
    ) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        (g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
    }

    /// `Gᵀ · (u0, u1, u2, u3)`: the adjoint of `gTransform`.
    @inline(__always)
    private func gAdjoint(_ u: SIMD4<Float>) -> SIMD3<Float> {
        SIMD3(u[0] + 0.5 * (u[1] + u[2]), 0.5 * (u[1] - u[2]), 0.5 * (u[1] + u[2]) + u[3])
    }

    /// `dw = Gᵀ dU G` for every filter of the used taps; the others are 0.
    private func filterGradient(_ dw: UnsafeMutablePointer<Float>, _ du: UnsafePointer<Float>, workers: Int) {
        let cout = g.outChannels, cin = g.inChannels, kd = g.kernel.d, kFull = self.kFull, taps = g.usedTaps
        let target = SendablePointer(dw), source = SendableConstPointer(du)
        claimRanges(cout, workers: workers) { _, outputs in
            for o in outputs {
                for c in 0..<cin {
                    for a in 0..<kd {
                        let f = target.base + ((o * cin + c) * kd + a) * 9
                        guard taps.contains(a) else {
                            f.update(repeating: 0, count: 9)
                            continue
                        }
                        // dU · G row by row, then Gᵀ · column by column.
                        let u = source.base + o * kFull + a * cin + c, xi = cout * kFull
                        let r0 = gAdjoint(SIMD4(u[0], u[xi], u[2 * xi], u[3 * xi]))
                        let r1 = gAdjoint(SIMD4(u[4 * xi], u[5 * xi], u[6 * xi], u[7 * xi]))
                        let r2 = gAdjoint(SIMD4(u[8 * xi], u[9 * xi], u[10 * xi], u[11 * xi]))
                        let r3 = gAdjoint(SIMD4(u[12 * xi], u[13 * xi], u[14 * xi], u[15 * xi]))
                        for col in 0..<3 {
                            let values = gAdjoint(SIMD4(r0[col], r1[col], r2[col], r3[col]))
                            f[col] = values[0]
                            f[3 + col] = values[1]
                            f[6 + col] = values[2]
                        }
                    }
                }
            }
        }
    }

    // MARK: Planes

    /// Row `row` of a group's work on `V`: (frame, channel, sample) → the input plane's offset and
    /// the first float of its row of `V`.
    @inline(__always)
    private func inputPlane(n0: Int, count: Int, row: Int) -> (plane: Int, v: Int) {
        let r = row / count, s = row % count, frame = r / g.inChannels, c = r % g.inChannels
        return ((((n0 + s) * g.inChannels + c) * g.input.d + frame) * g.input.h * g.input.w, r * count * tilePlane + s * tilePlane)
    }

    /// Transforms one input plane (row `row` of the group) into `V[ξ][frame][c][s·S + block]`.
    private func transformInput(
        _ v: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, n0: Int, count: Int, row: Int, worker: UnsafeMutablePointer<Float>
    ) {
        let (offset, first) = inputPlane(n0: n0, count: count, row: row)
        let plane = x + offset, lanes = self.lanes, inH = g.input.h, inW = g.input.w, ph = g.padding.h, pw = g.padding.w
        let rowsCount = 2 * tilesH + 2
        let h = worker
        // Horizontal transform of each padded row ρ (input row ρ - ph): Bᵀ applied to (d0, d1, d2, d3),
        // the padded columns 2b … 2b + 3 of each block column b.
        for rho in 0..<rowsCount {
            let hr = h + rho * 4 * lanes, ih = rho - ph
            guard ih >= 0 && ih < inH else {
                hr.update(repeating: 0, count: 4 * lanes)
                continue
            }
            let row = plane + ih * inW
            for b in stride(from: 0, to: lanes, by: 8) {
                let (e0, o0) = columnPairs(row, width: inW, from: 2 * b - pw), (e1, o1) = columnPairs(row, width: inW, from: 2 * b + 2 - pw)
                store(hr + b, e0 - e1)
                store(hr + lanes + b, o0 + e1)
                store(hr + 2 * lanes + b, e1 - o0)
                store(hr + 3 * lanes + b, o0 - o1)
            }
        }
        // Vertical transform of rows 2·by … 2·by + 3 for each block row.
        let xiStride = g.input.d * g.inChannels * count * tilePlane
        let base = v + first
        for by in 0..<tilesH {
            let r0 = h + 2 * by * 4 * lanes, r1 = r0 + 4 * lanes, r2 = r1 + 4 * lanes, r3 = r2 + 4 * lanes
            let out = base + by * tilesW
            for b in stride(from: 0, to: tilesW, by: 8) {
                let count = storedLanes(by, b)
                for j in 0..<4 {
                    let t0 = load(r0 + j * lanes + b), t1 = load(r1 + j * lanes + b), t2 = load(r2 + j * lanes + b), t3 = load(r3 + j * lanes + b)
                    store(out + j * xiStride + b, t0 - t2, count)
                    store(out + (4 + j) * xiStride + b, t1 + t2, count)
                    store(out + (8 + j) * xiStride + b, t2 - t1, count)
                    store(out + (12 + j) * xiStride + b, t1 - t3, count)
                }
            }
        }
    }

    /// Output plane (sample, channel) `plane` of depth `od` of the group: `y = epilogue(Aᵀ M A)` for every block.
    private func transformOutput(
        _ y: UnsafeMutablePointer<Float>, _ m: UnsafePointer<Float>, n0: Int, count groupCount: Int, od: Int, plane: Int, bias: Float,
        _ activation: ActivationKind?, worker: UnsafeMutablePointer<Float>
    ) {
        let cout = g.outChannels, s = plane / cout, o = plane % cout, lanes = self.lanes
        let cols = groupCount * tilePlane, xiStride = cout * cols, outH = g.output.h, outW = g.output.w
        let source = m + o * cols + s * tilePlane
        let target = y + (((n0 + s) * cout + o) * g.output.d + od) * outH * outW
        let row0 = worker, row1 = worker + 2 * lanes
        for by in 0..<tilesH {
            for b in stride(from: 0, to: tilesW, by: 8) {
                let count = min(8, tilesW - b)
                // Aᵀ over rows (i), for each column j; then over columns.
                let at = source + by * tilesW + b
                func column(_ j: Int) -> (SIMD8<Float>, SIMD8<Float>) {
                    let m0 = load(at + j * xiStride, count), m1 = load(at + (4 + j) * xiStride, count)
                    let m2 = load(at + (8 + j) * xiStride, count), m3 = load(at + (12 + j) * xiStride, count)
                    return (m0 + m1 + m2, m1 - m2 - m3)
                }
                let (p00, p10) = column(0), (p01, p11) = column(1), (p02, p12) = column(2), (p03, p13) = column(3)
                let y00 = p00 + p01 + p02, y01 = p01 - p02 - p03
                let y10 = p10 + p11 + p12, y11 = p11 - p12 - p13
                var top = SIMD16<Float>(), bottom = SIMD16<Float>()
                top.evenHalf = y00
                top.oddHalf = y01
                bottom.evenHalf = y10
                bottom.oddHalf = y11
                UnsafeMutableRawPointer(row0 + 2 * b).storeBytes(of: top, as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(row1 + 2 * b).storeBytes(of: bottom, as: SIMD16<Float>.self)
            }
            let oh = 2 * by
            applyEpilogue(target + oh * outW, row0, outW, bias: bias, activation)
            if oh + 1 < outH { applyEpilogue(target + (oh + 1) * outW, row1, outW, bias: bias, activation) }
        }
    }

    /// Output-gradient plane (sample, channel) `plane` of depth `od` of the group into `dM[ξ][o][s·S + block] = A dY Aᵀ`.
    private func transformGradient(_ dm: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, n0: Int, count groupCount: Int, od: Int, plane: Int) {
        let cout = g.outChannels, s = plane / cout, o = plane % cout
        let cols = groupCount * tilePlane, xiStride = cout * cols, outH = g.output.h, outW = g.output.w
        let source = dy + (((n0 + s) * cout + o) * g.output.d + od) * outH * outW
        let target = dm + o * cols + s * tilePlane
        for by in 0..<tilesH {
            // Even and odd columns of the block's two rows (0 past the plane).
            let top = source + 2 * by * outW, bottomInside = 2 * by + 1 < outH
            for b in stride(from: 0, to: tilesW, by: 8) {
                let count = storedLanes(by, b)
                let (a0, b0) = columnPairs(top, width: outW, from: 2 * b)
                let (a1, b1) = bottomInside ? columnPairs(top + outW, width: outW, from: 2 * b) : (.zero, .zero)
                let out = target + by * tilesW + b
                // A over columns: (e, e + o, e − o, −o); then over rows likewise.
                func rows(_ j: Int, _ h0: SIMD8<Float>, _ h1: SIMD8<Float>) {
                    store(out + j * xiStride, h0, count)
                    store(out + (4 + j) * xiStride, h0 + h1, count)
                    store(out + (8 + j) * xiStride, h0 - h1, count)
                    store(out + (12 + j) * xiStride, -h1, count)
                }
                rows(0, a0, a1)
                rows(1, a0 + b0, a1 + b1)
                rows(2, a0 - b0, a1 - b1)
                rows(3, -b0, -b1)
            }
        }
    }

    /// Writes `B dV Bᵀ` of row `row` of the group (frame, channel, sample) to its input plane of `dx`.
    private func scatterInputGradient(
        _ dx: UnsafeMutablePointer<Float>, _ dv: UnsafePointer<Float>, n0: Int, count: Int, row: Int, worker: UnsafeMutablePointer<Float>
    ) {
        let (offset, first) = inputPlane(n0: n0, count: count, row: row)
        let plane = dx + offset, lanes = self.lanes, inH = g.input.h, inW = g.input.w, ph = g.padding.h, pw = g.padding.w
        let rowsCount = 2 * tilesH + 2
        let h = worker
        h.update(repeating: 0, count: rowsCount * 4 * lanes)
        let xiStride = g.input.d * g.inChannels * count * tilePlane
        let base = dv + first
        // Vertical adjoint of Bᵀ into the padded rows' horizontal gradients (rows shared by
        // neighbouring blocks add up).
        for by in 0..<tilesH {
            let r0 = h + 2 * by * 4 * lanes, r1 = r0 + 4 * lanes, r2 = r1 + 4 * lanes, r3 = r2 + 4 * lanes
            let source = base + by * tilesW
            for b in stride(from: 0, to: tilesW, by: 8) {
                let count = min(8, tilesW - b)
                for j in 0..<4 {
                    let v0 = load(source + j * xiStride + b, count), v1 = load(source + (4 + j) * xiStride + b, count)
                    let v2 = load(source + (8 + j) * xiStride + b, count), v3 = load(source + (12 + j) * xiStride + b, count)
                    add(r0 + j * lanes + b, v0)
                    add(r1 + j * lanes + b, v1 - v2 + v3)
                    add(r2 + j * lanes + b, v1 + v2 - v0)
                    add(r3 + j * lanes + b, -v3)
                }
            }
        }
        // Horizontal adjoint: block column b gives (h0, h1 − h2 + h3) at padded columns (2b, 2b + 1)
        // and (h1 + h2 − h0, −h3) at (2b + 2, 2b + 3); the padded row is then copied without its padding.
        let padded = h + rowsCount * 4 * lanes
        for rho in 0..<rowsCount {
            let ih = rho - ph
            guard ih >= 0 && ih < inH else { continue }
            let hr = h + rho * 4 * lanes, target = plane + ih * inW
            // Block −1 contributes nothing: its vector is the first block's shifted by one lane, with a 0 first.
            for b in stride(from: 0, to: lanes, by: 8) {
                let h0 = load(hr + b), h1 = load(hr + lanes + b), h2 = load(hr + 2 * lanes + b), h3 = load(hr + 3 * lanes + b)
                var evens = h0, odds = h1 - h2 + h3
                let first = b == 0 ? 1 : 0
                func previous(_ j: Int) -> SIMD8<Float> { emotion3d_load_lanes(hr + j * lanes + b - 1, first, 8) }
                let p0 = previous(0), p1 = previous(1), p2 = previous(2), p3 = previous(3)
                evens += p1 + p2 - p0
                odds -= p3
                var pair = SIMD16<Float>()
                pair.evenHalf = evens
                pair.oddHalf = odds
                UnsafeMutableRawPointer(padded + 2 * b).storeBytes(of: pair, as: SIMD16<Float>.self)
            }
            target.update(from: padded + pw, count: inW)
        }
    }

    // MARK: Vectors

    @inline(__always)
    private func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    private func load(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { load(UnsafePointer(p)) }

    /// The first `count` lanes from `p`, the rest 0.
    @inline(__always)
    private func load(_ p: UnsafePointer<Float>, _ count: Int) -> SIMD8<Float> { emotion3d_load_lanes(p, 0, count) }

    /// Lanes to store of the 8 blocks from column `b` of block row `by` into a plane's part of a
    /// row of `V` or `dM`: all 8 while they stay inside the plane, since what spills past a block
    /// row lands on the next ones, which the same call writes afterwards.
    @inline(__always)
    private func storedLanes(_ by: Int, _ b: Int) -> Int { by * tilesW + b + 8 <= tilePlane ? 8 : min(8, tilesW - b) }

    @inline(__always)
    private func store(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// Stores the first `count` lanes.
    @inline(__always)
    private func store(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>, _ count: Int) { emotion3d_store_lanes(p, v, count) }

    @inline(__always)
    private func add(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) { store(p, load(p) + v) }
}
