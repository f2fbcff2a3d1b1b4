import RealModule

/// The element types kernels run on: `Float` in production, `Double` for finite-difference checks.
public protocol KernelScalar: BinaryFloatingPoint, Real, Sendable, Codable
where Self.RawSignificand: FixedWidthInteger {
    /// The value rounded toward zero, as `Int(value)`: the concrete conversion, since the generic
    /// `Int(T)` is an opaque call per element in specialised kernels (half of the max-pool scatter).
    var truncatedInt: Int { get }
}

extension Float: KernelScalar {
    @inlinable public var truncatedInt: Int { Int(self) }
}

extension Double: KernelScalar {
    @inlinable public var truncatedInt: Int { Int(self) }
}
