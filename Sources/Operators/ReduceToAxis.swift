import GraphCore

/// Sums over every axis but `axis`, times `scale`: `[N, C, …] → [C]` for axis 1 (bias gradients,
/// BatchNorm means with scale 1/M), `[N, K] → [N]` for axis 0 (row sums).
public struct ReduceToAxis: ReferenceOperator {
    public let axis: Int
    public let scale: Double
    public init(axis: Int, scale: Double = 1) {
        self.axis = axis
        self.scale = scale
    }

    public var name: String { "reduce_to_axis" }
    public var attributes: KeyValuePairs<String, String> { ["axis": "\(axis)", "scale": "\(scale)"] }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] {
        try expectInputs(inputs, 1...1, name)
        guard axis >= 0, axis < inputs[0].rank else { throw ShapeError("\(name) axis \(axis) is outside \(inputs[0])") }
        return [[inputs[0][axis]]]
    }
    public func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(BroadcastAxis(axis: axis, shape: context.shape(context.inputs[0]), scale: scale), context.gradient)]
    }

    @_specialize(where T == Float) @_specialize(where T == Double)
    public func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        let shape = inputs[0].shape, channels = shape[axis]
        let inner = shape.dims[(axis + 1)...].reduce(1, *), outer = shape.dims[..<axis].reduce(1, *)
        var sums = [T](repeating: 0, count: channels)
        inputs[0].scalars.withUnsafeBufferPointer { x in
            for n in 0..<outer {
                for c in 0..<channels {
                    let base = (n * channels + c) * inner
                    var sum: T = 0
                    for k in 0..<inner { sum += x[base + k] }
                    sums[c] += sum
                }
            }
        }
        let s = T(scale)
        return [Tensor(shape: [channels], scalars: sums.map { $0 * s })]
    }

    static let samples = [
        OperatorSample("channels of 5D", ReduceToAxis(axis: 1, scale: 0.5), [.uniform([2, 3, 2, 2, 3])]),
        OperatorSample("rows", ReduceToAxis(axis: 0), [.uniform([4, 3])]),
        // Rows of whole 32-element steps and a tail (the Float kernel's vector path).
        OperatorSample("channels, rows of 77", ReduceToAxis(axis: 1), [.uniform([2, 3, 7, 11])]),
        OperatorSample("rows of 70", ReduceToAxis(axis: 0, scale: 2), [.uniform([3, 70])]),
    ]
}

extension ReduceToAxis: BufferEvaluable {
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        evaluateAllocating(inputs, context)
    }
    public func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext
    ) {
        let shape = inputShapes[0], channels = shape[axis]
        let inner = shape.dims[(axis + 1)...].reduce(1, *), outer = shape.dims[..<axis].reduce(1, *)
        let sums = SendablePointer(outputs[0].baseAddress!), x = SendableConstPointer(inputs[0].baseAddress!), s = Float(scale)
        // One task per channel, its rows summed in four 8-lane vectors: a serial Float chain per
        // row took 4 cycles per element (the conv bias gradients, 3.8 % of the small training step).
        parallelFor(channels, work: shape.count) { c in
            typealias V = SIMD8<Float>
            var total: Float = 0
            for n in 0..<outer {
                let row = x.base + (n * channels + c) * inner
                var a = V(), b = V(), d = V(), e = V(), k = 0
                while k + 32 <= inner {
                    let raw = UnsafeRawPointer(row + k)
                    a += raw.loadUnaligned(as: V.self)
                    b += raw.loadUnaligned(fromByteOffset: 32, as: V.self)
                    d += raw.loadUnaligned(fromByteOffset: 64, as: V.self)
                    e += raw.loadUnaligned(fromByteOffset: 96, as: V.self)
                    k += 32
                }
                var tail: Float = 0
                while k < inner {
                    tail += row[k]
                    k += 1
                }
                total += ((a + b) + (d + e)).sum() + tail
            }
            sums.base[c] = total * s
        }
    }
}
