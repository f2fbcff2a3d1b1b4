import RealModule

/// The element types kernels run on: `Float` in production, `Double` for finite-difference checks.
public protocol KernelScalar: BinaryFloatingPoint, Real, Sendable, Codable
where Self.RawSignificand: FixedWidthInteger {}

extension Float: KernelScalar {}
extension Double: KernelScalar {}
