import GraphCore
import Operators

/// A network with its per-sample input shape and class count, ready to be built into a graph.
public struct Model: Sendable {
    public let body: any Layer
    /// Shape of one sample, e.g. `[3, 10, 112, 112]` (channels, frames, height, width).
    public let inputShape: Shape
    public let classes: Int

    public init(inputShape: Shape, classes: Int, body: any Layer) {
        self.body = body
        self.inputShape = inputShape
        self.classes = classes
    }

    public init(inputShape: Shape, classes: Int, @LayerBuilder _ layers: () -> [any Layer]) {
        self.init(inputShape: inputShape, classes: classes, body: Sequential(layers))
    }

    /// Builds the graph for a batch size and mode. With `loss`, adds the `labels` input (class
    /// indices as floats) and, if asked, a `class_weights` input, and the mean cross-entropy.
    public func build(
        batchSize: Int, mode: Graph.Mode, loss: LossOptions? = nil, initialization: WeightInitialization = .pytorchDefault
    ) throws -> BuiltModel {
        guard batchSize >= 1 else { throw GraphError.invalid("batch size must be ≥ 1, got \(batchSize)") }
        let builder = ModelBuilder(mode: mode, initialization: initialization)
        let input = try builder.graph.leaf(.input, "input", shape: Shape([batchSize] + inputShape.dims))
        let logits = try body(input, builder)
        guard builder.shape(logits) == [batchSize, classes] else {
            throw GraphError.invalid("the network's output is \(builder.shape(logits)), expected logits [\(batchSize), \(classes)]")
        }
        var labels: Value?, weights: Value?, lossValue: Value?
        if let loss {
            labels = try builder.graph.leaf(.input, "labels", shape: [batchSize])
            if loss.classWeights { weights = try builder.graph.leaf(.input, "class_weights", shape: [classes]) }
            lossValue = try softmaxCrossEntropy(logits: logits, labels: labels!, weights: weights, in: builder.graph)
        }
        return BuiltModel(
            graph: builder.graph, input: input, logits: logits, labels: labels, classWeights: weights, loss: lossValue,
            parameters: builder.parameters, states: builder.states, layers: builder.layers)
    }
}

/// Which loss a training graph gets.
public struct LossOptions: Sendable {
    /// Weight each class in the mean (the paper's "loss weights"); fed as the `class_weights` input.
    public var classWeights: Bool
    public init(classWeights: Bool = false) { self.classWeights = classWeights }
}

/// Softmax cross-entropy with PyTorch's weighted-mean semantics: log-softmax, then the weighted NLL.
public func softmaxCrossEntropy(logits: Value, labels: Value, weights: Value?, in graph: Graph) throws -> Value {
    let shape = graph.shape(of: logits)
    let lse = try graph.apply(LogSumExp(), [logits], scope: "loss")[0]
    let shift = try graph.apply(BroadcastAxis(axis: 0, shape: shape, scale: -1), [lse], scope: "loss")[0]
    let logp = try graph.apply(Add(), [logits, shift], scope: "loss")[0]
    return try graph.apply(WeightedNLL(), [logp, labels] + (weights.map { [$0] } ?? []), scope: "loss")[0]
}

/// A model built into a graph: its leaves, parameters, states and layer table.
public struct BuiltModel {
    public let graph: Graph
    public let input: Value
    public let logits: Value
    public let labels: Value?
    public let classWeights: Value?
    public let loss: Value?
    public let parameters: [VariableSpec]
    public let states: [VariableSpec]
    public let layers: [LayerRecord]

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.shape.count } }

    /// Fresh parameter and state values drawn from their initializers with `seed`.
    public func initialValues(seed: UInt64) -> [String: Tensor<Float>] {
        var generator = SeededGenerator(seed: seed)
        var values: [String: Tensor<Float>] = [:]
        for spec in parameters + states {
            values[spec.path] = Tensor(shape: spec.shape, scalars: spec.initializer.draw(spec.shape.count, &generator))
        }
        return values
    }

    /// Appends the gradients of the loss with respect to every parameter; returns them by path.
    public func addGradients() throws -> [String: Value] {
        guard let loss else { throw GraphError.invalid("the model was built without a loss; build it with `loss:` to train") }
        let gradients = try graph.gradients(of: loss, withRespectTo: parameters.map(\.value))
        return Dictionary(uniqueKeysWithValues: parameters.map { ($0.path, gradients[$0.value]!) })
    }

    /// Appends a plain SGD step (`p ← p − lr·∇p`) for every parameter as graph updates.
    public func addSGDStep(learningRate: Double) throws {
        let gradients = try addGradients()
        for spec in parameters {
            let step = try graph.apply(Affine(scale: -learningRate), [gradients[spec.path]!], scope: spec.path + "/sgd")[0]
            let updated = try graph.apply(Add(), [spec.value, step], scope: spec.path + "/sgd")[0]
            try graph.update(spec.value, to: updated)
        }
    }

    /// The layer table: path, layer, output shape and parameter count per layer, and the total.
    public func layerTable() -> String {
        let rows = layers.map { [$0.path, $0.summary, $0.outputShape.description, $0.parameterCount.formatted()] }
        let header = ["layer", "type", "output shape", "parameters"]
        let footer = ["total", "", graph.shape(of: logits).description, parameterCount.formatted()]
        return formatTable(header: header, rows: rows, footer: footer)
    }
}

extension Int {
    /// `78,029,959`.
    func formatted() -> String {
        let digits = String(self.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
            out.append(character)
        }
        return (self < 0 ? "-" : "") + out
    }
}

/// A plain-text table with aligned columns (numbers right-aligned).
public func formatTable(header: [String], rows: [[String]], footer: [String]? = nil) -> String {
    let all = [header] + rows + (footer.map { [$0] } ?? [])
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { column, cell in
            let padding = String(repeating: " ", count: widths[column] - cell.count)
            return column == cells.count - 1 ? padding + cell : cell + padding
        }.joined(separator: "  ")
    }
    let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
    var lines = [line(header), rule] + rows.map(line)
    if let footer { lines += [rule, line(footer)] }
    return lines.joined(separator: "\n")
}
