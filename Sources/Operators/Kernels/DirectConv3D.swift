import Dispatch
import Foundation
import GraphCore

/// Register-blocked direct 3D convolution for stride 1 (every convolution of the paper's family).
///
/// Each inner step computes 4 output channels × 16 positions of one output row in 8 SIMD8
/// accumulators: per tap, two unaligned loads of the input row and four broadcast weights feed
/// eight FMAs. Depth and height taps that fall on padding are skipped; width padding comes from a
/// copy of the input whose rows are padded to whole vector blocks. Workers (one per core) take
/// contiguous ranges of (sample, 4-channel block, output plane) tasks, with no OpenBLAS inside.
struct DirectConv3D {
    let g: ConvGeometry
    /// Row length of the padded input: whole 16-wide output blocks plus the kernel's reach.
    let paddedWidth: Int
    let blocks: Int

    init?(_ g: ConvGeometry) {
        guard g.stride == Triple(1) else { return nil }
        self.g = g
        blocks = (g.output.w + 15) / 16
        paddedWidth = blocks * 16 + g.kernel.w - 1
    }

    private var paddedRows: Int { g.batch * g.inChannels * g.input.d * g.input.h }
    private var outBlocks: Int { (g.outChannels + 3) / 4 }

    /// Floats of scratch `forward` takes: the width-padded input, the packed weights, and one
    /// 4×16 epilogue block per worker.
    var forwardScratchFloats: Int {
        Scratch.floats([paddedRows * paddedWidth, outBlocks * g.inChannels * g.kernel.product * 4]) + FastConv3D.workers * Scratch.rounded(64)
    }

    /// `y = epilogue(conv(x, w))`; same layouts as `FastConv3D.forward`.
    func forward(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue,
        scratch given: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        Scratch.with(given, floats: forwardScratchFloats) { scratch in forward(y, x, w, epilogue, &scratch) }
    }

    private func forward(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue, _ scratch: inout Scratch
    ) {
        let cin = g.inChannels, cout = g.outChannels, taps = g.kernel.product
        let pw = g.padding.w
        // Input rows padded in width: [N, Cin, D, H, paddedWidth], data at column pw.
        let rows = paddedRows
        let padded = scratch.take(rows * paddedWidth)
        for row in 0..<rows {
            let target = padded + row * paddedWidth
            target.update(repeating: 0, count: paddedWidth)
            (target + pw).update(from: x + row * g.input.w, count: g.input.w)
        }
        // Weights packed as [Cout/4, Cin, taps, 4] (zero filters pad the last block).
        let outBlocks = self.outBlocks
        let packed = scratch.take(outBlocks * cin * taps * 4)
        packed.update(repeating: 0, count: outBlocks * cin * taps * 4)
        for o in 0..<cout {
            let factor = epilogue.scale?[o] ?? 1
            for i in 0..<cin {
                for t in 0..<taps { packed[((o / 4 * cin + i) * taps + t) * 4 + o % 4] = w[(o * cin + i) * taps + t] * factor }
            }
        }
        let tasks = g.batch * outBlocks * g.output.d
        let workers = FastConv3D.workers
        let work = g.batch * cout * cin * taps * g.output.product
        let shared = (y: SendablePointer(y), x: SendableConstPointer(UnsafePointer(padded)), w: SendableConstPointer(UnsafePointer(packed)))
        let bias = epilogue.bias.map { SendableConstPointer($0) }, activation = epilogue.activation
        let rowBlocks = SendablePointer(scratch.take(workers * Scratch.rounded(64)))
        let run: @Sendable (Int) -> Void = { worker in
            let count = workers > 1 && work >= 4_000_000 ? workers : 1
            let range = (tasks * worker / count)..<(tasks * (worker + 1) / count)
            let row = rowBlocks.base + worker * Scratch.rounded(64)
            for task in range {
                let od = task % g.output.d, ob = (task / g.output.d) % outBlocks, n = task / (g.output.d * outBlocks)
                self.plane(shared.y.base, shared.x.base, shared.w.base, n: n, ob: ob, od: od, bias: bias?.base, activation, row)
            }
        }
        if workers > 1 && work >= 4_000_000 {
            DispatchQueue.concurrentPerform(iterations: workers, execute: run)
        } else {
            run(0)
        }
    }

    /// One output plane `od` of channels `4·ob ..< 4·ob+4` of sample `n`.
    @inline(__always)
    private func plane(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, n: Int, ob: Int, od: Int,
        bias: UnsafePointer<Float>?, _ activation: ActivationKind?, _ scratch: UnsafeMutablePointer<Float>
    ) {
        let cin = g.inChannels, cout = g.outChannels, kd = g.kernel.d, kh = g.kernel.h, kw = g.kernel.w, taps = g.kernel.product
        let inD = g.input.d, inH = g.input.h, ow = g.output.w, pwidth = paddedWidth
        let aRange = max(0, g.padding.d - od)..<min(kd, inD + g.padding.d - od)
        for oh in 0..<g.output.h {
            let bRange = max(0, g.padding.h - oh)..<min(kh, inH + g.padding.h - oh)
            for block in 0..<blocks {
                var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a10 = SIMD8<Float>(), a11 = SIMD8<Float>()
                var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a30 = SIMD8<Float>(), a31 = SIMD8<Float>()
                for i in 0..<cin {
                    let channel = x + (n * cin + i) * inD * inH * pwidth + block * 16
                    let filters = w + (ob * cin + i) * taps * 4
                    for a in aRange {
                        let id = od + a - g.padding.d
                        for b in bRange {
                            let ih = oh + b - g.padding.h
                            let source = UnsafeRawPointer(channel + (id * inH + ih) * pwidth)
                            var weights = filters + ((a * kh + b) * kw) * 4
                            for c in 0..<kw {
                                let v0 = source.loadUnaligned(fromByteOffset: c * 4, as: SIMD8<Float>.self)
                                let v1 = source.loadUnaligned(fromByteOffset: (c + 8) * 4, as: SIMD8<Float>.self)
                                let w0 = SIMD8<Float>(repeating: weights[0]), w1 = SIMD8<Float>(repeating: weights[1])
                                let w2 = SIMD8<Float>(repeating: weights[2]), w3 = SIMD8<Float>(repeating: weights[3])
                                a00 = a00.addingProduct(v0, w0); a01 = a01.addingProduct(v1, w0)
                                a10 = a10.addingProduct(v0, w1); a11 = a11.addingProduct(v1, w1)
                                a20 = a20.addingProduct(v0, w2); a21 = a21.addingProduct(v1, w2)
                                a30 = a30.addingProduct(v0, w3); a31 = a31.addingProduct(v1, w3)
                                weights += 4
                            }
                        }
                    }
                }
                // Epilogue: bias and activation while the 4×16 results are in registers/L1.
                let raw = UnsafeMutableRawPointer(scratch)
                raw.storeBytes(of: a00, toByteOffset: 0, as: SIMD8<Float>.self); raw.storeBytes(of: a01, toByteOffset: 32, as: SIMD8<Float>.self)
                raw.storeBytes(of: a10, toByteOffset: 64, as: SIMD8<Float>.self); raw.storeBytes(of: a11, toByteOffset: 96, as: SIMD8<Float>.self)
                raw.storeBytes(of: a20, toByteOffset: 128, as: SIMD8<Float>.self); raw.storeBytes(of: a21, toByteOffset: 160, as: SIMD8<Float>.self)
                raw.storeBytes(of: a30, toByteOffset: 192, as: SIMD8<Float>.self); raw.storeBytes(of: a31, toByteOffset: 224, as: SIMD8<Float>.self)
                let width = min(16, ow - block * 16)
                for k in 0..<4 {
                    let o = ob * 4 + k
                    if o >= cout { break }
                    let target = y + ((n * cout + o) * g.output.d + od) * g.output.h * ow + oh * ow + block * 16
                    applyEpilogue(target, scratch + k * 16, width, bias: bias?[o] ?? 0, activation)
                }
            }
        }
    }

    /// `dx` for stride 1: the convolution of `dy` with the filters transposed to `[Cin, Cout, …]`,
    /// flipped in every axis, and padding `kernel − 1 − padding`.
    static func backwardData(
        _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        scratch given: UnsafeMutableBufferPointer<Float>? = nil
    ) -> Bool {
        guard let direct = dual(g) else { return false }
        let taps = g.kernel.product
        return Scratch.with(given, floats: backwardDataScratchFloats(g) ?? 0) { scratch in
            let flipped = scratch.take(g.outChannels * g.inChannels * taps)
            for o in 0..<g.outChannels {
                for i in 0..<g.inChannels {
                    for t in 0..<taps { flipped[(i * g.outChannels + o) * taps + (taps - 1 - t)] = w[(o * g.inChannels + i) * taps + t] }
                }
            }
            direct.forward(dx, dy, flipped, ConvEpilogue(bias: nil, activation: nil), &scratch)
            return true
        }
    }

    /// The forward convolution that computes `g`'s data gradient (stride 1 only).
    private static func dual(_ g: ConvGeometry) -> DirectConv3D? {
        let k = g.kernel, p = g.padding
        guard g.stride == Triple(1), p.d < k.d, p.h < k.h, p.w < k.w else { return nil }
        return DirectConv3D(
            ConvGeometry(
                input: [g.batch, g.outChannels, g.output.d, g.output.h, g.output.w], weight: [g.inChannels, g.outChannels, k.d, k.h, k.w],
                stride: Triple(1), padding: Triple(k.d - 1 - p.d, k.h - 1 - p.h, k.w - 1 - p.w)))
    }

    /// Floats of scratch `backwardData` takes (the flipped filters, then the forward's), or nil
    /// when the direct kernel does not handle `g`'s data gradient.
    static func backwardDataScratchFloats(_ g: ConvGeometry) -> Int? {
        dual(g).map { Scratch.rounded(g.outChannels * g.inChannels * g.kernel.product) + $0.forwardScratchFloats }
    }
}

/// The convolution algorithm of one (geometry, direction).
///
/// By default a fixed rule picks it from the shape, so a seed gives the same weights on every run:
/// the two algorithms sum in different orders, and choosing by timing made training results depend
/// on the machine's load. The rule follows what timing both picked on an AVX2 machine (Zen 3) for
/// the paper's family (full size and small): the direct kernel for few input channels and for the
/// 512-channel 14×14 layers, vol2col + sgemm elsewhere; with AVX-512 sgemm, vol2col + sgemm for
/// every convolution of 2^28 multiply-adds or more. `EMOTION3D_CONV=auto` times both once per shape instead
/// (faster by a few per cent, not reproducible); `direct|gemm` forces one (to bisect or to measure).
public enum ConvAlgorithm: Sendable {
    case direct, gemm, winograd, blocked

    struct Key: Hashable {
        let input: [Int], weight: [Int], padding: [Int], backward: Bool
    }
    nonisolated(unsafe) private static var choices: [Key: ConvAlgorithm] = [:]
    private static let lock = NSLock()

    private static let mode = ProcessInfo.processInfo.environment["EMOTION3D_CONV"]
    /// The algorithm `EMOTION3D_CONV` forces, or `measuring` sets for a while.
    nonisolated(unsafe) private(set) static var forced: ConvAlgorithm? = named(mode)

    static func named(_ name: String?) -> ConvAlgorithm? {
        switch name {
        case "direct": .direct
        case "gemm": .gemm
        case "winograd": .winograd
        case "blocked": .blocked
        default: nil
        }
    }

    /// Runs `body` with every convolution forced to the algorithm `name` (direct, gemm, winograd,
    /// blocked; nil: the rules), to compare algorithms in one process. Not for use while other
    /// threads run graphs.
    public static func measuring<R>(_ name: String?, _ body: () throws -> R) rethrows -> R {
        let saved = forced
        forced = named(name)
        defer { forced = saved }
        return try body()
    }

    /// Whether the direct kernel (8-lane vectors) can beat sgemm on large convolutions: not where
    /// OpenBLAS runs AVX-512 kernels. Measured on a 2-core AVX-512 Xeon (`EMOTION3D_CONV=direct|gemm
    /// emotion3d bench`): sgemm was faster on every layer of the full-size and small networks
    /// (features.18 forward 119 against 45 GFLOP/s, features.0 83 against 46), but on the main
    /// job's tiny network (filters / 8, 32², batch 8, every layer < 2^28 multiply-adds) the shape
    /// rule's direct layers trained 29–32 clips/s single-threaded against 24 with sgemm everywhere:
    /// there sgemm gets 8–16 output channels as its M and vol2col's per-tile costs dominate.
    static let directCompetes = fmaPeakLanes <= 8 || !["SkylakeX", "Cooperlake", "SapphireRapids"].contains(KernelThreads.blasCore)

    /// The Winograd kernel where it runs for `pass` of `g`: forced, or by its rule.
    static func winograd(_ g: ConvGeometry, _ pass: ConvPass) -> WinogradConv3D? {
        guard let kernel = WinogradConv3D(g) else { return nil }
        if let forced { return forced == .winograd ? kernel : nil }
        return kernel.competes(pass) ? kernel : nil
    }

    /// The algorithms that can compute `pass` of this convolution (what `measuring` may force).
    public static func available(input: Shape, weight: Shape, stride: Triple, padding: Triple, pass: ConvPass) -> [String] {
        let g = ConvGeometry(input: input, weight: weight, stride: stride, padding: padding)
        var names = ["gemm"]
        switch pass {
        case .forward: if DirectConv3D(g) != nil { names.append("direct") }
        case .backwardData: if DirectConv3D.backwardDataScratchFloats(g) != nil { names.append("direct") }
        case .backwardFilter: break
        }
        if WinogradConv3D(g) != nil { names.append("winograd") }
        if BlockedConv3D(g)?.applies(pass) == true { names.append("blocked") }
        return names
    }

    /// The blocked 16-lane direct kernel where it runs for `pass` of `g`: forced, or by its rule.
    static func blocked(_ g: ConvGeometry, _ pass: ConvPass) -> BlockedConv3D? {
        guard let kernel = BlockedConv3D(g), kernel.applies(pass) else { return nil }
        if let forced { return forced == .blocked ? kernel : nil }
        return kernel.competes(pass) ? kernel : nil
    }

    /// The 16-lane direct forward kernel where it runs for `g`: on AVX-512 CPUs, for ≤ 4 input
    /// channels, unless an algorithm is forced.
    static func direct16(_ g: ConvGeometry) -> DirectConv16? {
        forced == nil ? DirectConv16(g) : nil
    }

    /// The rule's choice for `g` (backward: the data gradient, computed as a forward convolution).
    static func preferred(_ g: ConvGeometry, backward: Bool) -> ConvAlgorithm {
        let outPlane = g.output.h * g.output.w
        if !directCompetes && g.multiplyAdds >= 1 << 28 { return .gemm }
        if backward { return (8...32).contains(g.inChannels) && g.kernel.d > 1 && outPlane >= 64 ? .direct : .gemm }
        if g.inChannels <= 32 || (directCompetes && g.inChannels >= 512 && outPlane >= 196) { return .direct }
        return .gemm
    }

    /// The algorithms that may run for `g` when both apply: the rule's or the forced one, or both
    /// when choosing by timing.
    static func candidates(_ g: ConvGeometry, backward: Bool) -> [ConvAlgorithm] {
        if let forced, forced == .direct || forced == .gemm { return [forced] }
        return mode == "auto" ? [.direct, .gemm] : [preferred(g, backward: backward)]
    }

    /// The cached choice, or times `direct` and `gemm` (each computes the full result) and keeps the
    /// faster, whose result the output then holds.
    static func choose(_ g: ConvGeometry, backward: Bool, direct: () -> Void, gemm: () -> Void) {
        if let forced, forced == .direct || forced == .gemm { return forced == .direct ? direct() : gemm() }
        if mode != "auto" { return preferred(g, backward: backward) == .direct ? direct() : gemm() }
        let key = Key(input: [g.batch, g.inChannels, g.input.d, g.input.h, g.input.w], weight: [g.outChannels, g.kernel.d, g.kernel.h, g.kernel.w],
            padding: g.padding.array, backward: backward)
        lock.lock()
        let known = choices[key]
        lock.unlock()
        if let known { return known == .direct ? direct() : gemm() }
        func seconds(_ body: () -> Void) -> UInt64 {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return DispatchTime.now().uptimeNanoseconds - start
        }
        // Both write the full result; it must be the chosen kernel's (the two differ in the last
        // bits), or the first run of a shape would differ from every later one.
        // Two threads measuring one shape at once keep the first choice stored.
        let directTime = seconds(direct), gemmTime = seconds(gemm)
        lock.lock()
        let choice = choices[key] ?? (gemmTime <= directTime ? .gemm : .direct)
        choices[key] = choice
        lock.unlock()
        if choice == .direct { direct() }
    }
}
