import GraphCore
import Testing

@testable import Operators

/// A fast `Float` kernel case: the operator, its inputs, and a label.
struct FastCase: CustomTestStringConvertible, Sendable {
    let label: String
    let op: any ReferenceOperator
    let inputs: [Shape]
    var testDescription: String { "\(op.name): \(label)" }
}

/// Odd shapes: batch 1, one channel, sizes that are not multiples of 8, strides, temporal 1 and 5,
/// the (0,1,1) padding, and several samples per tile (small planes).
let convCases: [(String, Conv3D, Shape, Shape)] = [
    ("3x3x3 pad 1, batch 1", Conv3D(padding: Triple(1)), [1, 3, 5, 9, 11], [5, 3, 3, 3, 3]),
    ("one channel in and out", Conv3D(padding: Triple(1)), [2, 1, 3, 7, 6], [1, 1, 3, 3, 3]),
    ("temporal 1, padding (0,1,1)", Conv3D(padding: Triple(0, 1, 1)), [2, 4, 3, 5, 7], [6, 4, 1, 3, 3]),
    ("temporal 5", Conv3D(padding: Triple(2, 1, 1)), [1, 2, 4, 6, 5], [3, 2, 5, 3, 3]),
    ("temporal 9 on 1 frame", Conv3D(padding: Triple(4, 1, 1)), [3, 5, 1, 4, 4], [7, 5, 9, 3, 3]),
    ("strides (1,2,2), padding (0,1,1)", Conv3D(stride: Triple(1, 2, 2), padding: Triple(0, 1, 1)), [2, 3, 3, 9, 10], [4, 3, 2, 3, 3]),
    ("stride 2 everywhere, no padding", Conv3D(stride: Triple(2)), [1, 2, 7, 9, 9], [3, 2, 3, 3, 3]),
    ("many samples per tile", Conv3D(padding: Triple(1)), [13, 6, 2, 4, 4], [9, 6, 3, 3, 3]),
    // Large enough for one worker per core: odd batch split between workers, and batch 1.
    ("two workers, batch 3", Conv3D(padding: Triple(1)), [3, 8, 4, 29, 31], [16, 8, 3, 3, 3]),
    ("two workers, batch 2, 1 frame", Conv3D(padding: Triple(1)), [2, 8, 1, 29, 30], [48, 8, 3, 3, 3]),
    ("two workers, batch 1", Conv3D(padding: Triple(1)), [1, 16, 5, 29, 28], [24, 16, 3, 3, 3]),
]

let fastCases: [FastCase] = convCases.flatMap { label, conv, x, w -> [FastCase] in
    let y = try! conv.outputShapes(for: [x, w])[0]
    return [
        FastCase(label: label, op: conv, inputs: [x, w]),
        FastCase(label: label + ", bias", op: conv, inputs: [x, w, [w[0]]]),
        FastCase(label: label, op: Conv3DBackwardData(stride: conv.stride, padding: conv.padding, inputShape: x), inputs: [y, w]),
        FastCase(label: label, op: Conv3DBackwardFilter(stride: conv.stride, padding: conv.padding, weightShape: w), inputs: [y, x]),
    ]
} + [
    FastCase(label: "7x5 · 5x3", op: MatMul(), inputs: [[7, 5], [5, 3]]),
    FastCase(label: "transposed both", op: MatMul(transposeA: true, transposeB: true), inputs: [[9, 1], [11, 9]]),
    FastCase(label: "dense", op: MatMul(transposeB: true), inputs: [[3, 17], [13, 17]]),
    // A few rows against ≥ 2^20 weights: the columns are split over the cores.
    FastCase(label: "dense at batch 3, columns split", op: MatMul(transposeB: true), inputs: [[3, 1024], [1031, 1024]]),
    FastCase(label: "2 rows, columns split", op: MatMul(), inputs: [[2, 1025], [1025, 1027]]),
    FastCase(label: "1x2x2, odd width", op: MaxPool3D(kernel: Triple(1, 2, 2), stride: Triple(1, 2, 2)), inputs: [[1, 1, 3, 7, 13]]),
    FastCase(label: "2x2x2, planes split over workers", op: MaxPool3D(kernel: Triple(2), stride: Triple(2)), inputs: [[3, 7, 5, 33, 35]]),
    FastCase(label: "the last pool's padding", op: MaxPool3D(kernel: Triple(1, 2, 2), stride: Triple(2), padding: Triple(0, 1, 1)), inputs: [[2, 3, 1, 7, 7]]),
    FastCase(label: "2x2x2 with offsets, split over workers", op: MaxPool3DIndexed(kernel: Triple(2), stride: Triple(2)), inputs: [[3, 7, 5, 33, 35]]),
    FastCase(label: "1x2x2 with offsets, 48 wide (16-wide loads only)", op: MaxPool3DIndexed(kernel: Triple(1, 2, 2), stride: Triple(1, 2, 2)), inputs: [[2, 3, 2, 6, 48]]),
    FastCase(label: "1x2x2, 50 wide", op: MaxPool3D(kernel: Triple(1, 2, 2), stride: Triple(1, 2, 2)), inputs: [[1, 2, 3, 4, 50]]),
    FastCase(label: "1x3x3 stride 1 with offsets", op: MaxPool3DIndexed(kernel: Triple(1, 3, 3), stride: Triple(1)), inputs: [[1, 2, 2, 9, 11]]),
]

@Suite("Fast Float kernels match their reference kernels")
struct FastKernelTests {
    @Test(arguments: fastCases)
    func matchesReference(_ sample: FastCase) {
        var generator = SeededGenerator(seed: 11)
        let inputs = sample.inputs.map { SampleInput.uniform($0).draw(&generator).converted(to: Float.self) }
        let fast = sample.op.evaluate(inputs, EvaluationContext())
        let reference = sample.op.reference(inputs, EvaluationContext())
        #expect(fast.map(\.shape) == reference.map(\.shape))
        for (f, r) in zip(fast, reference) {
            let scale = max(r.scalars.map(abs).max() ?? 0, 1)
            let worst = zip(f.scalars, r.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * scale, "max difference \(worst) (scale \(scale))")
        }
    }

    @Test("max pooling: a NaN in a window wins (the first one's offset), −∞ windows stay −∞, as in the reference")
    func maxPoolSpecialValues() {
        let pool = MaxPool3D(kernel: Triple(1, 2, 2), stride: Triple(1, 2, 2))
        var scalars = [Float](repeating: -.infinity, count: 2 * 4 * 6)
        scalars[7] = .nan
        scalars[9] = 3
        scalars[30] = 2
        scalars[31] = .nan
        scalars[19] = .nan  // with 13: two NaNs in one window
        scalars[13] = .nan
        let x = Tensor<Float>(shape: [1, 1, 2, 4, 6], scalars: scalars)
        let fast = pool.evaluate([x], EvaluationContext())[0].scalars, reference = pool.reference([x], EvaluationContext())[0].scalars
        #expect(fast.count == reference.count)
        for (f, r) in zip(fast, reference) { #expect(f == r || (f.isNaN && r.isNaN), "fast \(f), reference \(r)") }
        #expect(fast[0].isNaN && fast[1] == 3 && fast[2] == -.infinity && fast[6].isNaN)
        // With offsets: the first NaN's (13, not 19), the first element's for an all −∞ window.
        let indexed = MaxPool3DIndexed(kernel: pool.kernel, stride: pool.stride)
        let offsets = indexed.evaluate([x], EvaluationContext())[1].scalars, expected = indexed.reference([x], EvaluationContext())[1].scalars
        #expect(offsets == expected)
        #expect(offsets[3] == 13 && offsets[2] == 4 && offsets[0] == 7)
    }

    @Test("BatchNorm + activation + max pool in one pass: the same bits as BatchNormActivation then MaxPool3DIndexed",
        arguments: [
            (ActivationKind?.some(.relu), Triple(1, 2, 2), [3, 5, 2, 6, 37]), (.leakyRelu(slope: 0.1), Triple(2), [2, 3, 4, 9, 24]),
            (nil, Triple(2), [1, 2, 3, 5, 7]), (.mish, Triple(1, 2, 2), [2, 2, 1, 4, 16]),
        ])
    func batchNormMaxPool(_ activation: ActivationKind?, _ window: Triple, _ dims: [Int]) {
        let shape = Shape(dims)
        var generator = SeededGenerator(seed: 14)
        let inputs = [SampleInput.uniform(shape), .positive([shape[1]]), .uniform([shape[1]])].map { $0.draw(&generator).converted(to: Float.self) }
        let fused = BatchNormActivationMaxPool(epsilon: 1e-5, activation: activation, kernel: window, stride: window).evaluate(inputs, EvaluationContext())
        let normalised = BatchNormActivation(epsilon: 1e-5, activation: activation).evaluate(inputs, EvaluationContext())
        let pooled = MaxPool3DIndexed(kernel: window, stride: window).evaluate([normalised[0]], EvaluationContext())
        let expected = [pooled[0], normalised[1], normalised[2], pooled[1]]
        #expect(fused.map(\.shape) == expected.map(\.shape))
        for (position, (f, e)) in zip(fused, expected).enumerated() {
            #expect(zip(f.scalars, e.scalars).allSatisfy { $0.bitPattern == $1.bitPattern }, "output \(position)")
        }
    }

    @Test("max pooling, 16-wide loads: NaN and −∞ windows and ties give the reference's values and offsets")
    func maxPoolSpecialValuesVectorised() {
        var scalars = (0..<(2 * 32)).map { Float($0 % 5) }
        for k in [3, 34, 40, 41, 17] { scalars[k] = .nan }
        for k in [8, 9, 40 - 32, 41 - 32 + 32] { scalars[k] = -.infinity }
        for k in [20, 21, 52, 53] { scalars[k] = -.infinity }
        let x = Tensor<Float>(shape: [1, 1, 1, 2, 32], scalars: scalars)
        let pool = MaxPool3DIndexed(kernel: Triple(1, 2, 2), stride: Triple(1, 2, 2))
        let fast = pool.evaluate([x], EvaluationContext()), reference = pool.reference([x], EvaluationContext())
        for (f, r) in zip(fast[0].scalars, reference[0].scalars) { #expect(f == r || (f.isNaN && r.isNaN), "fast \(f), reference \(r)") }
        #expect(fast[1].scalars == reference[1].scalars)
        #expect(fast[0].scalars[10] == -.infinity && fast[1].scalars[10] == 20)
    }

    @Test("each algorithm (direct, 16-lane direct, vol2col + sgemm) matches the reference", arguments: convCases.map(\.0))
    func eachAlgorithm(_ label: String) {
        let (_, conv, xShape, wShape) = convCases.first { $0.0 == label }!
        var generator = SeededGenerator(seed: 12)
        let x = SampleInput.uniform(xShape).draw(&generator).converted(to: Float.self)
        let w = SampleInput.uniform(wShape).draw(&generator).converted(to: Float.self)
        let bias = SampleInput.uniform([wShape[0]]).draw(&generator).converted(to: Float.self)
        let g = ConvGeometry(input: xShape, weight: wShape, stride: conv.stride, padding: conv.padding)
        let y = conv.reference([x, w, bias], EvaluationContext())[0]
        let dy = SampleInput.uniform(y.shape).draw(&generator).converted(to: Float.self)
        let dx = Conv3DBackwardData(stride: conv.stride, padding: conv.padding, inputShape: xShape).reference([dy, w], EvaluationContext())[0]
        func close(_ a: [Float], _ b: [Float]) -> Bool {
            let scale = max(b.map(abs).max() ?? 0, 1)
            return zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * scale }
        }
        var forward: [[Float]] = [], data: [[Float]] = []
        x.scalars.withUnsafeBufferPointer { xp in
            w.scalars.withUnsafeBufferPointer { wp in
                bias.scalars.withUnsafeBufferPointer { bp in
                    dy.scalars.withUnsafeBufferPointer { dyp in
                        var out = [Float](repeating: .nan, count: y.shape.count), grad = [Float](repeating: .nan, count: xShape.count)
                        let epilogue = ConvEpilogue(bias: bp.baseAddress, activation: nil)
                        FastConv3D(g).forward(&out, xp.baseAddress!, wp.baseAddress!, epilogue)
                        FastConv3D(g).backwardData(&grad, dyp.baseAddress!, wp.baseAddress!)
                        forward.append(out)
                        data.append(grad)
                        if let direct16 = DirectConv16(g) {
                            out = [Float](repeating: .nan, count: y.shape.count)
                            direct16.forward(&out, xp.baseAddress!, wp.baseAddress!, epilogue)
                            forward.append(out)
                            // With an activation applied after the bias.
                            var activated = out
                            direct16.forward(&activated, xp.baseAddress!, wp.baseAddress!, ConvEpilogue(bias: bp.baseAddress, activation: .relu))
                            #expect(activated == out.map { max($0, 0) }, "16-lane direct: activation")
                        }
                        if let direct = DirectConv3D(g) {
                            direct.forward(&out, xp.baseAddress!, wp.baseAddress!, epilogue)
                            forward.append(out)
                            if DirectConv3D.backwardData(g, &grad, dyp.baseAddress!, wp.baseAddress!) { data.append(grad) }
                        }
                    }
                }
            }
        }
        #expect(forward.allSatisfy { close($0, y.scalars) }, "forward")
        #expect(data.allSatisfy { close($0, dx.scalars) }, "backward data")
        if conv.stride == Triple(1) { #expect(forward.count == (DirectConv16(g) == nil ? 2 : 3) && data.count == 2) }
        if fmaPeakLanes == 16 && conv.stride == Triple(1) && xShape[1] <= 4 { #expect(DirectConv16(g) != nil) }
    }

    @Test("each algorithm works inside the planned scratch: uses it, stays within it, same bits as its own allocation",
        arguments: convCases.map(\.0))
    func plannedScratch(_ label: String) {
        let (_, conv, xShape, wShape) = convCases.first { $0.0 == label }!
        var generator = SeededGenerator(seed: 13)
        let x = SampleInput.uniform(xShape).draw(&generator).converted(to: Float.self).scalars
        let w = SampleInput.uniform(wShape).draw(&generator).converted(to: Float.self).scalars
        let g = ConvGeometry(input: xShape, weight: wShape, stride: conv.stride, padding: conv.padding)
        let yCount = try! conv.outputShapes(for: [xShape, wShape])[0].count
        let dy = SampleInput.uniform([yCount]).draw(&generator).converted(to: Float.self).scalars
        // What the planner reserves covers the kernel the rule runs.
        let rule = ConvAlgorithm.preferred(g, backward: false), ruleData = ConvAlgorithm.preferred(g, backward: true)
        let gemm = FastConv3D(g)
        let planned = { (pass: ConvPass) in conv3DScratchCount(input: xShape, weight: wShape, stride: conv.stride, padding: conv.padding, pass: pass) }
        let forwardNeed = ConvAlgorithm.direct16(g)?.scratchFloats ?? (rule == .direct ? DirectConv3D(g)?.forwardScratchFloats : nil) ?? gemm.scratchFloats(.forward)
        #expect(planned(.forward) >= forwardNeed)
        #expect(planned(.backwardData) >= (ruleData == .direct ? DirectConv3D.backwardDataScratchFloats(g) : nil) ?? gemm.scratchFloats(.backwardData))
        #expect(planned(.backwardFilter) >= gemm.scratchFloats(.backwardFilter))
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                dy.withUnsafeBufferPointer { dyp in
                    let none = ConvEpilogue(bias: nil, activation: .relu)
                    checkPlannedScratch("gemm forward", count: gemm.scratchFloats(.forward), outputs: yCount) {
                        gemm.forward($0, xp.baseAddress!, wp.baseAddress!, none, scratch: $1)
                    }
                    checkPlannedScratch("gemm backward-data", count: gemm.scratchFloats(.backwardData), outputs: xShape.count) {
                        gemm.backwardData($0, dyp.baseAddress!, wp.baseAddress!, scratch: $1)
                    }
                    checkPlannedScratch("backward-filter", count: gemm.scratchFloats(.backwardFilter), outputs: wShape.count) {
                        gemm.backwardFilter($0, dyp.baseAddress!, xp.baseAddress!, scratch: $1)
                    }
                    if let direct16 = DirectConv16(g) {
                        checkPlannedScratch("16-lane direct forward", count: direct16.scratchFloats, outputs: yCount) {
                            direct16.forward($0, xp.baseAddress!, wp.baseAddress!, none, scratch: $1)
                        }
                    }
                    if let direct = DirectConv3D(g) {
                        checkPlannedScratch("direct forward", count: direct.forwardScratchFloats, outputs: yCount) {
                            direct.forward($0, xp.baseAddress!, wp.baseAddress!, none, scratch: $1)
                        }
                    }
                    if let count = DirectConv3D.backwardDataScratchFloats(g) {
                        checkPlannedScratch("direct backward-data", count: count, outputs: xShape.count) {
                            _ = DirectConv3D.backwardData(g, $0, dyp.baseAddress!, wp.baseAddress!, scratch: $1)
                        }
                    }
                }
            }
        }
    }

    @Test("every forward kernel applies a per-channel filter scale (folded BatchNorm) exactly as if the filter were scaled")
    func filterScale() {
        func check(_ x: Shape, _ w: Shape, _ kernels: [(String, (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, ConvEpilogue) -> Void)]) {
            var generator = SeededGenerator(seed: 41)
            let xs = SampleInput.uniform(x).draw(&generator).converted(to: Float.self).scalars
            let ws = SampleInput.uniform(w).draw(&generator).converted(to: Float.self).scalars
            let factors = SampleInput.uniform([w[0]]).draw(&generator).converted(to: Float.self).scalars
            let perFilter = w.count / w[0]
            let scaled = ws.indices.map { ws[$0] * factors[$0 / perFilter] }
            let bias = [Float](repeating: 0.25, count: w[0])
            let g = ConvGeometry(input: x, weight: w, stride: Triple(1), padding: Triple(1))
            for (name, kernel) in kernels {
                var byScale = [Float](repeating: .nan, count: g.batch * g.outChannels * g.output.product), byFilter = byScale
                bias.withUnsafeBufferPointer { b in
                    factors.withUnsafeBufferPointer { f in
                        kernel(&byScale, xs, ws, ConvEpilogue(bias: b.baseAddress, activation: .relu, scale: f.baseAddress))
                        kernel(&byFilter, xs, scaled, ConvEpilogue(bias: b.baseAddress, activation: .relu))
                    }
                }
                #expect(byScale == byFilter, "\(name)")
            }
        }
        let g = ConvGeometry(input: [2, 16, 3, 8, 8], weight: [24, 16, 3, 3, 3], stride: Triple(1), padding: Triple(1))
        var kernels: [(String, (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, ConvEpilogue) -> Void)] = [
            ("vol2col + sgemm", { FastConv3D(g).forward($0, $1, $2, $3) }),
            ("direct", { DirectConv3D(g)!.forward($0, $1, $2, $3) }),
            ("Winograd", { WinogradConv3D(g)!.forward($0, $1, $2, $3) }),
        ]
        if let blocked = BlockedConv3D(g) { kernels.append(("blocked", { blocked.forward($0, $1, $2, $3) })) }
        check([2, 16, 3, 8, 8], [24, 16, 3, 3, 3], kernels)
        let first = ConvGeometry(input: [2, 3, 3, 8, 20], weight: [20, 3, 3, 3, 3], stride: Triple(1), padding: Triple(1))
        if let direct16 = DirectConv16(first) { check([2, 3, 3, 8, 20], [20, 3, 3, 3, 3], [("16-lane direct", { direct16.forward($0, $1, $2, $3) })]) }
    }

    @Test("useful multiply-adds skip padding taps")
    func usefulWork() {
        // 1 frame, temporal kernel 3, padding 1: only the middle depth tap reads the input.
        let conv = Conv3D(padding: Triple(1, 0, 0))
        #expect(conv.usefulMultiplyAdds(input: [1, 2, 1, 3, 3], weight: [4, 2, 3, 3, 3]) == 4 * 2 * 9)
    }
}

/// Runs `kernel` once with its own allocation and once inside a NaN-filled planned scratch of
/// `count` floats between two guard zones: same bits, nothing written outside, the scratch used.
func checkPlannedScratch(
    _ pass: String, count: Int, outputs: Int, _ kernel: (UnsafeMutablePointer<Float>, UnsafeMutableBufferPointer<Float>?) -> Void
) {
    let guardCount = 64
    var own = [Float](repeating: 0, count: outputs), planned = [Float](repeating: 0, count: outputs)
    kernel(&own, nil)
    var memory = [Float](repeating: .nan, count: count + 2 * guardCount)
    for k in 0..<guardCount { memory[k] = 7; memory[count + guardCount + k] = 7 }
    memory.withUnsafeMutableBufferPointer { buffer in
        kernel(&planned, UnsafeMutableBufferPointer(rebasing: buffer[guardCount..<(guardCount + count)]))
    }
    #expect(own == planned, "\(pass): results differ")
    #expect(memory[..<guardCount].allSatisfy { $0 == 7 } && memory[(count + guardCount)...].allSatisfy { $0 == 7 }, "\(pass): wrote outside")
    #expect(memory[guardCount..<(guardCount + count)].contains { !$0.isNaN }, "\(pass): the planned scratch was not used")
}
