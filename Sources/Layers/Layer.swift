import GraphCore

/// A building block of a network. Layers append nodes to a graph through a `ModelBuilder`,
/// which gives their parameters PyTorch `state_dict` paths (`features.0.weight`).
public protocol Layer: Sendable {
    /// Appends this layer's computation on `input` and returns its output.
    func callAsFunction(_ input: Value, _ builder: ModelBuilder) throws -> Value
    /// One line for layer tables, e.g. `Conv3D(64, kernel 3x3x3, padding 1x1x1)`.
    var summary: String { get }
    /// Whether the builder records this layer as one row of the layer table (containers do not).
    var isContainer: Bool { get }
    /// The layer's complete description, for the architecture JSON.
    var spec: LayerSpec { get }
}

extension Layer {
    public var isContainer: Bool { false }
    /// This layer under an explicit path component instead of its index (`features`).
    public func named(_ name: String) -> Named { Named(name, self) }
}

/// A layer with an explicit path component, like an attribute of a PyTorch module.
public struct Named: Layer {
    public let name: String
    public let layer: any Layer
    public init(_ name: String, _ layer: any Layer) {
        self.name = name
        self.layer = layer
    }
    public func callAsFunction(_ input: Value, _ builder: ModelBuilder) throws -> Value { try layer(input, builder) }
    public var summary: String { layer.summary }
    public var isContainer: Bool { layer.isContainer }
}

@resultBuilder
public enum LayerBuilder {
    public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
    public static func buildExpression(_ layers: [any Layer]) -> [any Layer] { layers }
    public static func buildBlock(_ parts: [any Layer]...) -> [any Layer] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [any Layer]?) -> [any Layer] { part ?? [] }
    public static func buildEither(first part: [any Layer]) -> [any Layer] { part }
    public static func buildEither(second part: [any Layer]) -> [any Layer] { part }
    public static func buildArray(_ parts: [[any Layer]]) -> [any Layer] { parts.flatMap { $0 } }
}

/// Layers applied one after another. Child `i` gets the path component `i` (or its `named`
/// name), as in PyTorch's `nn.Sequential`.
public struct Sequential: Layer {
    public let layers: [any Layer]
    public init(@LayerBuilder _ layers: () -> [any Layer]) { self.layers = layers() }
    public init(_ layers: [any Layer]) { self.layers = layers }

    public func callAsFunction(_ input: Value, _ builder: ModelBuilder) throws -> Value {
        var value = input
        for (index, layer) in layers.enumerated() {
            let component = (layer as? Named)?.name ?? "\(index)"
            value = try builder.within(component, layer) { try layer(value, builder) }
        }
        return value
    }
    public var summary: String { "Sequential(\(layers.count))" }
    public var isContainer: Bool { true }
}
