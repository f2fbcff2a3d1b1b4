import GraphCore
import Testing

@testable import Operators

extension OperatorSample: CustomTestStringConvertible {
    public var testDescription: String { "\(op.name): \(label)" }
}

let allSamples: [OperatorSample] = OperatorRegistry.samples.keys.sorted().flatMap { OperatorRegistry.samples[$0]! }

@Suite("Every registered operator")
struct OperatorHarnessTests {
    @Test("backward rule matches central finite differences in Double", arguments: allSamples)
    func gradientCheck(_ sample: OperatorSample) throws {
        let result = try GradientCheck.check(sample)
        #expect(result.passed, "\(result)")
    }

    @Test("shape rule agrees with the kernel's output", arguments: allSamples)
    func shapeRule(_ sample: OperatorSample) throws {
        var generator = SeededGenerator(seed: 7)
        let inputs = sample.inputs.map { $0.draw(&generator) }
        let shapes = try sample.op.outputShapes(for: inputs.map(\.shape))
        let outputs = sample.op.evaluate(inputs, EvaluationContext())
        #expect(outputs.map(\.shape) == shapes)
    }

    @Test("Float kernel agrees with the Double kernel", arguments: allSamples)
    func precision(_ sample: OperatorSample) throws {
        #expect(try GradientCheck.precisionAgreement(sample) < 1e-5)
    }

    @Test("every operator is registered with samples, including those backward rules emit")
    func completeness() throws {
        var reachable: Set<String> = []
        for sample in allSamples {
            // Differentiate each sample twice, collecting every operator the rules emit.
            var generator = SeededGenerator(seed: 1)
            let graph = Graph(mode: .training)
            let leaves = try sample.inputs.enumerated().map { try graph.leaf(.input, "x\($0.offset)", shape: $0.element.draw(&generator).shape) }
            var frontier = try graph.apply(sample.op, leaves)
            for _ in 0..<2 {
                guard let first = frontier.first else { break }
                let total = try graph.apply(SumOfProducts(), [first, first])[0]
                let targets = leaves.indices.filter { sample.op.isDifferentiable(input: $0) }.map { leaves[$0] }
                frontier = Array(try graph.gradients(of: total, withRespectTo: targets).values)
            }
            for node in graph.nodes where !(node.op is Leaf) { reachable.insert(node.op.name) }
        }
        for name in reachable.sorted() {
            #expect(!(OperatorRegistry.samples[name] ?? []).isEmpty, "operator '\(name)' has no registered samples")
        }
        for (name, samples) in OperatorRegistry.samples {
            #expect(!samples.isEmpty, "operator '\(name)' has no samples")
            #expect(samples.allSatisfy { $0.op.name == name }, "samples under '\(name)' test another operator")
        }
    }
}

/// Square with a deliberately wrong backward rule (3x instead of 2x).
struct WrongSquare: ReferenceOperator {
    var name: String { "wrong_square" }
    func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] { inputs }
    func backward(_ context: BackwardContext) throws -> [Value?] {
        [try context.apply(Multiply(), context.gradient, try context.apply(Affine(scale: 3), context.inputs[0]))]
    }
    func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        [Tensor(shape: inputs[0].shape, scalars: inputs[0].scalars.map { $0 * $0 })]
    }
}

/// Conv3D whose backward forgets the bias gradient's reduction scale: off by a factor of 2.
struct HalfBiasConv: ReferenceOperator {
    var name: String { "half_bias_conv" }
    func outputShapes(for inputs: [Shape]) throws(ShapeError) -> [Shape] { try Conv3D().outputShapes(for: inputs) }
    func backward(_ context: BackwardContext) throws -> [Value?] {
        var rules = try Conv3D().backward(context)
        rules[2] = try context.apply(ReduceToAxis(axis: 1, scale: 0.5), context.gradient)
        return rules
    }
    func reference<T: KernelScalar>(_ inputs: [Tensor<T>], _ context: EvaluationContext) -> [Tensor<T>] {
        Conv3D().reference(inputs, context)
    }
}

@Suite("The gradient check itself")
struct GradientCheckSelfTests {
    @Test("fails for a wrong backward rule")
    func catchesWrongRule() throws {
        let result = try GradientCheck.check(OperatorSample("wrong", WrongSquare(), [.uniform([3, 3])]))
        #expect(!result.passed)
        #expect(result.failures > 0)
    }

    @Test("fails for a subtly wrong bias gradient in a convolution")
    func catchesWrongBias() throws {
        let sample = OperatorSample(
            "half bias", HalfBiasConv(), [.uniform([1, 2, 2, 3, 3]), .uniform([2, 2, 1, 2, 2]), .uniform([2])])
        let result = try GradientCheck.check(sample)
        #expect(!result.passed)
    }
}

@Suite("Shape errors")
struct ShapeErrorTests {
    @Test("a kernel larger than its padded input names the layer and both shapes")
    func kernelTooLarge() throws {
        let graph = Graph(mode: .inference)
        let x = try graph.leaf(.input, "x", shape: [1, 2, 2, 4, 4])
        let w = try graph.leaf(.parameter, "features.0.weight", shape: [4, 2, 5, 3, 3])
        #expect {
            try graph.apply(Conv3D(padding: Triple(1)), [x, w], scope: "features.0")
        } throws: { error in
            let text = "\(error)"
            return text.contains("features.0") && text.contains("[1, 2, 2, 4, 4]") && text.contains("[4, 2, 5, 3, 3]")
                && text.contains("depth")
        }
    }

    @Test("a pooling that would make a dimension zero is rejected")
    func poolToZero() throws {
        let graph = Graph(mode: .inference)
        let x = try graph.leaf(.input, "x", shape: [1, 2, 1, 4, 4])
        #expect(throws: GraphError.self) {
            try graph.apply(MaxPool3D(kernel: Triple(2), stride: Triple(2)), [x], scope: "features.3")
        }
    }

    @Test("the indexed max pool refuses planes its Float offsets cannot address, and its scatter mismatched shapes, naming both")
    func indexedPoolLimits() throws {
        let big = MaxPool3DIndexed(kernel: Triple(2), stride: Triple(2))
        #expect(throws: ShapeError.self) { try big.outputShapes(for: [[1, 1, 256, 256, 256]]) }
        do {
            _ = try big.outputShapes(for: [[1, 1, 256, 256, 256]])
        } catch {
            #expect(error.message.contains("2^24") && error.message.contains("[1, 1, 256, 256, 256]"))
        }
        #expect(try big.outputShapes(for: [[1, 1, 4, 4, 4]]) == [[1, 1, 2, 2, 2], [1, 1, 2, 2, 2]])
        let scatter = MaxPool3DIndexScatter(inputShape: [1, 2, 4, 4, 4])
        #expect(throws: ShapeError.self) { try scatter.outputShapes(for: [[1, 2, 2, 2, 2], [1, 2, 2, 2, 1]]) }
        #expect(throws: ShapeError.self) { try scatter.outputShapes(for: [[1, 3, 2, 2, 2], [1, 3, 2, 2, 2]]) }
    }

    @Test("mismatched element-wise shapes are rejected")
    func elementwise() throws {
        let graph = Graph(mode: .inference)
        let a = try graph.leaf(.input, "a", shape: [2, 3])
        let b = try graph.leaf(.input, "b", shape: [3, 2])
        #expect(throws: GraphError.self) { try graph.apply(Add(), [a, b]) }
    }
}

@Suite("Autodiff")
struct AutodiffTests {
    @Test("a value feeding several nodes accumulates its gradients")
    func accumulation() throws {
        // f(x) = Σ x·x + 3x  → df/dx = 2x + 3
        let graph = Graph(mode: .training)
        let x = try graph.leaf(.input, "x", shape: [4])
        let square = try graph.apply(Multiply(), [x, x])[0]
        let linear = try graph.apply(Affine(scale: 3), [x])[0]
        let sum = try graph.apply(Add(), [square, linear])[0]
        let ones = try graph.apply(Fill(value: 1, shape: [4]), [])[0]
        let total = try graph.apply(SumOfProducts(), [sum, ones])[0]
        let gradient = try graph.gradients(of: total, withRespectTo: [x])[x]!
        let values: [Float] = [1, -2, 0.5, 3]
        let result = try Interpreter<Float>(graph: graph).run([gradient], bindings: ["x": Tensor(shape: [4], scalars: values)])
        #expect(result[gradient]!.scalars == values.map { 2 * $0 + 3 })
    }

    @Test("no gradient work for branches that do not lead to a target")
    func pruning() throws {
        let graph = Graph(mode: .training)
        let x = try graph.leaf(.input, "x", shape: [3])
        let constant = try graph.leaf(.input, "c", shape: [3])
        let expensive = try graph.apply(Exp(), [constant])[0]  // does not depend on x
        let product = try graph.apply(Multiply(), [x, expensive])[0]
        let total = try graph.apply(SumOfProducts(), [product, product])[0]
        let before = graph.nodes.count
        _ = try graph.gradients(of: total, withRespectTo: [x])
        let emitted = graph.nodes[before...].map(\.op.name)
        #expect(!emitted.contains("exp"), "differentiated the constant branch: \(emitted)")
        #expect(emitted.filter { $0 == "mul" }.count <= 3)
    }
}
