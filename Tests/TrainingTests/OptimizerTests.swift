import Foundation
import HDF5
import Layers
import TestSupport
import Testing

@testable import Training

/// The optimizers as graph nodes against PyTorch's (and Lookahead written from its paper): the
/// same parameters after 20 steps on the same gradients (Fixtures/reference/torch-optimizers.h5).
@Suite("Optimizers against PyTorch")
struct OptimizerTests {
    static let file = Fixtures.path("reference/torch-optimizers.h5")
    static let cases = (try? HDF5File.open(file).root.group("cases").memberNames()) ?? []

    @Test("fixture has every optimizer")
    func fixture() { #expect(Self.cases.count == 7) }

    @Test("same parameters after 20 steps", arguments: cases)
    func twentySteps(_ name: String) throws {
        let fixture = try HDF5File.open(Self.file).root.group("cases/\(name)")
        let spec = try JSONSerialization.jsonObject(with: Data(try fixture.stringAttribute("spec").utf8)) as! [String: Any]
        var config = OptimizerConfig(kind: OptimizerConfig.Kind(rawValue: spec["kind"] as! String)!, learningRate: spec["lr"] as! Double)
        config.weightDecay = spec["weight_decay"] as? Double ?? 0
        config.momentum = spec["momentum"] as? Double ?? 0
        config.nesterov = spec["nesterov"] as? Bool ?? false
        config.lookaheadK = spec["k"] as? Int ?? 5
        config.lookaheadAlpha = spec["alpha"] as? Double ?? 0.5

        // A graph whose "gradients" are inputs: the optimizer sees exactly PyTorch's gradients.
        let graph = Graph(mode: .training)
        var parameters: [VariableSpec] = [], gradients: [String: Value] = [:], values: [String: Tensor<Float>] = [:]
        for key in ["a", "b"] {
            let initial = try fixture.tensor("initial/\(key)")
            let value = try graph.leaf(.parameter, key, shape: initial.shape)
            parameters.append(VariableSpec(path: key, shape: initial.shape, initializer: .constant(0), value: value))
            gradients[key] = try graph.leaf(.input, "grad.\(key)", shape: initial.shape)
            values[key] = initial
        }
        let states = try config.append(to: graph, parameters: parameters, gradients: gradients)
        values.merge(OptimizerConfig.initialValues(states, parameters: values)) { a, _ in a }
        let session = try Session(graph: graph, values: values)
        for step in 0..<20 {
            let feeds = try ["grad.a": fixture.tensor("gradients/\(step)/a"), "grad.b": fixture.tensor("gradients/\(step)/b")]
            _ = try session.run([], inputs: feeds)
        }
        for key in ["a", "b"] {
            let error = relativeError(session.values[key]!, try fixture.tensor("final/\(key)"), floor: 1)
            #expect(error <= 1e-6, "\(name): parameter \(key) differs from PyTorch by \(error) after 20 steps")
        }
        #expect(session.values["optimizer.step"]!.scalars == [20])
    }

    @Test("invalid settings are rejected with the field's name")
    func invalid() {
        var config = OptimizerConfig.adam(learningRate: -1)
        #expect { try config.validate() } throws: { "\($0)".contains("learningRate") }
        config = .sgd(learningRate: 0.1, momentum: 0, nesterov: true)
        #expect { try config.validate() } throws: { "\($0)".contains("nesterov") }
    }
}
