/// A dense row-major tensor value. The interpreter and the reference kernels work on these.
public struct Tensor<Scalar: KernelScalar>: Sendable {
    public var shape: Shape
    public var scalars: [Scalar]

    /// Wraps `scalars`; their count must equal `shape.count` (a programming error otherwise).
    public init(shape: Shape, scalars: [Scalar]) {
        precondition(shape.count == scalars.count, "Tensor: \(scalars.count) scalars for shape \(shape)")
        self.shape = shape
        self.scalars = scalars
    }

    public init(repeating value: Scalar, shape: Shape) {
        self.init(shape: shape, scalars: [Scalar](repeating: value, count: shape.count))
    }

    public static func zeros(_ shape: Shape) -> Tensor { Tensor(repeating: 0, shape: shape) }

    /// The same values in another scalar type.
    public func converted<Other: KernelScalar>(to _: Other.Type = Other.self) -> Tensor<Other> {
        Tensor<Other>(shape: shape, scalars: scalars.map { Other($0) })
    }
}
