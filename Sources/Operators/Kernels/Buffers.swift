import GraphCore

/// Runs `body` with the tensors' storage as buffer pointers, valid for the call.
public func withBuffers<R>(_ tensors: [Tensor<Float>], _ body: ([UnsafeBufferPointer<Float>]) -> R) -> R {
    var pointers: [UnsafeBufferPointer<Float>] = []
    pointers.reserveCapacity(tensors.count)
    func nest(_ index: Int) -> R {
        if index == tensors.count { return body(pointers) }
        return tensors[index].scalars.withUnsafeBufferPointer { buffer in
            pointers.append(buffer)
            return nest(index + 1)
        }
    }
    return nest(0)
}

extension BufferEvaluable {
    /// The allocating `Float` kernel as the buffer kernel on fresh arrays, so that the interpreter
    /// and a compiled program compute the same bits (operators without scratch).
    func evaluateAllocating(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        let shapes = inputs.map(\.shape)
        let outputs = try! outputShapes(for: shapes)
        return withBuffers(inputs) { pointers in
            // Each output array is built around the next one, so every buffer stays valid for the kernel.
            func build(_ index: Int, _ targets: [UnsafeMutableBufferPointer<Float>]) -> [Tensor<Float>] {
                if index == outputs.count {
                    evaluate(into: targets, pointers, inputShapes: shapes, scratch: nil, context)
                    return []
                }
                var rest: [Tensor<Float>] = []
                let array = [Float](unsafeUninitializedCapacity: outputs[index].count) { buffer, count in
                    rest = build(index + 1, targets + [buffer])
                    count = outputs[index].count
                }
                return [Tensor(shape: outputs[index], scalars: array)] + rest
            }
            return build(0, [])
        }
    }
}

/// `out[i] = f(x[i])`; `out` may be `x`'s memory (each element is read before it is written).
@inline(__always)
func mapBuffer(_ out: UnsafeMutableBufferPointer<Float>, _ x: UnsafeBufferPointer<Float>, _ f: (Float) -> Float) {
    let target = out.baseAddress!, source = x.baseAddress!
    for i in 0..<out.count { target[i] = f(source[i]) }
}

/// `out[i] = f(a[i], b[i])`; `out` may be `a`'s memory.
@inline(__always)
func zipMapBuffer(
    _ out: UnsafeMutableBufferPointer<Float>, _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, _ f: (Float, Float) -> Float
) {
    let target = out.baseAddress!, pa = a.baseAddress!, pb = b.baseAddress!
    for i in 0..<out.count { target[i] = f(pa[i], pb[i]) }
}
