import Layers

/// The activation choices of the paper's Table 1.
public enum ActivationChoice: String, Sendable, Codable, CaseIterable {
    case relu, elu, prelu, leakyRelu = "leaky_relu", mish

    public func layer() -> any Layer {
        switch self {
        case .relu: ReLU()
        case .elu: ELU()
        case .prelu: PReLU()
        case .leakyRelu: LeakyReLU()
        case .mish: Mish()
        }
    }
}

/// The pooling choices of the paper's Table 1.
public enum PoolingChoice: String, Sendable, Codable, CaseIterable {
    case average = "avg", max

    public func layer(kernel: Triple, stride: Triple, padding: Triple = Triple(0)) -> any Layer {
        switch self {
        case .average: AvgPool3D(kernel: kernel, stride: stride, padding: padding)
        case .max: MaxPool3D(kernel: kernel, stride: stride, padding: padding)
        }
    }
}

/// The paper's C3D-style network family (§3.1, Fig. 1) with every Table 1 option that changes the graph.
///
/// Five groups of 64 / 128 / 256×2 / 512×2 / 512×2 filters, each convolution followed by
/// BatchNorm3D and the activation; pools (1,2,2)/(1,2,2), then (2,2,2) ×3, then kernel (1,2,2),
/// stride (2,2,2), padding (0,1,1); then Dense 4096 → act → Dropout → Dense 4096 → act →
/// Dropout → Dense(classes). Parameter paths follow a PyTorch module with `features` and
/// `classifier` sequentials.
public struct PaperNetwork: Sendable, Codable, Hashable {
    public var activation: ActivationChoice = .relu
    public var pooling: PoolingChoice = .max
    /// Temporal size of every convolution kernel (odd: 1, 3, 5, 7, 9); padding keeps the frame count.
    public var temporalKernel: Int = 3
    /// A second convolution in groups 1 and 2 (Table 1's "second conv layer").
    public var secondConvInFirstGroups: Bool = false
    public var dropout: Double = 0.5
    /// Frames, height, width and channels of one clip.
    public var frames: Int = 10
    public var height: Int = 112
    public var width: Int = 112
    public var channels: Int = 3
    public var classes: Int = 7
    /// Divides every filter count (1 is the paper's network; 4 gives 16/32/64/128/128).
    public var widthDivisor: Int = 1
    /// Units of the two hidden dense layers.
    public var hiddenUnits: Int = 4096

    public init() {}

    /// Filter counts per group: each group's convolutions.
    public var groups: [[Int]] {
        let base: [[Int]] = [
            secondConvInFirstGroups ? [64, 64] : [64], secondConvInFirstGroups ? [128, 128] : [128], [256, 256], [512, 512], [512, 512],
        ]
        return base.map { $0.map { max(1, $0 / max(widthDivisor, 1)) } }
    }

    /// Rejects values that cannot make a network, naming the field.
    public func validate() throws {
        func fail(_ field: String, _ message: String) throws -> Never {
            throw GraphError.invalid("network option '\(field)': \(message)")
        }
        if temporalKernel < 1 || temporalKernel % 2 == 0 { try fail("temporalKernel", "expected an odd size ≥ 1, got \(temporalKernel)") }
        if !(0..<1).contains(dropout) { try fail("dropout", "expected a probability in [0, 1), got \(dropout)") }
        if frames < 1 || height < 1 || width < 1 || channels < 1 { try fail("input", "expected positive sizes, got \(channels)×\(frames)×\(height)×\(width)") }
        if classes < 2 { try fail("classes", "expected at least 2, got \(classes)") }
        if widthDivisor < 1 { try fail("widthDivisor", "expected ≥ 1, got \(widthDivisor)") }
        if hiddenUnits < 1 { try fail("hiddenUnits", "expected ≥ 1, got \(hiddenUnits)") }
    }

    /// The network as DSL layers.
    public func model() throws -> Model {
        try validate()
        let t = temporalKernel
        let pools: [(kernel: Triple, stride: Triple, padding: Triple)] = [
            (Triple(1, 2, 2), Triple(1, 2, 2), Triple(0)),
            (Triple(2), Triple(2), Triple(0)),
            (Triple(2), Triple(2), Triple(0)),
            (Triple(2), Triple(2), Triple(0)),
            (Triple(1, 2, 2), Triple(2), Triple(0, 1, 1)),
        ]
        var features: [any Layer] = []
        for (group, filters) in groups.enumerated() {
            for count in filters {
                features.append(Conv3D(filters: count, kernel: Triple(t, 3, 3), padding: Triple((t - 1) / 2, 1, 1)))
                features.append(BatchNorm3D())
                features.append(activation.layer())
            }
            let pool = pools[group]
            features.append(pooling.layer(kernel: pool.kernel, stride: pool.stride, padding: pool.padding))
        }
        let hidden = hiddenUnits
        let classifier = Sequential {
            Dense(hidden)
            activation.layer()
            Dropout(dropout)
            Dense(hidden)
            activation.layer()
            Dropout(dropout)
            Dense(classes)
        }
        return Model(inputShape: [channels, frames, height, width], classes: classes) {
            Sequential(features).named("features")
            Flatten()
            classifier.named("classifier")
        }
    }

    /// A small configuration for tests and the demo: 48×48 input, filters / 4, 512 hidden units.
    public static var small: PaperNetwork {
        var network = PaperNetwork()
        network.height = 48
        network.width = 48
        network.widthDivisor = 4
        network.hiddenUnits = 512
        return network
    }
}

/// Table 1's choices that do not change the graph but the training around it.
public struct TrainingChoices: Sendable, Codable, Hashable {
    public enum Optimizer: String, Sendable, Codable, CaseIterable { case lookaheadAdam = "lookahead_adam", adam }
    public var optimizer: Optimizer = .adam
    /// Contrast Limited Adaptive Histogram Equalisation on the faces (clip limit 2, 8×8 tiles).
    public var clahe = false
    /// Pixels scaled to [−1, 1] instead of [0, 1].
    public var normalization = false
    /// Class-frequency weights in the loss.
    public var lossWeights = false
    public var initialization: WeightInitialization = .xavierUniform
    public init() {}
}

extension PaperNetwork {
    /// The architecture description of this network with the hyper-parameters that produced it.
    public func architecture(name: String, training: TrainingChoices) throws -> Architecture {
        let hyperparameters: [String: HyperValue] = [
            "optimizer": .string(training.optimizer.rawValue), "clahe": .flag(training.clahe),
            "normalization": .flag(training.normalization), "activation": .string(activation.rawValue),
            "loss_weights": .flag(training.lossWeights), "temporal_size": .number(Double(temporalKernel)),
            "initializer": .string(training.initialization.rawValue), "pooling": .string(pooling.rawValue),
            "second_conv": .flag(secondConvInFirstGroups), "dropout": .number(dropout),
        ]
        return Architecture(name: name, model: try model(), initialization: training.initialization, hyperparameters: hyperparameters)
    }

    /// The paper's CK+ model (Table 2): Adam, CLAHE, no normalisation, ReLU, no loss weights,
    /// temporal size 3, Xavier uniform, average pooling, no second conv, dropout 0.2511.
    public static func ckPlus() -> (network: PaperNetwork, training: TrainingChoices) {
        var network = PaperNetwork()
        network.activation = .relu
        network.pooling = .average
        network.temporalKernel = 3
        network.dropout = 0.2511
        var training = TrainingChoices()
        training.optimizer = .adam
        training.clahe = true
        training.initialization = .xavierUniform
        return (network, training)
    }

    /// The paper's Oulu-CASIA model (Table 3): Lookahead+Adam, no CLAHE, normalisation, LeakyReLU,
    /// no loss weights, temporal size 3, PyTorch's default init, max pooling, no second conv, dropout 0.4233.
    public static func ouluCASIA() -> (network: PaperNetwork, training: TrainingChoices) {
        var network = PaperNetwork()
        network.activation = .leakyRelu
        network.pooling = .max
        network.temporalKernel = 3
        network.dropout = 0.4233
        network.classes = 6
        var training = TrainingChoices()
        training.optimizer = .lookaheadAdam
        training.normalization = true
        training.initialization = .pytorchDefault
        return (network, training)
    }

    /// The built-in architecture files of `Graphs/`: the two paper models and the search's base template.
    public static func builtInArchitectures() throws -> [(file: String, architecture: Architecture)] {
        let ck = ckPlus(), oulu = ouluCASIA()
        return [
            ("paper-ckplus.json", try ck.network.architecture(name: "paper-ckplus", training: ck.training)),
            ("paper-oulu-casia.json", try oulu.network.architecture(name: "paper-oulu-casia", training: oulu.training)),
            ("search-template.json", try PaperNetwork().architecture(name: "search-template", training: TrainingChoices())),
        ]
    }
}
