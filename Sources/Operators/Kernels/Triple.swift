import GraphCore

/// Sizes along (depth, height, width): kernels, strides and paddings of 3D operators.
public struct Triple: Hashable, Sendable, Codable, CustomStringConvertible {
    public var d: Int, h: Int, w: Int
    public init(_ d: Int, _ h: Int, _ w: Int) {
        self.d = d
        self.h = h
        self.w = w
    }
    public init(_ all: Int) { self.init(all, all, all) }
    public var array: [Int] { [d, h, w] }
    public var product: Int { d * h * w }
    public var description: String { "\(d)x\(h)x\(w)" }
}

/// Output extent of a sliding window: `(input + 2·padding − kernel) / stride + 1`.
func slidingOutput(_ input: Int, kernel: Int, stride: Int, padding: Int) -> Int {
    (input + 2 * padding - kernel) / stride + 1
}

/// Shape rule shared by 3D convolution and pooling: the output's spatial extent, or an error
/// naming the axis when the window does not fit.
func slidingShape(
    _ input: Shape, kernel: Triple, stride: Triple, padding: Triple, _ name: String
) throws(ShapeError) -> Triple {
    guard input.rank == 5 else {
        throw ShapeError("\(name) expects an input [N, C, D, H, W], got \(input)")
    }
    let axes = ["depth", "height", "width"]
    var out = [0, 0, 0]
    for axis in 0..<3 {
        let extent = input[2 + axis], k = kernel.array[axis], s = stride.array[axis], p = padding.array[axis]
        guard k >= 1, s >= 1, p >= 0 else {
            throw ShapeError("\(name) needs kernel ≥ 1, stride ≥ 1, padding ≥ 0 along \(axes[axis]); got kernel \(k), stride \(s), padding \(p)")
        }
        guard extent + 2 * p >= k else {
            throw ShapeError("\(name) kernel \(k) is larger than the padded input \(extent + 2 * p) along \(axes[axis]) (input \(input))")
        }
        out[axis] = slidingOutput(extent, kernel: k, stride: s, padding: p)
    }
    return Triple(out[0], out[1], out[2])
}

/// The range of output positions `o` for which `o·stride + tap − padding` lies in `0..<extent`.
@inline(__always)
func validOutputs(tap: Int, stride: Int, padding: Int, extent: Int, outputs: Int) -> Range<Int> {
    // smallest o with o*stride >= padding - tap
    let low = max(0, (padding - tap + stride - 1) / stride)
    // largest o with o*stride + tap - padding <= extent - 1
    let numerator = extent - 1 + padding - tap
    let high = numerator < 0 ? -1 : min(outputs - 1, numerator / stride)
    return low <= high ? low..<(high + 1) : 0..<0
}
