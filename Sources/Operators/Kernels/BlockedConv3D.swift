import CKernels
import GraphCore

/// The 16-lane direct convolution for stride-1 layers of any channel count
/// (`Sources/CKernels/blocked_conv.c`, AVX-512): inputs are copied with their height and width
/// padding, outputs are numbered along the padded width so that 16 of them read one unaligned
/// load per tap whatever the plane's width, and a tile keeps 8 output channels × 48 outputs (16
/// of each of 3 samples on planes of ≤ 16 outputs) in registers. The data gradient is the same
/// kernel on the padded output gradient with the flipped, transposed filter; the filter gradient
/// (3 × 3 kernels) keeps 3 output channels × 9 taps of sums in registers over a sample's run of
/// planes, which the worker computing it pads into its own L2-sized buffer. It
/// suits layers with few input channels (3–32) on small planes, where Winograd's 16 products per
/// plane are too small for sgemm to run at speed (`competes`).
struct BlockedConv3D {
    let g: ConvGeometry

    /// Samples padded at once at most: their padded inputs within 8 Mi floats (32 MiB).
    static let budget = 1 << 23

    /// Nil unless the CPU runs AVX-512 and the geometry is one this kernel computes (stride 1,
    /// padding below the kernel in every axis, so that the data gradient's padding is not negative).
    init?(_ g: ConvGeometry) {
        guard fmaPeakLanes == 16, g.stride == Triple(1), g.batch > 0, g.inChannels > 0, g.outChannels > 0, g.output.product > 0,
            g.padding.d < g.kernel.d, g.padding.h < g.kernel.h, g.padding.w < g.kernel.w, g.kernel.w + 48 <= Int(EMOTION3D_BLOCKED_SLACK),
            g.kernel.product <= Int(EMOTION3D_BLOCKED_MAX_TAPS)
        else { return nil }
        self.g = g
    }

    /// Whether it beats Winograd and vol2col + sgemm for the forward and data gradient passes.
    /// Measured on a 2-core AVX-512 Xeon (`emotion3d bench --compare-algorithms`, GFLOP/s on
    /// useful work, algorithms alternating): ahead for 16 and 32 input channels (small network at
    /// batch 30, 24×24 forward 147 against Winograd's 104, data 134 against 90; 12×12 117 against
    /// 93 and 87), level at 64 (12×12: 120 against 117), behind for 128 on 6×6 (101 against 120)
    /// and on every full-size layer, where Winograd does 2.25× fewer multiply-adds on large planes
    /// (56×56: 154–167 against 214–259) and repacking 512 × 512 filters each call dominates the
    /// 7×7 layers (12–39 against 33–76). Its filter gradient wins on the first layer (3 input
    /// channels: small network 77–103 against vol2col + sgemm's 45–63, full size at batch 4 100
    /// against 88) and on 16 (small 24×24: 140–156 against Winograd's 112–115 in two runs, level
    /// at 108 in a third); from 32 channels on sgemm's and Winograd's products are as fast or
    /// faster (12×12: 74–105 against 79–137; full size: 22–146 against 40–427).
    /// Under 2^28 multiply-adds the shape rule stays: most of the main job's network (its second
    /// convolution reaches 2^28 at batch 30 only with temporal size 7 or 9).
    func competes(_ pass: ConvPass) -> Bool {
        if pass == .backwardFilter { return filterApplies && g.inChannels <= 16 && g.multiplyAdds >= 1 << 28 }
        return (8...32).contains(g.inChannels) && g.outChannels >= 8 && g.multiplyAdds >= 1 << 28
    }

    /// One pass as the C kernel sees it: a forward convolution of `source` into `target`.
    private struct View {
        let shape: emotion3d_conv_shape
        let inChannels: Int, outChannels: Int, input: Triple, output: Triple, kernel: Triple, padding: Triple
        /// Floats of packed weights: output channels rounded up to blocks of 8.
        var packedFloats: Int { (outChannels + 7) / 8 * 8 * inChannels * kernel.product }
        var padded: Triple { Triple(input.d, input.h + 2 * padding.h, input.w + 2 * padding.w) }
        var sampleFloats: Int { inChannels * padded.product }

        init(inChannels: Int, outChannels: Int, input: Triple, output: Triple, kernel: Triple, padding: Triple) {
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.input = input
            self.output = output
            self.kernel = kernel
            self.padding = padding
            shape = emotion3d_conv_shape(
                in_channels: Int32(inChannels), out_channels: Int32(outChannels), input: input.c, output: output.c, kernel: kernel.c,
                padding: padding.c)
        }
    }

    private func view(_ pass: ConvPass) -> View {
        if pass == .backwardData {
            let k = g.kernel, p = g.padding
            return View(
                inChannels: g.outChannels, outChannels: g.inChannels, input: g.output, output: g.input, kernel: k,
                padding: Triple(k.d - 1 - p.d, k.h - 1 - p.h, k.w - 1 - p.w))
        }
        return View(inChannels: g.inChannels, outChannels: g.outChannels, input: g.input, output: g.output, kernel: g.kernel, padding: g.padding)
    }

    /// Samples per group of `view`.
    private func groupSize(_ view: View) -> Int { max(1, min(g.batch, BlockedConv3D.budget / max(view.sampleFloats, 1))) }

    /// Whether the filter gradient kernel computes this geometry: 3 × 3 in height and width.
    var filterApplies: Bool { g.kernel.h == 3 && g.kernel.w == 3 }

    /// Whether this kernel computes `pass` (the forward and data gradient for every geometry it
    /// accepts, the filter gradient for 3 × 3 kernels).
    func applies(_ pass: ConvPass) -> Bool { pass != .backwardFilter || filterApplies }

    /// One worker per core unless the work is too small to split.
    private var workers: Int { g.multiplyAdds >= 1 << 20 ? FastConv3D.workers : 1 }

    /// Floats the filter gradient pads a unit of `planes` output planes of one sample into.
    private func filterUnitFloats(planes: Int) -> Int {
        withUnsafePointer(to: view(.forward).shape) { Int(emotion3d_blocked_filter_unit_floats($0, Int32(planes))) }
    }
    /// Units of the filter gradient per sample: its output planes in near-equal runs, as few as
    /// keep each run's padded input and gradient within 2^18 floats (1 MiB, inside a core's L2).
    var filterRuns: Int {
        var runs = 1
        while runs < g.output.d && filterUnitFloats(planes: (g.output.d + runs - 1) / runs) > 1 << 18 { runs += 1 }
        return runs
    }
    private var filterFloats: Int { g.outChannels * g.inChannels * g.kernel.product }

    /// Floats of scratch of `pass`: packed weights, the padded group, each worker's partial sums;
    /// for the filter gradient, the padded input and output gradient of a group.
    func scratchFloats(_ pass: ConvPass, workers: Int = FastConv3D.workers) -> Int {
        if pass == .backwardFilter {
            // Each worker's unit buffer; the workers after the first also sum into a gradient of their own.
            let unit = filterUnitFloats(planes: (g.output.d + filterRuns - 1) / filterRuns)
            return Scratch.floats(Array(repeating: unit, count: max(workers, 1)) + Array(repeating: filterFloats, count: max(workers - 1, 0)))
        }
        let view = view(pass)
        return Scratch.floats(
            [view.packedFloats, groupSize(view) * view.sampleFloats + Int(EMOTION3D_BLOCKED_SLACK)]
                + Array(repeating: Int(EMOTION3D_BLOCKED_PARTIALS), count: max(workers, 1)))
    }

    /// `y = epilogue(conv(x, w))`; same layouts as `FastConv3D.forward`.
    func forward(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue,
        scratch: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        run(view(.forward), target: y, source: x, w, epilogue, transposed: false, scratch: scratch)
    }

    /// `dx = conv(dy, flipped wᵀ)`, overwriting `dx`.
    func backwardData(
        _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, scratch: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        run(view(.backwardData), target: dx, source: dy, w, ConvEpilogue(), transposed: true, scratch: scratch)
    }

    /// `dw [Cout, Cin, kD, 3, 3]` from `dy` and `x`, overwriting `dw` (needs `filterApplies`). The
    /// units (a sample's run of output planes, `filterRuns`) go to the workers in two contiguous
    /// halves; each pads its unit into its own buffer, so the copies stay in its L2, and sums into
    /// its own gradient (the first into `dw`), added up once at the end: one synchronisation per call.
    func backwardFilter(
        _ dw: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, scratch given: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        precondition(filterApplies, "BlockedConv3D.backwardFilter needs a 3 × 3 kernel in height and width")
        let g = self.g, workers = self.workers, runs = filterRuns, floats = filterFloats
        let unitFloats = filterUnitFloats(planes: (g.output.d + runs - 1) / runs)
        Scratch.with(given, floats: scratchFloats(.backwardFilter, workers: workers)) { scratch in
            let units = (0..<workers).map { _ in SendablePointer(scratch.take(unitFloats)) }
            let sums = [SendablePointer(dw)] + (1..<workers).map { _ in SendablePointer(scratch.take(floats)) }
            for sum in sums { sum.base.initialize(repeating: 0, count: floats) }
            let shared = (dy: SendableConstPointer(dy), x: SendableConstPointer(x)), shape = view(.forward).shape, planes = g.output.d
            splitRanges(g.batch * runs, workers: workers) { worker, range in
                withUnsafePointer(to: shape) { shape in
                    for unit in range {
                        let n = unit / runs, run = unit % runs
                        emotion3d_blocked_filter_unit(
                            shared.x.base, shared.dy.base, units[worker].base, sums[worker].base, shape, n, Int32(planes * run / runs),
                            Int32(planes * (run + 1) / runs))
                    }
                }
            }
            for sum in sums.dropFirst() { for i in 0..<floats { dw[i] += sum.base[i] } }
        }
    }

    private func run(
        _ view: View, target: UnsafeMutablePointer<Float>, source: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue,
        transposed: Bool, scratch given: UnsafeMutableBufferPointer<Float>?
    ) {
        let g = self.g, group = groupSize(view), packedFloats = view.packedFloats
        let groupFloats = group * view.sampleFloats + Int(EMOTION3D_BLOCKED_SLACK)
        let workers = self.workers
        Scratch.with(given, floats: scratchFloats(transposed ? .backwardData : .forward, workers: workers)) { scratch in
            let packed = scratch.take(packedFloats), padded = scratch.take(groupFloats)
            let partials = (0..<workers).map { _ in SendablePointer(scratch.take(Int(EMOTION3D_BLOCKED_PARTIALS))) }
            emotion3d_blocked_pack(w, epilogue.scale, packed, Int32(g.outChannels), Int32(g.inChannels), Int32(g.kernel.product), transposed ? 1 : 0)
            (padded + group * view.sampleFloats).initialize(repeating: 0, count: Int(EMOTION3D_BLOCKED_SLACK))
            let shape = view.shape
            let (perTask, blockGroups) = withUnsafePointer(to: shape) {
                (Int(emotion3d_blocked_samples_per_task($0)), Int(emotion3d_blocked_block_groups($0)))
            }
            let blocks = (view.outChannels + 7) / 8
            let inPlanes = view.inChannels * view.input.d, outPlane = view.output.h * view.output.w
            let outVolume = view.output.d * outPlane
            let shared = (
                target: SendablePointer(target), source: SendableConstPointer(source), padded: SendablePointer(padded),
                packed: SendableConstPointer(UnsafePointer(packed))
            )
            let bias = epilogue.bias.map { SendableConstPointer($0) }, activation = epilogue.activation
            for n0 in stride(from: 0, to: g.batch, by: group) {
                let samples = min(group, g.batch - n0)
                splitRanges(samples * inPlanes, workers: workers) { _, planes in
                    emotion3d_blocked_pad(
                        shared.source.base + n0 * inPlanes * view.input.h * view.input.w, shared.padded.base, planes.lowerBound, planes.upperBound,
                        Int32(view.input.h), Int32(view.input.w), Int32(view.padding.h), Int32(view.padding.h), Int32(view.padding.w),
                        Int32(view.padding.w))
                }
                let output = SendablePointer(shared.target.base + n0 * view.outChannels * outVolume)
                let sampleGroups = (samples + perTask - 1) / perTask
                splitRanges(sampleGroups * view.output.d * blockGroups, workers: workers) { worker, tasks in
                    withUnsafePointer(to: shape) { shape in
                        emotion3d_blocked_forward(
                            shared.padded.base, shared.packed.base, bias?.base, output.base, shape, Int32(samples), partials[worker].base,
                            tasks.lowerBound, tasks.upperBound)
                    }
                    guard let activation else { return }
                    for task in tasks {
                        let plane = task / blockGroups, blockGroup = task % blockGroups
                        let n0 = plane / view.output.d * perTask, od = plane % view.output.d
                        let b0 = blocks * blockGroup / blockGroups, b1 = blocks * (blockGroup + 1) / blockGroups
                        for n in n0..<min(samples, n0 + perTask) {
                            for o in (b0 * 8)..<min(view.outChannels, b1 * 8) {
                                let start = output.base + (n * view.outChannels + o) * outVolume + od * outPlane
                                applyEpilogue(start, start, outPlane, bias: 0, activation)
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Triple {
    /// (d, h, w) as a C `int[3]`.
    var c: (Int32, Int32, Int32) { (Int32(d), Int32(h), Int32(w)) }
}
