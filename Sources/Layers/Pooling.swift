import GraphCore
import Operators

/// 3D max pooling (stride defaults to the kernel, as PyTorch).
public struct MaxPool3D: Layer {
    public let kernel: Triple, stride: Triple, padding: Triple
    public init(kernel: Triple, stride: Triple? = nil, padding: Triple = Triple(0)) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }
    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value {
        try builder.apply(Operators.MaxPool3D(kernel: kernel, stride: stride, padding: padding), x)
    }
    public var summary: String { "MaxPool3D(kernel \(kernel), stride \(stride), padding \(padding))" }
}

/// 3D average pooling; padded zeros count (PyTorch's `count_include_pad=True`).
public struct AvgPool3D: Layer {
    public let kernel: Triple, stride: Triple, padding: Triple
    public init(kernel: Triple, stride: Triple? = nil, padding: Triple = Triple(0)) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }
    public func callAsFunction(_ x: Value, _ builder: ModelBuilder) throws -> Value {
        try builder.apply(Operators.AvgPool3D(kernel: kernel, stride: stride, padding: padding), x)
    }
    public var summary: String { "AvgPool3D(kernel \(kernel), stride \(stride), padding \(padding))" }
}
