/// An operator whose `Float` kernel writes into memory it is given (a compiled program's arena)
/// instead of allocating its outputs.
///
/// It must compute bitwise what `evaluate(_:_:)` computes for `Float`: the interpreter is the
/// reference a compiled program is tested against.
public protocol BufferEvaluable: Operator {
    /// Writes every output. `outputs[k]` holds `outputShapes[k].count` floats whose contents are
    /// undefined; `inputs[k]` holds a value of shape `inputShapes[k]`. When the operator declares
    /// `inPlaceInput`, `outputs[0]` may be that input's memory: the kernel then reads each element
    /// before it writes it. `scratch`, when the memory planner reserves some for the node
    /// (`MemoryPlanner.scratchCount`), is the node's alone while it runs.
    func evaluate(
        into outputs: [UnsafeMutableBufferPointer<Float>], _ inputs: [UnsafeBufferPointer<Float>], inputShapes: [Shape],
        scratch: UnsafeMutableBufferPointer<Float>?, _ context: EvaluationContext)

    /// The inputs from which the kernel derives what it keeps in `context.prepared` between runs
    /// (transformed weights); empty, the default, when it keeps nothing.
    var preparedFrom: [Int] { get }
}

extension BufferEvaluable {
    public var preparedFrom: [Int] { [] }
}
