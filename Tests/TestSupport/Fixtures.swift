import Foundation
import GraphCore
import HDF5

/// Paths inside the repository's `Fixtures/` folder.
public enum Fixtures {
    /// The repository root, found from this file's location.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func path(_ relative: String) -> String { root.appendingPathComponent("Fixtures").appendingPathComponent(relative).path }
}

extension HDF5Group {
    /// A dataset as a `Float` tensor.
    public func tensor(_ name: String) throws -> Tensor<Float> {
        let array = try read(name, as: Float.self)
        return Tensor(shape: Shape(array.shape), scalars: array.values)
    }
}

/// max |a − b| / max(max |b|, floor): the relative error of a whole tensor. The floor keeps
/// tensors that are zero in exact arithmetic (a convolution bias followed by BatchNorm in
/// training has a zero gradient) from dividing Float32 rounding noise by Float64 rounding noise.
public func relativeError(_ a: Tensor<Float>, _ b: Tensor<Float>, floor: Double = 1e-4) -> Double {
    precondition(a.shape.count == b.shape.count, "comparing \(a.shape) with \(b.shape)")
    let scale = Double(b.scalars.map(abs).max() ?? 0)
    let difference = zip(a.scalars, b.scalars).map { Double(abs($0 - $1)) }.max() ?? 0
    return difference / max(scale, floor)
}
