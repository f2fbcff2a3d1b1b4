import GraphCore
import Testing

@testable import Operators

/// Shapes for the blocked 16-lane direct kernel beyond `convCases`: planes of ≤ 16 outputs (3
/// samples per tile), planes whose outputs end in a tile of 1 or 2 vectors, no padding,
/// temporal kernels 5 and 9 on few frames, channel counts that fill no whole tile or chunk, width 1,
/// planes of more tiles than share one pass over the channels, filter gradient units of part of a
/// sample's planes and output channels left over from triples.
let blockedCases: [(String, Conv3D, Shape, Shape)] = convCases.filter(blockedApplies) + blockedOwnCases

private func blockedApplies(_ c: (String, Conv3D, Shape, Shape)) -> Bool {
    BlockedConv3D(ConvGeometry(input: c.2, weight: c.3, stride: c.1.stride, padding: c.1.padding)) != nil
}

private let blockedOwnCases: [(String, Conv3D, Shape, Shape)] = [
    ("3x3 planes, 3 samples per tile (4: a tile of 1)", Conv3D(padding: Triple(1)), [4, 5, 1, 3, 3], [30, 5, 3, 3, 3]),
    ("6x6 planes, 3 whole vectors", Conv3D(padding: Triple(1)), [2, 4, 2, 6, 6], [17, 4, 3, 3, 3]),
    ("12x12 planes, tail of 2 vectors", Conv3D(padding: Triple(1)), [1, 3, 2, 12, 12], [9, 3, 3, 3, 3]),
    ("no padding", Conv3D(), [2, 3, 4, 9, 10], [8, 3, 3, 3, 3]),
    ("temporal 5 on 3 frames", Conv3D(padding: Triple(2, 1, 1)), [2, 3, 3, 7, 7], [8, 3, 5, 3, 3]),
    ("temporal 9, 7x7", Conv3D(padding: Triple(4, 1, 1)), [1, 6, 5, 7, 7], [43, 6, 9, 3, 3]),
    ("width 1, padding (1,1,0)", Conv3D(padding: Triple(1, 1, 0)), [2, 2, 3, 5, 1], [3, 2, 3, 3, 1]),
    ("43 channels in (6 chunks), 67 out (2 block groups), 14x14", Conv3D(padding: Triple(1)), [1, 43, 2, 14, 14], [67, 43, 3, 3, 3]),
    ("30x30 planes: more tiles than one run", Conv3D(padding: Triple(1)), [2, 3, 2, 30, 30], [5, 3, 3, 3, 3]),
    ("16 output channels: 5 triples and 1 alone in the filter gradient", Conv3D(padding: Triple(1)), [3, 16, 5, 30, 30], [16, 16, 3, 3, 3]),
    // 321k floats for a sample's 7 planes: units of 3 and 4 planes, split between the workers
    // inside the second sample; 5 output channels: a triple and a pair.
    ("filter gradient units: 2 runs of planes per sample", Conv3D(padding: Triple(1)), [3, 4, 7, 70, 70], [5, 4, 3, 3, 3]),
    // 281k floats for the 13 frames: forward and data units of part of the planes (7 and 6).
    ("forward and data units: 2 runs of planes per sample", Conv3D(padding: Triple(1)), [1, 8, 13, 50, 50], [8, 8, 3, 3, 3]),
    // 3 × 128 × 30 frames of 5 × 5: units of 3 samples (3 × 3 outputs) and part of the planes.
    ("forward units of 3 samples and part of the planes", Conv3D(padding: Triple(1)), [4, 128, 30, 3, 3], [2, 128, 3, 3, 3]),
]

@Suite("Blocked 16-lane direct convolution", .enabled(if: fmaPeakLanes == 16, "needs AVX-512"))
struct BlockedConvTests {
    /// The reference results of every pass for one case, and the kernel under test.
    private struct Fixture {
        let kernel: BlockedConv3D
        let x: [Float], w: [Float], bias: [Float], dy: [Float]
        let y: [Float], dx: [Float], dw: [Float]

        init(_ label: String, seed: UInt64) throws {
            let (_, conv, xShape, wShape) = blockedCases.first { $0.0 == label }!
            kernel = try #require(BlockedConv3D(ConvGeometry(input: xShape, weight: wShape, stride: conv.stride, padding: conv.padding)))
            var generator = SeededGenerator(seed: seed)
            let x = SampleInput.uniform(xShape).draw(&generator).converted(to: Float.self)
            let w = SampleInput.uniform(wShape).draw(&generator).converted(to: Float.self)
            let bias = SampleInput.uniform([wShape[0]]).draw(&generator).converted(to: Float.self)
            let y = conv.reference([x, w, bias], EvaluationContext())[0]
            let dy = SampleInput.uniform(y.shape).draw(&generator).converted(to: Float.self)
            (self.x, self.w, self.bias, self.dy) = (x.scalars, w.scalars, bias.scalars, dy.scalars)
            self.y = y.scalars
            dx = Conv3DBackwardData(stride: conv.stride, padding: conv.padding, inputShape: xShape).reference([dy, w], EvaluationContext())[0].scalars
            dw = Conv3DBackwardFilter(stride: conv.stride, padding: conv.padding, weightShape: wShape).reference([dy, x], EvaluationContext())[0].scalars
        }
    }

    @Test("forward (bias, activation), data and filter (3 × 3) gradients match the reference kernels", arguments: blockedCases.map(\.0))
    func matchesReference(_ label: String) throws {
        let f = try Fixture(label, seed: 31)
        if label.hasPrefix("filter gradient units") { #expect(f.kernel.filterRuns == 2) }
        if label.hasPrefix("forward and data units") { #expect(f.kernel.unitRuns(.forward) == 2 && f.kernel.unitRuns(.backwardData) == 2) }
        if label.hasPrefix("forward units of 3 samples") { #expect(f.kernel.unitRuns(.forward) == 2) }
        var out = [Float](repeating: .nan, count: f.y.count), grad = [Float](repeating: .nan, count: f.x.count)
        var filter = [Float](repeating: .nan, count: f.w.count)
        f.x.withUnsafeBufferPointer { xp in
            f.w.withUnsafeBufferPointer { wp in
                f.bias.withUnsafeBufferPointer { bp in
                    f.dy.withUnsafeBufferPointer { dyp in
                        f.kernel.forward(&out, xp.baseAddress!, wp.baseAddress!, ConvEpilogue(bias: bp.baseAddress, activation: .relu))
                        f.kernel.backwardData(&grad, dyp.baseAddress!, wp.baseAddress!)
                        if f.kernel.filterApplies { f.kernel.backwardFilter(&filter, dyp.baseAddress!, xp.baseAddress!) }
                    }
                }
            }
        }
        func worst(_ a: [Float], _ b: [Float]) -> Float {
            let scale = max(b.map(abs).max() ?? 0, 1)
            return zip(a, b).map { $0.isNaN ? .infinity : abs($0 - $1) / scale }.max() ?? 0
        }
        #expect(worst(out, f.y.map { max($0, 0) }) <= 1e-5, "forward")
        #expect(worst(grad, f.dx) <= 1e-5, "backward data")
        if f.kernel.filterApplies { #expect(worst(filter, f.dw) <= 1e-5, "backward filter") }
    }

    @Test("works inside the planned scratch: uses it, stays within it, same bits as its own allocation", arguments: blockedCases.map(\.0))
    func plannedScratch(_ label: String) throws {
        let f = try Fixture(label, seed: 32)
        f.x.withUnsafeBufferPointer { xp in
            f.w.withUnsafeBufferPointer { wp in
                f.dy.withUnsafeBufferPointer { dyp in
                    checkPlannedScratch("forward", count: f.kernel.scratchFloats(.forward), outputs: f.y.count) {
                        f.kernel.forward($0, xp.baseAddress!, wp.baseAddress!, ConvEpilogue(), scratch: $1)
                    }
                    checkPlannedScratch("backward data", count: f.kernel.scratchFloats(.backwardData), outputs: f.x.count) {
                        f.kernel.backwardData($0, dyp.baseAddress!, wp.baseAddress!, scratch: $1)
                    }
                    if f.kernel.filterApplies {
                        checkPlannedScratch("backward filter", count: f.kernel.scratchFloats(.backwardFilter), outputs: f.w.count) {
                            f.kernel.backwardFilter($0, dyp.baseAddress!, xp.baseAddress!, scratch: $1)
                        }
                    }
                }
            }
        }
    }

    @Test("the filter gradient has the same bits run after run, whichever core takes which units")
    func filterDeterministic() throws {
        let f = try Fixture("filter gradient units: 2 runs of planes per sample", seed: 33)
        var first: [Float] = []
        for run in 0..<12 {
            var filter = [Float](repeating: .nan, count: f.w.count)
            f.dy.withUnsafeBufferPointer { dyp in f.x.withUnsafeBufferPointer { xp in f.kernel.backwardFilter(&filter, dyp.baseAddress!, xp.baseAddress!) } }
            if run == 0 { first = filter } else { #expect(zip(filter, first).allSatisfy { $0.bitPattern == $1.bitPattern }, "run \(run)") }
        }
    }

    @Test("the rule runs it for the small network's 16- and 32-channel layers (forward, data), the filter gradient up to 16 channels, not for 64+ channels or the main job's network")
    func rule() {
        func geometry(_ x: Shape, _ w: Shape) -> ConvGeometry { ConvGeometry(input: x, weight: w, stride: Triple(1), padding: Triple(1)) }
        guard ConvAlgorithm.forced == nil else { return }  // EMOTION3D_CONV overrides the rule
        let features4 = geometry([30, 16, 10, 24, 24], [32, 16, 3, 3, 3]), features8 = geometry([30, 32, 5, 12, 12], [64, 32, 3, 3, 3])
        #expect([features4, features8].allSatisfy { ConvAlgorithm.blocked($0, .forward) != nil && ConvAlgorithm.blocked($0, .backwardData) != nil })
        #expect(ConvAlgorithm.blocked(features4, .backwardFilter) != nil && ConvAlgorithm.blocked(features8, .backwardFilter) == nil)
        let first = geometry([30, 3, 10, 48, 48], [16, 3, 3, 3, 3])
        #expect(ConvAlgorithm.blocked(first, .backwardFilter) != nil && ConvAlgorithm.blocked(first, .forward) == nil)
        #expect(ConvAlgorithm.blocked(geometry([8, 3, 10, 32, 32], [8, 3, 3, 3, 3]), .backwardFilter) == nil)
        #expect(ConvAlgorithm.blocked(geometry([30, 64, 5, 12, 12], [64, 64, 3, 3, 3]), .forward) == nil)
        #expect(ConvAlgorithm.blocked(geometry([4, 64, 10, 56, 56], [128, 64, 3, 3, 3]), .forward) == nil)
        #expect(ConvAlgorithm.blocked(geometry([8, 16, 5, 16, 16], [32, 16, 3, 3, 3]), .forward) == nil)
    }

    @Test("applies to stride 1 with padding below the kernel, not to other strides or wider padding")
    func applicability() {
        func applies(_ w: Shape, stride: Triple = Triple(1), padding: Triple = Triple(1)) -> Bool {
            BlockedConv3D(ConvGeometry(input: [1, 2, 4, 8, 8], weight: w, stride: stride, padding: padding)) != nil
        }
        #expect(applies([3, 2, 3, 3, 3]) && applies([3, 2, 1, 3, 3], padding: Triple(0, 1, 1)) && applies([3, 2, 3, 5, 5], padding: Triple(1, 2, 2)))
        #expect(!applies([3, 2, 3, 3, 3], stride: Triple(2, 1, 1)) && !applies([3, 2, 3, 3, 3], padding: Triple(1, 3, 3)))
    }
}
