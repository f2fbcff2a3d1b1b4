import GraphCore
import Operators

/// A 3D convolution layer: weight `[filters, Cin, kD, kH, kW]` at `weight`, optional bias at `bias`.
public struct Conv3D: Layer {
    public let filters: Int
    public let kernel: Triple
    public let stride: Triple
    public let padding: Triple
    public let bias: Bool

    public init(filters: Int, kernel: Triple = Triple(3), stride: Triple = Triple(1), padding: Triple = Triple(0), bias: Bool = true) {
        self.filters = filters
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.bias = bias
    }

    public func callAsFunction(_ input: Value, _ builder: ModelBuilder) throws -> Value {
        let shape = builder.shape(input)
        guard shape.rank == 5 else {
            throw GraphError.shapeMismatch(layer: builder.scope, op: "Conv3D", inputs: [shape], message: "expected an input [N, C, D, H, W]")
        }
        guard filters >= 1 else {
            throw GraphError.invalid("layer '\(builder.scope)' (Conv3D): filters must be ≥ 1, got \(filters)")
        }
        let inChannels = shape[1]
        let fanIn = inChannels * kernel.product, fanOut = filters * kernel.product
        let weight = try builder.parameter(
            "weight", shape: [filters, inChannels, kernel.d, kernel.h, kernel.w],
            initializer: builder.initialization.weights(fanIn: fanIn, fanOut: fanOut))
        let op = Operators.Conv3D(stride: stride, padding: padding)
        if bias {
            let b = try builder.parameter("bias", shape: [filters], initializer: builder.initialization.bias(fanIn: fanIn))
            return try builder.apply(op, input, weight, b)
        }
        return try builder.apply(op, input, weight)
    }

    public var summary: String { "Conv3D(\(filters), kernel \(kernel), stride \(stride), padding \(padding)\(bias ? "" : ", no bias"))" }
}
