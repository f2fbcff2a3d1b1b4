/// The dimensions of a tensor, outermost first. Public layout is PyTorch's `[N, C, D, H, W]`.
/// A rank-0 shape (`[]`) is a scalar with one element.
public struct Shape: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dims: [Int]

    public init(_ dims: [Int]) { self.dims = dims }
    public init(arrayLiteral elements: Int...) { self.dims = elements }

    public var rank: Int { dims.count }
    /// Number of elements (1 for a scalar).
    public var count: Int { dims.reduce(1, *) }
    public subscript(axis: Int) -> Int { dims[axis] }
    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

    /// Row-major strides in elements.
    public var strides: [Int] {
        var result = [Int](repeating: 1, count: rank)
        var step = 1
        for axis in (0..<rank).reversed() {
            result[axis] = step
            step *= dims[axis]
        }
        return result
    }
}
