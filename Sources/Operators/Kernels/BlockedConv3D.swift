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
        /// Floats of a padded input frame.
        var paddedPlane: Int { (input.h + 2 * padding.h) * (input.w + 2 * padding.w) }

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

    /// A sample's output planes cut into near-equal runs: as few as keep a run's buffer,
    /// `floats(planes of the longest run)`, within 2^18 floats (1 MiB, inside a core's L2).
    private struct PlaneRuns {
        let planes: Int, count: Int
        init(planes: Int, floats: (Int) -> Int) {
            self.planes = planes
            var count = 1
            while count < planes && floats((planes + count - 1) / count) > 1 << 18 { count += 1 }
            self.count = count
        }
        /// Planes of the longest run.
        var longest: Int { (planes + count - 1) / count }
        /// Output planes of run `run`.
        subscript(run: Int) -> Range<Int> { (planes * run / count)..<(planes * (run + 1) / count) }
    }

    /// A unit of `view`'s work: `emotion3d_blocked_samples_per_task` samples (one, or three on
    /// planes of ≤ 16 outputs) and a run of their output planes, whose input frames the worker
    /// computing it pads into its own buffer.
    private struct Units {
        let samples: Int, runs: PlaneRuns, bufferFloats: Int
        init(_ view: View) {
            let shape = view.shape
            let samples = withUnsafePointer(to: shape) { Int(emotion3d_blocked_samples_per_task($0)) }
            func floats(_ planes: Int) -> Int {
                let frames = withUnsafePointer(to: shape) { Int(emotion3d_blocked_unit_frames_at_most($0, Int32(planes))) }
                return samples * view.inChannels * frames * view.paddedPlane + Int(EMOTION3D_BLOCKED_SLACK)
            }
            self.samples = samples
            runs = PlaneRuns(planes: view.output.d, floats: floats)
            bufferFloats = floats(runs.longest)
        }
    }

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
    /// The filter gradient's units per sample: runs of its output planes.
    private var filterPlaneRuns: PlaneRuns { PlaneRuns(planes: g.output.d) { filterUnitFloats(planes: $0) } }
    /// Units of the filter gradient per sample.
    var filterRuns: Int { filterPlaneRuns.count }
    private var filterFloats: Int { g.outChannels * g.inChannels * g.kernel.product }
    /// Runs of consecutive units of the filter gradient that the workers take in turn, each summed
    /// into a gradient of its own: the sums do not depend on which worker ran what.
    private func filterSlots(_ runs: PlaneRuns) -> Int { min(16, g.batch * runs.count) }

    /// Runs of output planes per sample group of `pass`'s units (forward and data gradient).
    func unitRuns(_ pass: ConvPass) -> Int { Units(view(pass)).runs.count }

    /// Floats of scratch of `pass`: packed weights, then each worker's unit buffer and partial sums;
    /// for the filter gradient, each worker's unit buffer and a gradient per slot after the first.
    func scratchFloats(_ pass: ConvPass, workers: Int = FastConv3D.workers) -> Int {
        if pass == .backwardFilter {
            // Each worker's unit buffer; the slots after the first sum into a gradient of their own.
            let runs = filterPlaneRuns
            return Scratch.floats(
                Array(repeating: filterUnitFloats(planes: runs.longest), count: max(workers, 1)) + Array(repeating: filterFloats, count: filterSlots(runs) - 1))
        }
        let view = view(pass)
        return Scratch.floats(
            [view.packedFloats] + Array(repeating: [Units(view).bufferFloats, Int(EMOTION3D_BLOCKED_PARTIALS)], count: max(workers, 1)).flatMap { $0 })
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
    /// units (a sample's run of output planes, `filterRuns`) are cut into at most 16 slots of
    /// consecutive units, which the workers take as they finish the last (`claimRanges`); a worker
    /// pads each unit into its own buffer, so the copies stay in its L2, and sums it into its
    /// slot's gradient (the first slot's is `dw`). The slots are added up in order at the end: the
    /// same bits whichever worker ran a slot, and one synchronisation per call.
    func backwardFilter(
        _ dw: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, scratch given: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        precondition(filterApplies, "BlockedConv3D.backwardFilter needs a 3 × 3 kernel in height and width")
        let g = self.g, workers = self.workers, runs = filterPlaneRuns, floats = filterFloats, slots = filterSlots(runs)
        let units = g.batch * runs.count, unitFloats = filterUnitFloats(planes: runs.longest)
        Scratch.with(given, floats: scratchFloats(.backwardFilter, workers: workers)) { scratch in
            let buffers = (0..<workers).map { _ in SendablePointer(scratch.take(unitFloats)) }
            let sums = [SendablePointer(dw)] + (1..<slots).map { _ in SendablePointer(scratch.take(floats)) }
            let shared = (dy: SendableConstPointer(dy), x: SendableConstPointer(x)), shape = view(.forward).shape
            claimRanges(slots, workers: workers) { worker, range in
                withUnsafePointer(to: shape) { shape in
                    for slot in range {
                        sums[slot].base.initialize(repeating: 0, count: floats)
                        for unit in (units * slot / slots)..<(units * (slot + 1) / slots) {
                            let planes = runs[unit % runs.count]
                            emotion3d_blocked_filter_unit(
                                shared.x.base, shared.dy.base, buffers[worker].base, sums[slot].base, shape, unit / runs.count,
                                Int32(planes.lowerBound), Int32(planes.upperBound))
                        }
                    }
                }
            }
            for sum in sums.dropFirst() { for i in 0..<floats { dw[i] += sum.base[i] } }
        }
    }

    /// The workers take the units (`Units`) as they finish the last (`claimRanges`): each pads the
    /// input frames a unit's output planes read into its own buffer, so they stay in its L2 while
    /// its tasks read them (padding a whole group first sent every frame to memory and back: the
    /// data gradient of the small network's second convolution ran 7–15 % slower on one core),
    /// then runs the unit's tasks on them. One synchronisation per call.
    private func run(
        _ view: View, target: UnsafeMutablePointer<Float>, source: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue,
        transposed: Bool, scratch given: UnsafeMutableBufferPointer<Float>?
    ) {
        let g = self.g, units = Units(view), workers = self.workers
        Scratch.with(given, floats: scratchFloats(transposed ? .backwardData : .forward, workers: workers)) { scratch in
            let packed = scratch.take(view.packedFloats)
            let buffers = (0..<workers).map { _ in
                (unit: SendablePointer(scratch.take(units.bufferFloats)), partials: SendablePointer(scratch.take(Int(EMOTION3D_BLOCKED_PARTIALS))))
            }
            emotion3d_blocked_pack(w, epilogue.scale, packed, Int32(g.outChannels), Int32(g.inChannels), Int32(g.kernel.product), transposed ? 1 : 0)
            let blockGroups = withUnsafePointer(to: view.shape) { Int(emotion3d_blocked_block_groups($0)) }
            let inFrame = view.input.h * view.input.w, outPlane = view.output.h * view.output.w, outVolume = view.output.d * outPlane
            let plane = view.paddedPlane, slack = Int(EMOTION3D_BLOCKED_SLACK)
            let shared = (target: SendablePointer(target), source: SendableConstPointer(source), packed: SendableConstPointer(UnsafePointer(packed)))
            let bias = epilogue.bias.map { SendableConstPointer($0) }, activation = epilogue.activation
            let sampleGroups = (g.batch + units.samples - 1) / units.samples
            claimRanges(sampleGroups * units.runs.count, workers: workers) { worker, range in
                let buffer = buffers[worker].unit.base
                for unit in range {
                    let n0 = unit / units.runs.count * units.samples, samples = min(units.samples, g.batch - n0)
                    let planes = units.runs[unit % units.runs.count]
                    // The frames the planes read, and the shape that numbers them from the buffer's first.
                    var firstFrame: Int32 = 0, endFrame: Int32 = 0
                    withUnsafePointer(to: view.shape) {
                        emotion3d_blocked_unit_frames($0, Int32(planes.lowerBound), Int32(planes.upperBound), &firstFrame, &endFrame)
                    }
                    let first = Int(firstFrame), frames = Int(endFrame - firstFrame)
                    for s in 0..<samples {
                        for c in 0..<view.inChannels {
                            emotion3d_blocked_pad(
                                shared.source.base + (((n0 + s) * view.inChannels + c) * view.input.d + first) * inFrame,
                                buffer + (s * view.inChannels + c) * frames * plane, 0, frames, Int32(view.input.h), Int32(view.input.w),
                                Int32(view.padding.h), Int32(view.padding.h), Int32(view.padding.w), Int32(view.padding.w))
                        }
                    }
                    (buffer + samples * view.inChannels * frames * plane).initialize(repeating: 0, count: slack)
                    var shape = view.shape
                    shape.input.0 = Int32(frames)
                    shape.padding.0 = Int32(view.padding.d + first)
                    let output = shared.target.base + n0 * view.outChannels * outVolume
                    withUnsafePointer(to: shape) { shape in
                        emotion3d_blocked_forward(
                            buffer, shared.packed.base, bias?.base, output, shape, Int32(samples), buffers[worker].partials.base,
                            planes.lowerBound * blockGroups, planes.upperBound * blockGroups)
                    }
                    guard let activation else { continue }
                    for s in 0..<samples {
                        for o in 0..<view.outChannels {
                            for od in planes {
                                let start = output + (s * view.outChannels + o) * outVolume + od * outPlane
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
