import GraphCore
import Testing

@testable import Operators

/// Shapes for the Winograd kernel beyond `convCases`: paddings 0 and 2, block columns that fill
/// whole 8-lane vectors (16 wide) or not (35), odd heights, depth stride 2, many samples per tile,
/// and planes split over several tiles.
let winogradCases: [(String, Conv3D, Shape, Shape)] =
    convCases.filter { WinogradConv3D(ConvGeometry(input: $0.2, weight: $0.3, stride: $0.1.stride, padding: $0.1.padding)) != nil } + [
        ("no spatial padding", Conv3D(padding: Triple(1, 0, 0)), [2, 3, 3, 9, 12], [4, 3, 3, 3, 3]),
        ("padding 2, 1 frame", Conv3D(padding: Triple(0, 2, 2)), [1, 2, 1, 5, 6], [3, 2, 1, 3, 3]),
        ("16 wide, odd height", Conv3D(padding: Triple(1)), [1, 3, 2, 7, 16], [2, 3, 3, 3, 3]),
        ("35 wide, 2 rows", Conv3D(padding: Triple(1)), [2, 2, 2, 2, 35], [3, 2, 3, 3, 3]),
        ("depth stride 2", Conv3D(stride: Triple(2, 1, 1), padding: Triple(1)), [1, 3, 5, 6, 6], [2, 3, 3, 3, 3]),
        ("temporal 5, many samples", Conv3D(padding: Triple(2, 1, 1)), [37, 4, 3, 4, 5], [5, 4, 5, 3, 3]),
        ("43 channels (not whole vectors), two workers", Conv3D(padding: Triple(1)), [2, 43, 3, 14, 14], [36, 43, 3, 3, 3]),
    ]

@Suite("Winograd F(2×2, 3×3) convolution")
struct WinogradTests {
    @Test("forward (bias, activation), data and filter gradients match the reference kernels", arguments: winogradCases.map(\.0))
    func matchesReference(_ label: String) throws {
        let (_, conv, xShape, wShape) = winogradCases.first { $0.0 == label }!
        let g = ConvGeometry(input: xShape, weight: wShape, stride: conv.stride, padding: conv.padding)
        let winograd = try #require(WinogradConv3D(g))
        var generator = SeededGenerator(seed: 21)
        let x = SampleInput.uniform(xShape).draw(&generator).converted(to: Float.self)
        let w = SampleInput.uniform(wShape).draw(&generator).converted(to: Float.self)
        let bias = SampleInput.uniform([wShape[0]]).draw(&generator).converted(to: Float.self)
        let y = conv.reference([x, w, bias], EvaluationContext())[0]
        let dy = SampleInput.uniform(y.shape).draw(&generator).converted(to: Float.self)
        let dx = Conv3DBackwardData(stride: conv.stride, padding: conv.padding, inputShape: xShape).reference([dy, w], EvaluationContext())[0]
        let dw = Conv3DBackwardFilter(stride: conv.stride, padding: conv.padding, weightShape: wShape).reference([dy, x], EvaluationContext())[0]
        var out = [Float](repeating: .nan, count: y.shape.count), grad = [Float](repeating: .nan, count: xShape.count)
        var filter = [Float](repeating: .nan, count: wShape.count)
        x.scalars.withUnsafeBufferPointer { xp in
            w.scalars.withUnsafeBufferPointer { wp in
                bias.scalars.withUnsafeBufferPointer { bp in
                    dy.scalars.withUnsafeBufferPointer { dyp in
                        winograd.forward(&out, xp.baseAddress!, wp.baseAddress!, ConvEpilogue(bias: bp.baseAddress, activation: .relu))
                        winograd.backwardData(&grad, dyp.baseAddress!, wp.baseAddress!)
                        winograd.backwardFilter(&filter, dyp.baseAddress!, xp.baseAddress!)
                    }
                }
            }
        }
        func worst(_ a: [Float], _ b: [Float]) -> Float {
            let scale = max(b.map(abs).max() ?? 0, 1)
            return zip(a, b).map { $0.isNaN ? .infinity : abs($0 - $1) / scale }.max() ?? 0
        }
        #expect(worst(out, y.scalars.map { max($0, 0) }) <= 1e-5, "forward")
        #expect(worst(grad, dx.scalars) <= 1e-5, "backward data")
        #expect(worst(filter, dw.scalars) <= 1e-5, "backward filter")
    }

    @Test("works inside the planned scratch: uses it, stays within it, same bits as its own allocation", arguments: winogradCases.map(\.0))
    func plannedScratch(_ label: String) throws {
        let (_, conv, xShape, wShape) = winogradCases.first { $0.0 == label }!
        let g = ConvGeometry(input: xShape, weight: wShape, stride: conv.stride, padding: conv.padding)
        let winograd = try #require(WinogradConv3D(g))
        var generator = SeededGenerator(seed: 22)
        let x = SampleInput.uniform(xShape).draw(&generator).converted(to: Float.self).scalars
        let w = SampleInput.uniform(wShape).draw(&generator).converted(to: Float.self).scalars
        let yCount = g.batch * g.outChannels * g.output.product
        let dy = SampleInput.uniform([yCount]).draw(&generator).converted(to: Float.self).scalars
        func check(_ pass: ConvPass, outputs: Int, _ kernel: (UnsafeMutablePointer<Float>, UnsafeMutableBufferPointer<Float>?) -> Void) {
            checkPlannedScratch("\(pass)", count: winograd.scratchFloats(pass), outputs: outputs, kernel)
        }
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                dy.withUnsafeBufferPointer { dyp in
                    check(.forward, outputs: yCount) { winograd.forward($0, xp.baseAddress!, wp.baseAddress!, ConvEpilogue(), scratch: $1) }
                    check(.backwardData, outputs: xShape.count) { winograd.backwardData($0, dyp.baseAddress!, wp.baseAddress!, scratch: $1) }
                    check(.backwardFilter, outputs: wShape.count) { winograd.backwardFilter($0, dyp.baseAddress!, xp.baseAddress!, scratch: $1) }
                }
            }
        }
    }

    @Test("keeps its transformed, scaled weights between calls until told they changed")
    func preparedWeights() throws {
        let (_, conv, xShape, wShape) = winogradCases.first { $0.0.hasPrefix("43 channels") }!
        let g = ConvGeometry(input: xShape, weight: wShape, stride: conv.stride, padding: conv.padding)
        let winograd = try #require(WinogradConv3D(g))
        var generator = SeededGenerator(seed: 23)
        let x = SampleInput.uniform(xShape).draw(&generator).converted(to: Float.self).scalars
        let w1 = SampleInput.uniform(wShape).draw(&generator).converted(to: Float.self).scalars
        let w2 = SampleInput.uniform(wShape).draw(&generator).converted(to: Float.self).scalars
        let scale = SampleInput.positive([wShape[0]]).draw(&generator).converted(to: Float.self).scalars
        let prepared = PreparedWeights()
        func forward(_ w: [Float], kept: Bool) -> [Float] {
            var y = [Float](repeating: .nan, count: g.batch * g.outChannels * g.output.product)
            x.withUnsafeBufferPointer { xp in
                w.withUnsafeBufferPointer { wp in
                    scale.withUnsafeBufferPointer { sp in
                        winograd.forward(&y, xp.baseAddress!, wp.baseAddress!, ConvEpilogue(scale: sp.baseAddress, prepared: kept ? prepared : nil))
                    }
                }
            }
            return y
        }
        let fresh1 = forward(w1, kept: false), fresh2 = forward(w2, kept: false)
        #expect(fresh1 != fresh2)
        #expect(forward(w1, kept: true) == fresh1, "first call: transforms into the kept buffer")
        #expect(forward(w2, kept: true) == fresh1, "second call: the kept transform of w1, not w2")
        prepared.invalidate()
        #expect(forward(w2, kept: true) == fresh2, "after invalidate: w2's transform")
    }

    @Test("the rule runs it on the paper's large layers, not on the first layer, small products or 7×7 filter gradients at batch 4")
    func rule() {
        func geometry(_ x: Shape, _ w: Shape) -> ConvGeometry { ConvGeometry(input: x, weight: w, stride: Triple(1), padding: Triple(1)) }
        let features4 = geometry([4, 64, 10, 56, 56], [128, 64, 3, 3, 3]), features22 = geometry([4, 512, 1, 7, 7], [512, 512, 3, 3, 3])
        guard ConvAlgorithm.forced == nil else { return }  // EMOTION3D_CONV overrides the rule
        #expect([ConvPass.forward, .backwardData, .backwardFilter].allSatisfy { ConvAlgorithm.winograd(features4, $0) != nil })
        #expect(ConvAlgorithm.winograd(features22, .forward) != nil && ConvAlgorithm.winograd(features22, .backwardFilter) == nil)
        #expect(ConvAlgorithm.winograd(geometry([4, 3, 10, 112, 112], [64, 3, 3, 3, 3]), .forward) == nil)
        #expect(ConvAlgorithm.winograd(geometry([8, 16, 5, 8, 8], [32, 16, 3, 3, 3]), .forward) == nil)
    }

    @Test("applies only to 3×3 spatial kernels with spatial stride 1 and padding ≤ 2")
    func applicability() {
        func applies(_ w: Shape, stride: Triple = Triple(1), padding: Triple = Triple(1)) -> Bool {
            WinogradConv3D(ConvGeometry(input: [1, 2, 4, 8, 8], weight: w, stride: stride, padding: padding)) != nil
        }
        #expect(applies([3, 2, 3, 3, 3]) && applies([3, 2, 1, 3, 3], padding: Triple(0, 1, 1)) && applies([3, 2, 3, 3, 3], stride: Triple(2, 1, 1)))
        #expect(!applies([3, 2, 3, 5, 5]) && !applies([3, 2, 3, 3, 3], stride: Triple(1, 2, 2)) && !applies([3, 2, 3, 3, 3], padding: Triple(1, 3, 3)))
    }
}
