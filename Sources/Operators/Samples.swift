import GraphCore

/// How a gradient-check sample draws one input.
public enum SampleInput: Sendable {
    /// Uniform in a range.
    case uniform(Shape, ClosedRange<Double> = -1...1)
    /// Uniform in ±[margin, 1]: keeps values off a kink at 0 (ReLU and friends).
    case awayFromZero(Shape, margin: Double = 0.1)
    /// Distinct values at least 0.05 apart in random order: no ties (max pooling).
    case distinct(Shape)
    /// Uniform in [0.5, 2]: positive inputs (reciprocal square roots).
    case positive(Shape)
    /// Class indices in `0..<classes`, stored as floats; not differentiable.
    case labels(Shape, classes: Int)
    /// Exactly these values (step counters).
    case fixed(Shape, [Double])

    public var shape: Shape {
        switch self {
        case let .uniform(shape, _), let .awayFromZero(shape, _), let .distinct(shape),
            let .positive(shape), let .labels(shape, _), let .fixed(shape, _):
            return shape
        }
    }

    /// Draws the values.
    public func draw(_ generator: inout SeededGenerator) -> Tensor<Double> {
        let count = shape.count
        var values = [Double](repeating: 0, count: count)
        switch self {
        case let .uniform(_, range):
            for i in 0..<count { values[i] = range.lowerBound + (range.upperBound - range.lowerBound) * generator.nextUnitDouble() }
        case let .awayFromZero(_, margin):
            for i in 0..<count {
                let magnitude = margin + (1 - margin) * generator.nextUnitDouble()
                values[i] = generator.next() & 1 == 0 ? magnitude : -magnitude
            }
        case .distinct:
            values = (0..<count).map { Double($0) * 0.05 - Double(count) * 0.025 }
            values.shuffle(using: &generator)
        case .positive:
            for i in 0..<count { values[i] = 0.5 + 1.5 * generator.nextUnitDouble() }
        case let .labels(_, classes):
            for i in 0..<count { values[i] = Double(Int(generator.next() % UInt64(classes))) }
        case let .fixed(_, fixed):
            values = fixed
        }
        return Tensor(shape: shape, scalars: values)
    }
}

/// One case of the operator test harness: an operator with small inputs and its tolerances.
public struct OperatorSample: Sendable {
    public var label: String
    public var op: any Operator
    public var inputs: [SampleInput]
    /// Finite-difference tolerance (PyTorch's `gradcheck` form, tighter: central differences in Double with h = 1e-6 are exact to ~1e-9): |analytic − numeric| ≤ absolute + relative·|numeric|.
    public var absoluteTolerance: Double
    public var relativeTolerance: Double

    public init(
        _ label: String, _ op: any Operator, _ inputs: [SampleInput],
        absoluteTolerance: Double = 1e-7, relativeTolerance: Double = 1e-6
    ) {
        self.label = label
        self.op = op
        self.inputs = inputs
        self.absoluteTolerance = absoluteTolerance
        self.relativeTolerance = relativeTolerance
    }
}
