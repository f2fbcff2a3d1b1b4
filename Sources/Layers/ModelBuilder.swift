import GraphCore

/// How a parameter's initial values are drawn.
public enum Initializer: Sendable, Hashable, Codable {
    case constant(Double)
    case uniform(bound: Double)
    case normal(standardDeviation: Double)

    /// Draws `count` values.
    public func draw(_ count: Int, _ generator: inout SeededGenerator) -> [Float] {
        switch self {
        case let .constant(value): return [Float](repeating: Float(value), count: count)
        case let .uniform(bound): return (0..<count).map { _ in Float((2 * generator.nextUnitDouble() - 1) * bound) }
        case let .normal(std): return (0..<count).map { _ in Float(generator.nextNormal() * std) }
        }
    }
}

/// The weight initialisation of convolutions and dense layers (the paper's "initializer").
public enum WeightInitialization: String, Sendable, Codable, CaseIterable {
    /// PyTorch's default: Kaiming-uniform with a = √5, i.e. U(±1/√fan_in); the paper's "none".
    case pytorchDefault = "default"
    /// Glorot uniform: U(±√(6 / (fan_in + fan_out))).
    case xavierUniform = "xavier_uniform"
    /// Glorot normal: N(0, √(2 / (fan_in + fan_out))).
    case xavierNormal = "xavier_normal"

    public func weights(fanIn: Int, fanOut: Int) -> Initializer {
        switch self {
        case .pytorchDefault: .uniform(bound: 1 / Double(fanIn).squareRoot())
        case .xavierUniform: .uniform(bound: (6 / Double(fanIn + fanOut)).squareRoot())
        case .xavierNormal: .normal(standardDeviation: (2 / Double(fanIn + fanOut)).squareRoot())
        }
    }
    /// Biases keep PyTorch's default, U(±1/√fan_in), under every scheme.
    public func bias(fanIn: Int) -> Initializer { .uniform(bound: 1 / Double(fanIn).squareRoot()) }
}

/// A trainable parameter or a state buffer of a built model.
public struct VariableSpec: Sendable {
    /// PyTorch `state_dict` path, e.g. `features.1.running_mean`.
    public let path: String
    public let shape: Shape
    public let initializer: Initializer
    public let value: Value

    public init(path: String, shape: Shape, initializer: Initializer, value: Value) {
        self.path = path
        self.shape = shape
        self.initializer = initializer
        self.value = value
    }
}

/// One row of a layer table.
public struct LayerRecord: Sendable {
    public let path: String
    public let summary: String
    public let outputShape: Shape
    public let parameterCount: Int
}

/// Collects the graph, parameters, states and layer table while layers are applied.
public final class ModelBuilder {
    public let graph: Graph
    public let initialization: WeightInitialization
    public private(set) var parameters: [VariableSpec] = []
    public private(set) var states: [VariableSpec] = []
    public private(set) var layers: [LayerRecord] = []
    private var path: [String] = []

    public init(mode: Graph.Mode, initialization: WeightInitialization = .pytorchDefault) {
        graph = Graph(mode: mode)
        self.initialization = initialization
    }

    public var mode: Graph.Mode { graph.mode }
    /// The current layer path, e.g. `features.3`.
    public var scope: String { path.joined(separator: ".") }

    /// Creates the trainable parameter `<scope>.<name>`.
    public func parameter(_ name: String, shape: Shape, initializer: Initializer) throws -> Value {
        let fullPath = (path + [name]).joined(separator: ".")
        let value = try graph.leaf(.parameter, fullPath, shape: shape)
        parameters.append(VariableSpec(path: fullPath, shape: shape, initializer: initializer, value: value))
        return value
    }

    /// Creates the state buffer `<scope>.<name>` (not trained; updated by the graph).
    public func state(_ name: String, shape: Shape, initial: Double) throws -> Value {
        let fullPath = (path + [name]).joined(separator: ".")
        let value = try graph.leaf(.state, fullPath, shape: shape)
        states.append(VariableSpec(path: fullPath, shape: shape, initializer: .constant(initial), value: value))
        return value
    }

    /// Appends a single-output node in the current layer's scope.
    public func apply(_ op: any Operator, _ inputs: Value...) throws -> Value {
        try graph.apply(op, inputs, scope: scope)[0]
    }

    public func shape(_ value: Value) -> Shape { graph.shape(of: value) }

    /// Runs `body` with `component` appended to the path and records a table row for leaf layers.
    func within(_ component: String, _ layer: any Layer, _ body: () throws -> Value) throws -> Value {
        path.append(component)
        defer { path.removeLast() }
        let before = parameters.count
        let output = try body()
        if !layer.isContainer {
            let count = parameters[before...].reduce(0) { $0 + $1.shape.count }
            layers.append(LayerRecord(path: scope, summary: layer.summary, outputShape: shape(output), parameterCount: count))
        }
        return output
    }
}
