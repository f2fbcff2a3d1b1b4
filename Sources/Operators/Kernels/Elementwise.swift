import GraphCore

/// Element-wise map of one tensor.
@inline(__always)
func map<T>(_ x: Tensor<T>, _ f: (T) -> T) -> Tensor<T> {
    Tensor(shape: x.shape, scalars: x.scalars.map(f))
}

/// Element-wise map of two tensors of the same shape.
@inline(__always)
func zipMap<T>(_ a: Tensor<T>, _ b: Tensor<T>, _ f: (T, T) -> T) -> Tensor<T> {
    var result = [T](repeating: 0, count: a.scalars.count)
    a.scalars.withUnsafeBufferPointer { pa in
        b.scalars.withUnsafeBufferPointer { pb in
            for i in 0..<result.count { result[i] = f(pa[i], pb[i]) }
        }
    }
    return Tensor(shape: a.shape, scalars: result)
}

/// Shape rule shared by element-wise binary operators: both inputs have one shape.
func sameShapes(_ inputs: [Shape], _ name: String) throws(ShapeError) -> [Shape] {
    try expectInputs(inputs, 2...2, name)
    guard inputs[0] == inputs[1] else {
        throw ShapeError("\(name) needs inputs of one shape, got \(inputs[0]) and \(inputs[1])")
    }
    return [inputs[0]]
}
