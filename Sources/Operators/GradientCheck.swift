import GraphCore

/// The outcome of checking one operator sample against central finite differences.
public struct GradientCheckResult: Sendable, CustomStringConvertible {
    public var label: String
    /// Number of input elements whose derivative was compared.
    public var checkedElements: Int
    /// Largest |analytic − numeric| and where it occurred.
    public var maxAbsoluteError: Double
    public var worst: (input: Int, element: Int, analytic: Double, numeric: Double)?
    /// Elements outside `absolute + relative · |numeric|`.
    public var failures: Int

    public var passed: Bool { failures == 0 }
    public var description: String {
        var text = "\(label): \(checkedElements) derivatives, max abs error \(maxAbsoluteError)"
        if let worst { text += " (input \(worst.input)[\(worst.element)]: analytic \(worst.analytic), numeric \(worst.numeric))" }
        return text + (passed ? "" : ", \(failures) outside tolerance")
    }
}

/// Checks backward rules the way PyTorch's `gradcheck` does, in `Double`: for
/// L = Σⱼ ⟨uⱼ, yⱼ⟩ with random upstream uⱼ, the gradient the graph's backward nodes compute for
/// every differentiable input element is compared with (L(x+h) − L(x−h)) / 2h.
public enum GradientCheck {
    public static func check(_ sample: OperatorSample, seed: UInt64 = 1, step: Double = 1e-6) throws -> GradientCheckResult {
        var generator = SeededGenerator(seed: seed)
        let inputs = sample.inputs.map { $0.draw(&generator) }
        let context = EvaluationContext(seed: seed, step: 3)

        let graph = Graph(mode: .training)
        var leaves: [Value] = []
        var bindings: [String: Tensor<Double>] = [:]
        for (index, input) in inputs.enumerated() {
            leaves.append(try graph.leaf(.input, "x\(index)", shape: input.shape))
            bindings["x\(index)"] = input
        }
        let outputs = try graph.apply(sample.op, leaves, scope: sample.label)
        var loss: Value?
        for (index, output) in outputs.enumerated() {
            let shape = graph.shape(of: output)
            let upstream = try graph.leaf(.input, "u\(index)", shape: shape)
            bindings["u\(index)"] = SampleInput.uniform(shape).draw(&generator)
            let term = try graph.apply(SumOfProducts(), [output, upstream])[0]
            loss = try loss.map { try graph.apply(Add(), [$0, term])[0] } ?? term
        }
        let differentiable = sample.inputs.indices.filter { index in
            if case .labels = sample.inputs[index] { return false }
            return sample.op.isDifferentiable(input: index)
        }
        guard let loss, !differentiable.isEmpty else {
            // Nothing to differentiate (constants, masks): check the kernel runs with the rule's shapes.
            let values = try Interpreter<Double>(graph: graph).run(outputs, bindings: bindings, context: context)
            let mismatched = outputs.filter { values[$0]!.shape != graph.shape(of: $0) }.count
            return GradientCheckResult(
                label: sample.label, checkedElements: 0, maxAbsoluteError: 0, worst: nil, failures: mismatched)
        }
        let targets = differentiable.map { leaves[$0] }
        let gradients = try graph.gradients(of: loss, withRespectTo: targets)
        let interpreter = Interpreter<Double>(graph: graph)
        let analytic = try interpreter.run(targets.map { gradients[$0]! }, bindings: bindings, context: context)

        var result = GradientCheckResult(label: sample.label, checkedElements: 0, maxAbsoluteError: 0, worst: nil, failures: 0)
        for index in differentiable {
            let name = "x\(index)", gradient = analytic[gradients[leaves[index]]!]!
            for element in 0..<inputs[index].scalars.count {
                var probe = bindings
                probe[name]!.scalars[element] += step
                let plus = try interpreter.run([loss], bindings: probe, context: context)[loss]!.scalars[0]
                probe[name]!.scalars[element] -= 2 * step
                let minus = try interpreter.run([loss], bindings: probe, context: context)[loss]!.scalars[0]
                let numeric = (plus - minus) / (2 * step)
                let value = gradient.scalars[element]
                let error = abs(value - numeric)
                result.checkedElements += 1
                if error > result.maxAbsoluteError || result.worst == nil {
                    result.maxAbsoluteError = max(error, result.maxAbsoluteError)
                    result.worst = (index, element, value, numeric)
                }
                if !(error <= sample.absoluteTolerance + sample.relativeTolerance * abs(numeric)) { result.failures += 1 }
            }
        }
        return result
    }

    /// Largest relative difference between the `Float` and `Double` kernels on the sample's
    /// inputs (max |f − d| / max(max |d|, 1e-12)); catches precision-specific kernel bugs.
    public static func precisionAgreement(_ sample: OperatorSample, seed: UInt64 = 1) throws -> Double {
        var generator = SeededGenerator(seed: seed)
        let inputs = sample.inputs.map { $0.draw(&generator) }
        let context = EvaluationContext(seed: seed, step: 3)
        let doubles = sample.op.evaluate(inputs, context)
        let floats = sample.op.evaluate(inputs.map { $0.converted(to: Float.self) }, context)
        var worst = 0.0
        for (d, f) in zip(doubles, floats) {
            let scale = max(d.scalars.map(abs).max() ?? 0, 1e-12)
            for (a, b) in zip(d.scalars, f.scalars) { worst = max(worst, abs(a - Double(b)) / scale) }
        }
        return worst
    }
}
