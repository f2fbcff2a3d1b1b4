/// A shape rule failed. The graph adds the layer path and the input shapes when it reports it.
public struct ShapeError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a kernel may need besides its inputs: the step counter and seed for random operators.
public struct EvaluationContext: Sendable {
    /// Seed of the run; random operators derive their streams from it.
    public var seed: UInt64
    /// Number of the current step (0-based); random operators draw a fresh stream each step.
    public var step: Int
    /// Id of the node being evaluated, so two random nodes draw different streams.
    public var node: Int

    /// Where the node's kernel may keep what it derives from its constant inputs from one run to
    /// the next (nil: derive it every call). A compiled program gives one per node when
    /// `BufferEvaluable.preparedFrom` names only parameters and states that no update writes.
    public var prepared: PreparedWeights?

    public init(seed: UInt64 = 0, step: Int = 0, node: Int = 0, prepared: PreparedWeights? = nil) {
        self.seed = seed
        self.step = step
        self.node = node
        self.prepared = prepared
    }
}

/// Memory a kernel keeps between runs of one node for what it derives from the node's constant
/// inputs alone (Winograd-transformed weights with a folded BatchNorm): ONNX Runtime prepacks its
/// initialisers once in the same way. The program that owns it calls `invalidate` whenever it
/// loads a parameter or state; the kernel refills it on its next call.
public final class PreparedWeights: @unchecked Sendable {
    private var storage: UnsafeMutableBufferPointer<Float>?
    private var current = false

    public init() {}
    deinit { storage.map { UnsafeMutableRawPointer($0.baseAddress!).deallocate() } }

    /// `count` floats (64-byte aligned), and whether they still hold what the caller wrote into
    /// them the last time; when not, the caller fills them now.
    public func floats(_ count: Int) -> (buffer: UnsafeMutablePointer<Float>, current: Bool) {
        if let storage, storage.count == count {
            defer { current = true }
            return (storage.baseAddress!, current)
        }
        storage.map { UnsafeMutableRawPointer($0.baseAddress!).deallocate() }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        let fresh = UnsafeMutableBufferPointer(start: raw.bindMemory(to: Float.self, capacity: count), count: count)
        storage = fresh
        current = true
        return (fresh.baseAddress!, false)
    }

    /// The constant inputs changed: the next call derives them again.
    public func invalidate() { current = false }
}

/// One primitive of the graph: its attributes, shape rule, kernels and backward rule.
///
/// Each operator lives in one file of the `Operators` module together with its backward-only
/// operators, its reference kernel and its test samples.
public protocol Operator: Sendable {
    /// Stable name, used in dumps and the registry (`"conv3d"`).
    var name: String { get }
    /// Attributes for dumps, in a fixed order (`["kernel": "3x3x3", ...]`).
    var attributes: KeyValuePairs<String, String> { get }
    /// The output shapes for these input shapes; throws a `ShapeError` saying what was expected.
    func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape]
    /// Whether gradients flow into input `index` (labels, masks and indices do not).
    func isDifferentiable(input index: Int) -> Bool
    /// Emits graph nodes computing the gradients of the inputs from the gradients of the
    /// outputs; returns one entry per input (nil: zero or not requested).
    func backward(_ context: BackwardContext) throws -> [Value?]
    /// Reference kernel in single precision.
    func evaluate(_ inputs: [Tensor<Float>], _ context: EvaluationContext) -> [Tensor<Float>]
    /// Reference kernel in double precision (finite-difference checks).
    func evaluate(_ inputs: [Tensor<Double>], _ context: EvaluationContext) -> [Tensor<Double>]
    /// The input whose buffer the output may overwrite (element-wise operators), for the planner.
    var inPlaceInput: Int? { get }
}

extension Operator {
    public var attributes: KeyValuePairs<String, String> { [:] }
    public func isDifferentiable(input index: Int) -> Bool { true }
    public var inPlaceInput: Int? { nil }

    /// Dispatches to the `Float` or `Double` kernel.
    public func evaluateGeneric<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        if T.self == Float.self {
            return unsafeBitCast(evaluate(unsafeBitCast(inputs, to: [Tensor<Float>].self), context), to: [Tensor<T>].self)
        }
        precondition(T.self == Double.self, "kernels exist for Float and Double only")
        return unsafeBitCast(evaluate(unsafeBitCast(inputs, to: [Tensor<Double>].self), context), to: [Tensor<T>].self)
    }

    /// `name[key=value ...]`, as printed in dumps.
    public var signature: String {
        let attrs = attributes.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return attrs.isEmpty ? name : "\(name)[\(attrs)]"
    }
}

/// Checks an operator's input count; used at the top of shape rules.
public func expectInputs(_ inputs: [Shape], _ range: ClosedRange<Int>, _ name: String) throws(ShapeError) {
    guard range.contains(inputs.count) else {
        let expected = range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound)–\(range.upperBound)"
        throw ShapeError("\(name) takes \(expected) inputs, got \(inputs.count)")
    }
}

/// What a backward rule sees: the node, its inputs and outputs, the gradients arriving at the
/// outputs, which input gradients are wanted, and the graph to append the gradient nodes to.
public struct BackwardContext {
    public let graph: Graph
    public let node: Int
    public let inputs: [Value]
    public let outputs: [Value]
    /// Gradient of the loss with respect to each output (nil where none flows).
    public let outputGradients: [Value?]
    /// Whether the gradient of each input is needed.
    public let needsGradient: [Bool]

    /// The gradient of output 0 (single-output operators).
    public var gradient: Value { outputGradients[0]! }

    /// Appends a single-output node in the backward scope of this node.
    public func apply(_ op: any Operator, _ inputs: Value...) throws -> Value {
        try graph.apply(op, inputs, scope: graph.nodes[node].scope + "/grad")[0]
    }

    public func shape(_ value: Value) -> Shape { graph.shape(of: value) }
}
