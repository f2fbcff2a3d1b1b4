/// One output of one node: the SSA value edges of the graph carry.
public struct Value: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let node: Int
    public let output: Int
    public init(node: Int, output: Int = 0) {
        self.node = node
        self.output = output
    }
    public static func < (a: Value, b: Value) -> Bool { (a.node, a.output) < (b.node, b.output) }
    public var description: String { output == 0 ? "%\(node)" : "%\(node).\(output)" }
}

/// A node: an operator applied to earlier values, with its inferred output shapes and the
/// layer path (`features.0`) that created it.
public struct Node {
    public let op: any Operator
    public let inputs: [Value]
    public let outputShapes: [Shape]
    public let scope: String
}

/// Building or running the graph failed. Every case names where and what was expected.
public enum GraphError: Error, CustomStringConvertible, Equatable {
    /// A shape rule rejected its inputs.
    case shapeMismatch(layer: String, op: String, inputs: [Shape], message: String)
    /// A leaf was given no value, or a value of the wrong shape.
    case binding(name: String, message: String)
    /// Two leaves with the same name.
    case duplicateLeaf(String)
    /// Anything else the caller did wrong, explained.
    case invalid(String)

    public var description: String {
        switch self {
        case let .shapeMismatch(layer, op, inputs, message):
            let shapes = inputs.map(\.description).joined(separator: ", ")
            return "layer '\(layer.isEmpty ? "<root>" : layer)' (\(op)): \(message); input shapes \(shapes)"
        case let .binding(name, message): return "input '\(name)': \(message)"
        case let .duplicateLeaf(name): return "two graph leaves are named '\(name)'"
        case let .invalid(message): return message
        }
    }
}

/// A static, append-only computation graph in SSA form. Node ids are a topological order.
///
/// Leaves are inputs (fed each run), parameters (trainable) and states (buffers such as
/// BatchNorm's running statistics). Backward and optimizer nodes are appended to the same graph;
/// `stateUpdates` says which values replace which parameters or states after a run.
public final class Graph {
    public enum Mode: String, Sendable, Codable {
        /// Batch statistics, dropout active, running statistics updated.
        case training
        /// Running statistics, dropout off.
        case inference
    }

    public let mode: Mode
    public private(set) var nodes: [Node] = []
    /// Leaf name → value, for inputs, parameters and states.
    public private(set) var leaves: [String: Value] = [:]
    /// After a run, each target leaf takes the value computed by `value`.
    public private(set) var stateUpdates: [(target: Value, value: Value)] = []

    public init(mode: Mode) { self.mode = mode }

    /// Appends `op` applied to `inputs`, checking shapes. `scope` is the layer path for errors.
    @discardableResult
    public func apply(_ op: any Operator, _ inputs: [Value], scope: String = "") throws -> [Value] {
        let inputShapes = inputs.map(shape(of:))
        let shapes: [Shape]
        do {
            shapes = try op.outputShapes(for: inputShapes)
        } catch {
            throw GraphError.shapeMismatch(layer: scope, op: op.name, inputs: inputShapes, message: error.message)
        }
        nodes.append(Node(op: op, inputs: inputs, outputShapes: shapes, scope: scope))
        return shapes.indices.map { Value(node: nodes.count - 1, output: $0) }
    }

    /// Appends a named leaf (input, parameter or state).
    public func leaf(_ kind: Leaf.Kind, _ name: String, shape: Shape) throws -> Value {
        guard leaves[name] == nil else { throw GraphError.duplicateLeaf(name) }
        let value = try apply(Leaf(kind: kind, leafName: name, shape: shape), [], scope: name)[0]
        leaves[name] = value
        return value
    }

    /// Records that after a run the leaf `target` takes the value `value` (same shape).
    public func update(_ target: Value, to value: Value) throws {
        guard nodes[target.node].op is Leaf else {
            throw GraphError.invalid("only a parameter or state leaf can be updated, not \(target)")
        }
        guard shape(of: target) == shape(of: value) else {
            throw GraphError.invalid("update of \(target) to a value of shape \(shape(of: value)), expected \(shape(of: target))")
        }
        stateUpdates.append((target, value))
    }

    public func shape(of value: Value) -> Shape { nodes[value.node].outputShapes[value.output] }

    /// The leaf operator of a node, if it is a leaf.
    public func leafInfo(_ node: Int) -> Leaf? { nodes[node].op as? Leaf }

    /// Leaves of one kind, by name, in creation order.
    public func leaves(of kind: Leaf.Kind) -> [(name: String, value: Value)] {
        nodes.indices.compactMap { index in
            guard let leaf = nodes[index].op as? Leaf, leaf.kind == kind else { return nil }
            return (leaf.leafName, Value(node: index))
        }
    }
}

/// A graph leaf: its value is bound from outside (inputs) or held by the runtime (parameters,
/// states). Leaves have no kernel and no backward rule.
public struct Leaf: Operator {
    public enum Kind: String, Sendable, Codable { case input, parameter, state }
    public let kind: Kind
    public let leafName: String
    public let shape: Shape

    public var name: String { "leaf" }
    public var attributes: KeyValuePairs<String, String> { ["kind": kind.rawValue, "name": leafName] }
    public func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] { [shape] }
    public func isDifferentiable(input index: Int) -> Bool { false }
    public func backward(_ context: BackwardContext) throws -> [Value?] { [] }
    public func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>] {
        preconditionFailure("leaf '\(leafName)' is bound, never evaluated")
    }
    public func evaluate(_ inputs: [Tensor<Double>], _ context: EvaluationContext) -> [Tensor<Double>] {
        preconditionFailure("leaf '\(leafName)' is bound, never evaluated")
    }
}
