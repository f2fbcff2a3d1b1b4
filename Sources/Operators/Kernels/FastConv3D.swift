import Dispatch
import Foundation
import GraphCore

/// What the forward convolution's epilogue applies while it scatters a tile to `[N, C, D, H, W]`:
/// a per-channel bias and an activation, in the same pass over the output.
struct ConvEpilogue: @unchecked Sendable {
    /// `[Cout]`, or nil.
    var bias: UnsafePointer<Float>?
    var activation: ActivationKind?
    /// `[Cout]`, or nil: each output channel's filter is multiplied by it (a BatchNorm folded into
    /// the convolution), as the kernels pack their weights, so the scaled filter is never written out.
    var scale: UnsafePointer<Float>? = nil
    /// Where a kernel may keep its transformed weights (with `scale` applied) from one call to the
    /// next, or nil (`EvaluationContext.prepared`).
    var prepared: PreparedWeights? = nil
}

/// The fast single-precision 3D convolution: vol2col + sgemm, tiled.
///
/// Work is cut into tiles of one output depth plane × a group of samples. Each tile's column
/// matrix `[kD'·Cin·kH·kW, samples·H'·W']` holds only the depth taps that fall inside the input
/// for that plane, so whole planes of padding (2 of 3 taps on the 1-frame deep layers) cost
/// nothing. It is built and consumed in slices of about 256 rows, one sgemm each, so the column
/// buffer stays small and in cache. Weights are permuted to `[Cout, kD, Cin, kH, kW]` so that
/// those taps are contiguous columns of one sgemm operand. Both cores work either on their own
/// tiles (large planes, small weight matrices) or on halves of each product (`Gemm`), with
/// OpenBLAS single-threaded: one level of parallelism, never nested.
struct FastConv3D {
    let g: ConvGeometry
    let kk: Int, kFull: Int, outPlane: Int, outVolume: Int, inPlane: Int, inVolume: Int
    /// Samples per tile at most: enough columns for sgemm to run at speed on small planes.
    let chunk: Int
    /// Tiles per output plane over the whole batch, of near-equal sample counts.
    let chunks: Int

    /// Column-matrix rows built at a time: whole (tap, channel) groups, about 256 rows. The
    /// passes run one sgemm per such slice, so the slice is still in cache when sgemm packs it
    /// (measured with OpenBLAS, 256 × 784 × 6912: 96 GFLOP/s on one core from a whole column
    /// matrix, 101 from slices of 256 rows), and the column buffer stays small.
    let groupsPerSlice: Int

    /// Column-buffer budget in floats (16 MiB); a single (plane, sample) tile may exceed it.
    static let columnBudget = 1 << 22

    init(_ g: ConvGeometry) {
        self.g = g
        kk = g.kernel.h * g.kernel.w
        kFull = g.kernel.d * g.inChannels * kk
        outPlane = g.output.h * g.output.w
        outVolume = g.output.d * outPlane
        inPlane = g.input.h * g.input.w
        inVolume = g.input.d * inPlane
        var samples = max(1, min(g.batch, (1024 + outPlane - 1) / outPlane))
        // Where one product is split over the cores (`gemmWorkers`), a slice per call would
        // synchronise the cores ~27 times per tile: there the slice is the whole column matrix.
        let groups = g.kernel.d * g.inChannels
        let sliced = FastConv3D.workers == 1 || FastConv3D.splits(outPlane: outPlane, weights: g.outChannels * kFull)
        groupsPerSlice = sliced ? max(1, min(groups, 256 / kk)) : groups
        while samples > 1 && samples * outPlane * groupsPerSlice * kk > FastConv3D.columnBudget { samples -= 1 }
        var parts = (g.batch + samples - 1) / samples
        // Where workers split the tiles, a whole number of equal tiles per worker: with 29 + 1
        // samples per plane, one worker took all the work.
        let workers = FastConv3D.workers
        if FastConv3D.splits(outPlane: outPlane, weights: g.outChannels * kFull) {
            while parts < g.batch && (g.output.d * parts) % workers != 0 { parts += 1 }
        }
        chunks = parts
        chunk = (g.batch + parts - 1) / parts
    }

    /// `[Cout, Cin, kD, kH, kW]` → `[Cout, kD, Cin, kH, kW]` for depth taps `taps` (or back with
    /// `inverse`, all taps). Runs of `kH·kW` (9) floats are copied by a loop: a memmove call per run
    /// cost more than the copy (786 432 runs on the 512-channel layers). `scale`: a factor per
    /// output channel (`ConvEpilogue.scale`).
    func permuteWeights(
        _ target: UnsafeMutablePointer<Float>, _ source: UnsafePointer<Float>, inverse: Bool = false, taps: Range<Int>? = nil,
        scale: UnsafePointer<Float>? = nil
    ) {
        let cin = g.inChannels, kd = g.kernel.d, kk = self.kk
        let taps = inverse ? 0..<kd : taps ?? 0..<kd
        for o in 0..<g.outChannels {
            let factor = scale?[o] ?? 1
            for i in 0..<cin {
                for a in taps {
                    let standard = ((o * cin + i) * kd + a) * kk, permuted = ((o * kd + a) * cin + i) * kk
                    let (to, from) = inverse ? (target + standard, source + permuted) : (target + permuted, source + standard)
                    if scale == nil {
                        for t in 0..<kk { to[t] = from[t] }
                    } else {
                        for t in 0..<kk { to[t] = from[t] * factor }
                    }
                }
            }
        }
    }

    /// The slices of a tile's column matrix: ranges of (tap, channel) groups, `kk` rows each.
    func slices(taps: Range<Int>) -> [Range<Int>] {
        let groups = taps.count * g.inChannels
        return stride(from: 0, to: groups, by: groupsPerSlice).map { $0..<min(groups, $0 + groupsPerSlice) }
    }

    /// Visits the column-matrix rows of (tap, channel) groups `groups` of a tile as (row within
    /// the slice, input depth plane, channel, kernel row, kernel column) — shared by vol2col and
    /// col2vol.
    @inline(__always)
    private func forEachRow(
        od: Int, taps: Range<Int>, groups: Range<Int>, _ body: (_ row: Int, _ id: Int, _ i: Int, _ b: Int, _ c: Int) -> Void
    ) {
        for group in groups {
            let a = taps.lowerBound + group / g.inChannels, i = group % g.inChannels
            let id = od * g.stride.d + a - g.padding.d
            for b in 0..<g.kernel.h {
                for c in 0..<g.kernel.w {
                    body((group - groups.lowerBound) * kk + b * g.kernel.w + c, id, i, b, c)
                }
            }
        }
    }

    /// Fills slice `groups` of the column matrix of tile (`od`, samples `n0..<n0+count`):
    /// row-major `[groups.count·kH·kW, count·H'·W']`.
    func vol2col(
        _ col: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, od: Int, taps: Range<Int>, groups: Range<Int>, n0: Int, count: Int
    ) {
        let cols = count * outPlane, ow = g.output.w, sh = g.stride.h, sw = g.stride.w
        let ph = g.padding.h, pw = g.padding.w, inH = g.input.h, inW = g.input.w
        forEachRow(od: od, taps: taps, groups: groups) { row, id, i, b, c in
            let columns = validOutputs(tap: c, stride: sw, padding: pw, extent: inW, outputs: ow)
            for s in 0..<count {
                var dst = col + row * cols + s * outPlane
                let plane = x + ((n0 + s) * g.inChannels + i) * inVolume + id * inPlane
                for oh in 0..<g.output.h {
                    let ih = oh * sh + b - ph
                    if ih < 0 || ih >= inH || columns.isEmpty {
                        dst.update(repeating: 0, count: ow)
                    } else {
                        if columns.lowerBound > 0 { dst.update(repeating: 0, count: columns.lowerBound) }
                        let src = plane + ih * inW + c - pw
                        if sw == 1 {
                            (dst + columns.lowerBound).update(from: src + columns.lowerBound, count: columns.count)
                        } else {
                            for w in columns { dst[w] = src[w * sw] }
                        }
                        if columns.upperBound < ow { (dst + columns.upperBound).update(repeating: 0, count: ow - columns.upperBound) }
                    }
                    dst += ow
                }
            }
        }
    }

    /// Adds slice `groups` of a tile's column matrix back into `dx` (the adjoint of `vol2col`).
    func col2vol(
        _ dx: UnsafeMutablePointer<Float>, _ col: UnsafePointer<Float>, od: Int, taps: Range<Int>, groups: Range<Int>, n0: Int, count: Int
    ) {
        let cols = count * outPlane, ow = g.output.w, sh = g.stride.h, sw = g.stride.w
        let ph = g.padding.h, pw = g.padding.w, inH = g.input.h, inW = g.input.w
        forEachRow(od: od, taps: taps, groups: groups) { row, id, i, b, c in
            let columns = validOutputs(tap: c, stride: sw, padding: pw, extent: inW, outputs: ow)
            if columns.isEmpty { return }
            for s in 0..<count {
                var src = col + row * cols + s * outPlane
                let plane = dx + ((n0 + s) * g.inChannels + i) * inVolume + id * inPlane
                for oh in 0..<g.output.h {
                    let ih = oh * sh + b - ph
                    if ih >= 0 && ih < inH {
                        let dst = plane + ih * inW + c - pw
                        for w in columns { dst[w * sw] += src[w] }
                    }
                    src += ow
                }
            }
        }
    }

    /// Copies `dy`'s tile (`od`, samples `n0..<n0+count`) into `[Cout, count·H'·W']`.
    func gatherTile(_ tile: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, od: Int, n0: Int, count: Int) {
        let cols = count * outPlane
        for s in 0..<count {
            for o in 0..<g.outChannels {
                (tile + o * cols + s * outPlane).update(from: dy + ((n0 + s) * g.outChannels + o) * outVolume + od * outPlane, count: outPlane)
            }
        }
    }

    private var maxColumns: Int { chunk * outPlane }

    /// One unit of work: output depth plane `od` of samples `n0..<n0+count`.
    struct Tile: Sendable {
        let od: Int, taps: Range<Int>, n0: Int, count: Int
    }

    /// The tiles of `samples`, cut into near-equal runs of at most `chunk` samples.
    func tiles(samples: Range<Int>) -> [Tile] {
        let parts = samples.count == g.batch ? chunks : (samples.count + chunk - 1) / chunk
        var result: [Tile] = []
        for od in 0..<g.output.d {
            for part in 0..<parts {
                let start = samples.lowerBound + samples.count * part / parts, end = samples.lowerBound + samples.count * (part + 1) / parts
                if end > start { result.append(Tile(od: od, taps: g.depthTaps(od), n0: start, count: end - start)) }
            }
        }
        return result
    }

    /// Workers of one convolution: one per core (at most 2), or `EMOTION3D_CONV_WORKERS` (1 leaves
    /// all parallelism to OpenBLAS's threads inside sgemm).
    static var workers: Int { min(requestedWorkers ?? KernelThreads.count, KernelThreads.count) }
    private static let requestedWorkers: Int? = {
        guard let text = ProcessInfo.processInfo.environment["EMOTION3D_CONV_WORKERS"], let value = Int(text), value >= 1 else { return nil }
        return value
    }()

    /// Whether tiles go to one worker per core. Measured on this machine (`emotion3d bench
    /// --layer-network full|small`): on large planes the serial vol2col/col2vol around a 2-thread
    /// sgemm costs more than single-threaded sgemm per worker; on small weight matrices (the small
    /// configuration's layers) OpenBLAS's threads cost more than they bring (backward-filter of
    /// 16→32 channels at 24×24: 20 GFLOP/s with them, 107 with one worker per core); on 14×14 and
    /// 7×7 planes with 256–512 channels there are few tiles and per-worker filter accumulators
    /// (up to 28 MB each) cost more than they save: each product is split by rows instead
    /// (`EMOTION3D_CONV_SPLIT=tiles` on the 7×7 layers at batch 4: 40–54 GFLOP/s; by rows: 75–81).
    static func splits(outPlane: Int, weights: Int) -> Bool {
        if let forced = forcedSplit { return workers > 1 && forced == "tiles" }
        return workers > 1 && (outPlane >= 784 || weights <= 1 << 20)
    }

    /// `EMOTION3D_CONV_SPLIT=tiles|rows` forces one way of sharing the cores, to measure both.
    private static let forcedSplit: String? = ProcessInfo.processInfo.environment["EMOTION3D_CONV_SPLIT"]

    /// Whether the convolution is large enough for one worker per core (≥ ~0.5 ms per worker).
    private var isParallel: Bool {
        FastConv3D.splits(outPlane: outPlane, weights: g.outChannels * kFull) && g.multiplyAdds >= 8_000_000
    }

    /// Runs `body(worker, tiles)` for each list: with several lists, one worker per core; with one
    /// list, a single worker whose products are split by rows over the cores (`gemmWorkers`).
    /// Either way OpenBLAS runs single-threaded meanwhile: one level of parallelism, coarse chunks.
    private func distribute(_ lists: [[Tile]], _ body: @Sendable (Int, [Tile]) -> Void) {
        let lists = lists.filter { !$0.isEmpty }
        if FastConv3D.workers == 1 {
            BLASThreads.shared { for (worker, list) in lists.enumerated() { body(worker, list) } }
        } else if lists.count > 1 {
            BLASThreads.singleThreaded { DispatchQueue.concurrentPerform(iterations: lists.count) { body($0, lists[$0]) } }
        } else {
            BLASThreads.singleThreaded { body(0, lists.first ?? []) }
        }
    }

    /// Parts each product is split into: all cores when the tiles themselves are not.
    private func gemmWorkers(_ lists: [[Tile]]) -> Int { lists.filter { !$0.isEmpty }.count > 1 ? 1 : FastConv3D.workers }

    /// Tiles dealt round-robin to the workers (for kernels whose tiles write disjoint outputs or
    /// per-worker accumulators).
    private func interleaved() -> [[Tile]] {
        let all = tiles(samples: 0..<g.batch)
        guard isParallel, all.count > 1 else { return [all] }
        return (0..<FastConv3D.workers).map { worker in stride(from: worker, to: all.count, by: FastConv3D.workers).map { all[$0] } }
    }

    private var columnCount: Int { max(1, min(kFull, groupsPerSlice * kk) * maxColumns) }
    private var tileCount: Int { g.outChannels * maxColumns }
    /// Scratch of one worker: a column tile and an output tile.
    private var workerFloats: Int { Scratch.floats([columnCount, tileCount]) }

    /// Floats of scratch `pass` takes with `workers` workers (the shared permuted weights or
    /// filter accumulators, then each worker's tiles).
    func scratchFloats(_ pass: ConvPass, workers: Int = FastConv3D.workers) -> Int {
        let weights = g.outChannels * kFull
        return Scratch.floats([pass == .backwardFilter ? weights * workers : weights]) + workers * workerFloats
    }

    /// Each worker's (column tile, output tile), carved from `scratch`.
    private func workerTiles(_ scratch: inout Scratch, _ workers: Int) -> [(col: SendablePointer<Float>, tile: SendablePointer<Float>)] {
        (0..<max(workers, 1)).map { _ in (SendablePointer(scratch.take(columnCount)), SendablePointer(scratch.take(tileCount))) }
    }

    /// `y [N, Cout, D', H', W'] = epilogue(conv(x, w))`; `w` in the standard layout.
    func forward(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue,
        scratch given: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        let lists = interleaved()
        Scratch.with(given, floats: scratchFloats(.forward, workers: lists.count)) { scratch in
            forward(y, x, w, epilogue, lists, &scratch)
        }
    }

    private func forward(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue, _ lists: [[Tile]],
        _ scratch: inout Scratch
    ) {
        let cout = g.outChannels, cin = g.inChannels, kk = self.kk, kFull = self.kFull, outPlane = self.outPlane
        let permuted = scratch.take(cout * kFull)
        permuteWeights(permuted, w, taps: g.usedTaps, scale: epilogue.scale)
        let shared = (y: SendablePointer(y), x: SendableConstPointer(x), w: SendableConstPointer(UnsafePointer(permuted)))
        let bias = epilogue.bias.map { SendableConstPointer($0) }, activation = epilogue.activation
        let buffers = workerTiles(&scratch, lists.count), parts = gemmWorkers(lists)
        distribute(lists) { worker, tiles in
            let col = buffers[worker].col.base, tile = buffers[worker].tile.base
            for t in tiles {
                let cols = t.count * outPlane
                if !t.taps.isEmpty {
                    for (index, groups) in slices(taps: t.taps).enumerated() {
                        vol2col(col, shared.x.base, od: t.od, taps: t.taps, groups: groups, n0: t.n0, count: t.count)
                        Gemm.multiply(
                            m: cout, n: cols, k: groups.count * kk,
                            MatrixView(shared.w.base + (t.taps.lowerBound * cin + groups.lowerBound) * kk, rowStride: kFull),
                            MatrixView(col, rowStride: cols), tile, ldc: cols, accumulate: index > 0, workers: parts)
                    }
                } else {
                    tile.update(repeating: 0, count: cout * cols)
                }
                for s in 0..<t.count {
                    for o in 0..<cout {
                        applyEpilogue(
                            shared.y.base + ((t.n0 + s) * cout + o) * outVolume + t.od * outPlane, tile + o * cols + s * outPlane, outPlane,
                            bias: bias?.base[o] ?? 0, activation)
                    }
                }
            }
        }
    }

    /// `dx [N, Cin, D, H, W]` from `dy [N, Cout, D', H', W']` and `w`. Tiles of different depth planes
    /// add into the same input planes, so workers split the samples.
    func backwardData(
        _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, scratch given: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        let lists: [[Tile]]
        if isParallel && g.batch >= FastConv3D.workers {
            let workers = FastConv3D.workers
            lists = (0..<workers).map { tiles(samples: (g.batch * $0 / workers)..<(g.batch * ($0 + 1) / workers)) }
        } else {
            lists = [tiles(samples: 0..<g.batch)]
        }
        Scratch.with(given, floats: scratchFloats(.backwardData, workers: lists.count)) { scratch in
            backwardData(dx, dy, w, lists, &scratch)
        }
    }

    private func backwardData(
        _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ lists: [[Tile]], _ scratch: inout Scratch
    ) {
        let cout = g.outChannels, cin = g.inChannels, kk = self.kk, kFull = self.kFull, outPlane = self.outPlane
        dx.update(repeating: 0, count: g.batch * cin * inVolume)
        let permuted = scratch.take(cout * kFull)
        permuteWeights(permuted, w, taps: g.usedTaps)
        let shared = (dx: SendablePointer(dx), dy: SendableConstPointer(dy), w: SendableConstPointer(UnsafePointer(permuted)))
        let buffers = workerTiles(&scratch, lists.count), parts = gemmWorkers(lists)
        distribute(lists) { worker, tiles in
            let col = buffers[worker].col.base, tile = buffers[worker].tile.base
            for t in tiles {
                let cols = t.count * outPlane
                guard !t.taps.isEmpty else { continue }
                gatherTile(tile, shared.dy.base, od: t.od, n0: t.n0, count: t.count)
                for groups in slices(taps: t.taps) {
                    Gemm.multiply(
                        m: groups.count * kk, n: cols, k: cout,
                        MatrixView.transposed(shared.w.base + (t.taps.lowerBound * cin + groups.lowerBound) * kk, rowStride: kFull),
                        MatrixView(tile, rowStride: cols), col, ldc: cols, accumulate: false, workers: parts)
                    col2vol(shared.dx.base, col, od: t.od, taps: t.taps, groups: groups, n0: t.n0, count: t.count)
                }
            }
        }
    }

    /// `dw [Cout, Cin, kD, kH, kW]` from `dy` and `x`; each worker accumulates its own copy.
    func backwardFilter(
        _ dw: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, scratch given: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        let lists = interleaved()
        Scratch.with(given, floats: scratchFloats(.backwardFilter, workers: lists.count)) { scratch in
            backwardFilter(dw, dy, x, lists, &scratch)
        }
    }

    private func backwardFilter(
        _ dw: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ lists: [[Tile]], _ scratch: inout Scratch
    ) {
        let cout = g.outChannels, cin = g.inChannels, kk = self.kk, kFull = self.kFull, outPlane = self.outPlane
        let size = cout * kFull
        let accumulators = scratch.take(size * lists.count)
        accumulators.update(repeating: 0, count: size * lists.count)
        let shared = (acc: SendablePointer(accumulators), dy: SendableConstPointer(dy), x: SendableConstPointer(x))
        let buffers = workerTiles(&scratch, lists.count), parts = gemmWorkers(lists)
        distribute(lists) { worker, tiles in
            let col = buffers[worker].col.base, tile = buffers[worker].tile.base
            let target = shared.acc.base + worker * size
            for t in tiles {
                let cols = t.count * outPlane
                guard !t.taps.isEmpty else { continue }
                gatherTile(tile, shared.dy.base, od: t.od, n0: t.n0, count: t.count)
                for groups in slices(taps: t.taps) {
                    vol2col(col, shared.x.base, od: t.od, taps: t.taps, groups: groups, n0: t.n0, count: t.count)
                    Gemm.multiply(
                        m: cout, n: groups.count * kk, k: cols, MatrixView(tile, rowStride: cols), MatrixView.transposed(col, rowStride: cols),
                        target + (t.taps.lowerBound * cin + groups.lowerBound) * kk, ldc: kFull, accumulate: true, workers: parts)
                }
            }
        }
        for worker in 1..<max(lists.count, 1) {
            let other = accumulators + worker * size
            for k in 0..<size { accumulators[k] += other[k] }
        }
        permuteWeights(dw, accumulators, inverse: true)
    }

    /// Multiply-adds of the convolution, counting only taps that fall inside the input.
    var usefulMultiplyAdds: Int {
        var taps = 0
        forEachRowCount { taps += $0 }
        return taps * g.batch * g.outChannels * g.inChannels
    }

    private func forEachRowCount(_ body: (Int) -> Void) {
        let k = g.kernel, s = g.stride, p = g.padding, o = g.output, i = g.input
        for a in 0..<k.d {
            let dCount = validOutputs(tap: a, stride: s.d, padding: p.d, extent: i.d, outputs: o.d).count
            for b in 0..<k.h {
                let hCount = validOutputs(tap: b, stride: s.h, padding: p.h, extent: i.h, outputs: o.h).count
                for c in 0..<k.w {
                    body(dCount * hCount * validOutputs(tap: c, stride: s.w, padding: p.w, extent: i.w, outputs: o.w).count)
                }
            }
        }
    }
}

/// `target[j] = f(source[j] + bias)` for one output row; `f` from the activation (identity if nil).
@inline(__always)
func applyEpilogue(
    _ target: UnsafeMutablePointer<Float>, _ source: UnsafePointer<Float>, _ count: Int, bias: Float, _ activation: ActivationKind?
) {
    switch activation {
    case nil:
        for j in 0..<count { target[j] = source[j] + bias }
    case .relu?:
        for j in 0..<count { let v = source[j] + bias; target[j] = v > 0 ? v : 0 }
    case let .leakyRelu(slope)?:
        let s = Float(slope)
        for j in 0..<count { let v = source[j] + bias; target[j] = v > 0 ? v : s * v }
    case let kind?:
        for j in 0..<count { target[j] = kind.derivative(source[j] + bias, order: 0) }
    }
}

/// Floats of scratch a convolution pass takes for these shapes, for one worker per core: what the
/// kernel `ConvAlgorithm` will run takes (the larger of both when it chooses by timing). A memory
/// planner reserves this much while the node runs; the kernels then allocate nothing.
public func conv3DScratchCount(input: Shape, weight: Shape, stride: Triple, padding: Triple, pass: ConvPass) -> Int {
    let g = ConvGeometry(input: input, weight: weight, stride: stride, padding: padding)
    if let blocked = ConvAlgorithm.blocked(g, pass) { return blocked.scratchFloats(pass) }
    if let winograd = ConvAlgorithm.winograd(g, pass) { return winograd.scratchFloats(pass) }
    if pass == .forward, let direct = ConvAlgorithm.direct16(g) { return direct.scratchFloats }
    let gemm = FastConv3D(g).scratchFloats(pass)
    let direct: Int? =
        switch pass {
        case .forward: DirectConv3D(g)?.forwardScratchFloats
        case .backwardData: DirectConv3D.backwardDataScratchFloats(g)
        case .backwardFilter: nil
        }
    guard let direct else { return gemm }
    let candidates = ConvAlgorithm.candidates(g, backward: pass == .backwardData)
    return max(candidates.contains(.gemm) ? gemm : 0, candidates.contains(.direct) ? direct : 0)
}

/// The forward convolution with the direct or the vol2col + sgemm kernel, as `ConvAlgorithm`
/// chooses for this geometry; `scratch` as `conv3DScratchCount(…, pass: .forward)` counts it.
func convolutionForward(
    _ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue,
    scratch: UnsafeMutableBufferPointer<Float>? = nil
) {
    if let blocked = ConvAlgorithm.blocked(g, .forward) { return blocked.forward(y, x, w, epilogue, scratch: scratch) }
    if let winograd = ConvAlgorithm.winograd(g, .forward) { return winograd.forward(y, x, w, epilogue, scratch: scratch) }
    if let direct = ConvAlgorithm.direct16(g) { return direct.forward(y, x, w, epilogue, scratch: scratch) }
    guard let direct = DirectConv3D(g) else { return FastConv3D(g).forward(y, x, w, epilogue, scratch: scratch) }
    ConvAlgorithm.choose(
        g, backward: false, direct: { direct.forward(y, x, w, epilogue, scratch: scratch) },
        gemm: { FastConv3D(g).forward(y, x, w, epilogue, scratch: scratch) })
}

/// The data gradient with the kernel `ConvAlgorithm` chooses for this geometry.
func convolutionBackwardData(
    _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    scratch: UnsafeMutableBufferPointer<Float>? = nil
) {
    if let blocked = ConvAlgorithm.blocked(g, .backwardData) { return blocked.backwardData(dx, dy, w, scratch: scratch) }
    if let winograd = ConvAlgorithm.winograd(g, .backwardData) { return winograd.backwardData(dx, dy, w, scratch: scratch) }
    guard DirectConv3D.backwardDataScratchFloats(g) != nil else { return FastConv3D(g).backwardData(dx, dy, w, scratch: scratch) }
    ConvAlgorithm.choose(
        g, backward: true,
        // The direct kernel may decline a geometry (then it writes nothing): gemm must run instead.
        direct: {
            if !DirectConv3D.backwardData(g, dx, dy, w, scratch: scratch) { FastConv3D(g).backwardData(dx, dy, w, scratch: scratch) }
        },
        gemm: { FastConv3D(g).backwardData(dx, dy, w, scratch: scratch) })
}

/// The filter gradient with the blocked or Winograd kernel where it runs, else vol2col + sgemm.
func convolutionBackwardFilter(
    _ g: ConvGeometry, _ dw: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
    scratch: UnsafeMutableBufferPointer<Float>? = nil
) {
    if let blocked = ConvAlgorithm.blocked(g, .backwardFilter) { return blocked.backwardFilter(dw, dy, x, scratch: scratch) }
    if let winograd = ConvAlgorithm.winograd(g, .backwardFilter) { return winograd.backwardFilter(dw, dy, x, scratch: scratch) }
    FastConv3D(g).backwardFilter(dw, dy, x, scratch: scratch)
}
