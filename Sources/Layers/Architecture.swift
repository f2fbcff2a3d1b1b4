import Foundation
import GraphCore
import Operators

/// A complete, serialisable description of one layer (the architecture JSON's `layers` entries).
public indirect enum LayerSpec: Hashable, Sendable {
    case conv3d(filters: Int, kernel: Triple, stride: Triple, padding: Triple, bias: Bool)
    case batchNorm3d(momentum: Double, epsilon: Double)
    case relu
    case elu(alpha: Double)
    case leakyRelu(slope: Double)
    case prelu(initial: Double)
    case mish
    case maxPool3d(kernel: Triple, stride: Triple, padding: Triple)
    case avgPool3d(kernel: Triple, stride: Triple, padding: Triple)
    case flatten
    case dense(units: Int, inputFeatures: Int?, bias: Bool)
    case dropout(probability: Double)
    case sequential([LayerSpec])
    /// A layer under an explicit path component (`features`) instead of its index.
    case named(String, LayerSpec)

    /// The DSL layer this describes.
    public func layer() -> any Layer {
        switch self {
        case let .conv3d(filters, kernel, stride, padding, bias):
            return Conv3D(filters: filters, kernel: kernel, stride: stride, padding: padding, bias: bias)
        case let .batchNorm3d(momentum, epsilon): return BatchNorm3D(momentum: momentum, epsilon: epsilon)
        case .relu: return ReLU()
        case let .elu(alpha): return ELU(alpha: alpha)
        case let .leakyRelu(slope): return LeakyReLU(slope: slope)
        case let .prelu(initial): return PReLU(initial: initial)
        case .mish: return Mish()
        case let .maxPool3d(kernel, stride, padding): return MaxPool3D(kernel: kernel, stride: stride, padding: padding)
        case let .avgPool3d(kernel, stride, padding): return AvgPool3D(kernel: kernel, stride: stride, padding: padding)
        case .flatten: return Flatten()
        case let .dense(units, inputFeatures, bias): return Dense(units, inputFeatures: inputFeatures, bias: bias)
        case let .dropout(probability): return Dropout(probability)
        case let .sequential(layers): return Sequential(layers.map { $0.layer() })
        case let .named(name, spec): return spec.layer().named(name)
        }
    }
}

// MARK: the layers' descriptions

extension Conv3D { public var spec: LayerSpec { .conv3d(filters: filters, kernel: kernel, stride: stride, padding: padding, bias: bias) } }
extension BatchNorm3D { public var spec: LayerSpec { .batchNorm3d(momentum: momentum, epsilon: epsilon) } }
extension ReLU { public var spec: LayerSpec { .relu } }
extension ELU { public var spec: LayerSpec { .elu(alpha: alpha) } }
extension LeakyReLU { public var spec: LayerSpec { .leakyRelu(slope: slope) } }
extension PReLU { public var spec: LayerSpec { .prelu(initial: initial) } }
extension Mish { public var spec: LayerSpec { .mish } }
extension MaxPool3D { public var spec: LayerSpec { .maxPool3d(kernel: kernel, stride: stride, padding: padding) } }
extension AvgPool3D { public var spec: LayerSpec { .avgPool3d(kernel: kernel, stride: stride, padding: padding) } }
extension Flatten { public var spec: LayerSpec { .flatten } }
extension Dense { public var spec: LayerSpec { .dense(units: units, inputFeatures: inputFeatures, bias: bias) } }
extension Dropout { public var spec: LayerSpec { .dropout(probability: probability) } }
extension Sequential { public var spec: LayerSpec { .sequential(layers.map(\.spec)) } }
extension Named { public var spec: LayerSpec { .named(name, layer.spec) } }

/// A value of the hyper-parameters that produced an architecture (Table 1: strings, numbers, flags).
public enum HyperValue: Hashable, Sendable, CustomStringConvertible {
    case string(String), number(Double), flag(Bool)
    public var description: String {
        switch self {
        case let .string(s): s
        case let .number(n): n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
        case let .flag(b): String(b)
        }
    }
}

/// Reading an architecture description failed: says which field, where, and what was expected.
public struct ArchitectureError: Error, CustomStringConvertible, Equatable {
    /// JSON path of the offending field, e.g. `layers[0].layers[3].filters`.
    public var path: String
    public var message: String
    public var description: String { "architecture field '\(path)': \(message)" }
}

/// The versioned architecture description: input shape, classes, initialisation, every layer with
/// its attributes, and the hyper-parameters that produced it. `Graphs/*.json` hold these.
public struct Architecture: Hashable, Sendable {
    public static let format = "emotion3d-architecture"
    public static let version = 1

    public var name: String
    /// Shape of one sample `[C, D, H, W]`.
    public var inputShape: Shape
    public var classes: Int
    public var initialization: WeightInitialization
    public var hyperparameters: [String: HyperValue]
    public var layers: [LayerSpec]

    public init(
        name: String, inputShape: Shape, classes: Int, initialization: WeightInitialization = .pytorchDefault,
        hyperparameters: [String: HyperValue] = [:], layers: [LayerSpec]
    ) {
        self.name = name
        self.inputShape = inputShape
        self.classes = classes
        self.initialization = initialization
        self.hyperparameters = hyperparameters
        self.layers = layers
    }

    /// The description of a DSL model.
    public init(name: String, model: Model, initialization: WeightInitialization = .pytorchDefault, hyperparameters: [String: HyperValue] = [:]) {
        let body: [LayerSpec]
        if case let .sequential(layers) = model.body.spec { body = layers } else { body = [model.body.spec] }
        self.init(
            name: name, inputShape: model.inputShape, classes: model.classes, initialization: initialization,
            hyperparameters: hyperparameters, layers: body)
    }

    /// The DSL model this describes.
    public var model: Model { Model(inputShape: inputShape, classes: classes, body: Sequential(layers.map { $0.layer() })) }

    // MARK: JSON

    /// Pretty-printed JSON with sorted keys (stable diffs).
    public func jsonData() throws -> Data {
        var object: [String: Any] = [
            "format": Self.format, "version": Self.version, "name": name, "input": inputShape.dims, "classes": classes,
            "initialization": initialization.rawValue, "layers": layers.map(Self.encode),
        ]
        object["hyperparameters"] = hyperparameters.mapValues { value -> Any in
            switch value {
            case let .string(s): s
            case let .number(n): n
            case let .flag(b): b
            }
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    public func jsonString() throws -> String { String(decoding: try jsonData(), as: UTF8.self) }

    /// Reads and validates a description; errors name the field's JSON path.
    public init(json data: Data) throws {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ArchitectureError(path: "$", message: "not valid JSON (\(error.localizedDescription))")
        }
        let reader = try JSONReader(object, path: "")
        guard try reader.string("format") == Self.format else {
            throw ArchitectureError(path: "format", message: "expected \"\(Self.format)\"")
        }
        let version = try reader.int("version")
        guard version == Self.version else {
            throw ArchitectureError(path: "version", message: "this build reads version \(Self.version), got \(version)")
        }
        name = try reader.string("name")
        let input = try reader.ints("input")
        guard input.count == 4, input.allSatisfy({ $0 >= 1 }) else {
            throw ArchitectureError(path: "input", message: "expected [channels, frames, height, width], all ≥ 1, got \(input)")
        }
        inputShape = Shape(input)
        classes = try reader.int("classes", minimum: 2)
        let initName = try reader.optionalString("initialization") ?? WeightInitialization.pytorchDefault.rawValue
        guard let scheme = WeightInitialization(rawValue: initName) else {
            throw ArchitectureError(
                path: "initialization", message: "expected one of \(WeightInitialization.allCases.map(\.rawValue)), got \"\(initName)\"")
        }
        initialization = scheme
        hyperparameters = try reader.hyperparameters("hyperparameters")
        layers = try reader.array("layers").map(Self.decode)
    }

    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ArchitectureError(path: "$", message: "cannot read file \(path)")
        }
        do { try self.init(json: data) } catch let error as ArchitectureError {
            throw ArchitectureError(path: error.path, message: error.message + " (in \(path))")
        }
    }

    private static func encode(_ spec: LayerSpec) -> [String: Any] {
        switch spec {
        case let .conv3d(filters, kernel, stride, padding, bias):
            ["type": "conv3d", "filters": filters, "kernel": kernel.array, "stride": stride.array, "padding": padding.array, "bias": bias]
        case let .batchNorm3d(momentum, epsilon): ["type": "batchnorm3d", "momentum": momentum, "epsilon": epsilon]
        case .relu: ["type": "relu"]
        case let .elu(alpha): ["type": "elu", "alpha": alpha]
        case let .leakyRelu(slope): ["type": "leaky_relu", "slope": slope]
        case let .prelu(initial): ["type": "prelu", "initial": initial]
        case .mish: ["type": "mish"]
        case let .maxPool3d(kernel, stride, padding): ["type": "maxpool3d", "kernel": kernel.array, "stride": stride.array, "padding": padding.array]
        case let .avgPool3d(kernel, stride, padding): ["type": "avgpool3d", "kernel": kernel.array, "stride": stride.array, "padding": padding.array]
        case .flatten: ["type": "flatten"]
        case let .dense(units, inputFeatures, bias):
            ["type": "dense", "units": units, "bias": bias].merging(inputFeatures.map { ["input_features": $0] } ?? [:]) { a, _ in a }
        case let .dropout(probability): ["type": "dropout", "p": probability]
        case let .sequential(layers): ["type": "sequential", "layers": layers.map(encode)]
        case let .named(name, spec): encode(spec).merging(["name": name]) { _, b in b }
        }
    }

    /// A layer object; an optional `name` field gives it an explicit path component.
    private static func decode(_ reader: JSONReader) throws -> LayerSpec {
        let spec = try decodeUnnamed(reader)
        return try reader.optionalString("name").map { .named($0, spec) } ?? spec
    }

    private static func decodeUnnamed(_ reader: JSONReader) throws -> LayerSpec {
        let type = try reader.string("type")
        func window() throws -> (Triple, Triple, Triple) {
            let kernel = try reader.triple("kernel", minimum: 1)
            return (kernel, try reader.optionalTriple("stride", minimum: 1) ?? kernel, try reader.optionalTriple("padding", minimum: 0) ?? Triple(0))
        }
        switch type {
        case "conv3d":
            return .conv3d(
                filters: try reader.int("filters", minimum: 1), kernel: try reader.triple("kernel", minimum: 1),
                stride: try reader.optionalTriple("stride", minimum: 1) ?? Triple(1), padding: try reader.optionalTriple("padding", minimum: 0) ?? Triple(0),
                bias: try reader.optionalBool("bias") ?? true)
        case "batchnorm3d":
            return .batchNorm3d(
                momentum: try reader.optionalDouble("momentum", in: 0...1) ?? 0.1, epsilon: try reader.optionalDouble("epsilon", in: 0...1) ?? 1e-5)
        case "relu": return .relu
        case "elu": return .elu(alpha: try reader.optionalDouble("alpha", in: 0...1e6) ?? 1)
        case "leaky_relu": return .leakyRelu(slope: try reader.optionalDouble("slope", in: 0...1) ?? 0.01)
        case "prelu": return .prelu(initial: try reader.optionalDouble("initial", in: -1e6...1e6) ?? 0.25)
        case "mish": return .mish
        case "maxpool3d":
            let (k, s, p) = try window()
            return .maxPool3d(kernel: k, stride: s, padding: p)
        case "avgpool3d":
            let (k, s, p) = try window()
            return .avgPool3d(kernel: k, stride: s, padding: p)
        case "flatten": return .flatten
        case "dense":
            return .dense(
                units: try reader.int("units", minimum: 1), inputFeatures: try reader.optionalInt("input_features", minimum: 1),
                bias: try reader.optionalBool("bias") ?? true)
        case "dropout":
            let p = try reader.double("p")
            guard (0..<1).contains(p) else { throw ArchitectureError(path: reader.path + ".p", message: "expected a probability in [0, 1), got \(p)") }
            return .dropout(probability: p)
        case "sequential":
            return .sequential(try reader.array("layers").map(decode))
        default:
            throw ArchitectureError(
                path: reader.path + ".type",
                message: "unknown layer type \"\(type)\"; expected one of conv3d, batchnorm3d, relu, elu, leaky_relu, prelu, mish, maxpool3d, avgpool3d, flatten, dense, dropout, sequential")
        }
    }
}

/// Typed access to a JSON object that reports the JSON path of anything missing or invalid.
struct JSONReader {
    let object: [String: Any]
    let path: String

    init(_ value: Any, path: String) throws {
        guard let object = value as? [String: Any] else {
            throw ArchitectureError(path: path.isEmpty ? "$" : path, message: "expected an object")
        }
        self.object = object
        self.path = path
    }

    private func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func required(_ key: String) throws -> Any {
        guard let value = object[key], !(value is NSNull) else { throw ArchitectureError(path: field(key), message: "missing") }
        return value
    }

    private func number(_ value: Any, _ key: String) throws -> NSNumber {
        guard let number = value as? NSNumber, !isBoolean(number) else {
            throw ArchitectureError(path: field(key), message: "expected a number, got \(value)")
        }
        return number
    }

    func string(_ key: String) throws -> String {
        guard let value = try required(key) as? String else { throw ArchitectureError(path: field(key), message: "expected a string") }
        return value
    }
    func optionalString(_ key: String) throws -> String? { object[key] == nil ? nil : try string(key) }

    func int(_ key: String, minimum: Int = Int.min) throws -> Int {
        let value = try number(try required(key), key)
        guard value.doubleValue == value.doubleValue.rounded() else {
            throw ArchitectureError(path: field(key), message: "expected a whole number, got \(value)")
        }
        guard value.intValue >= minimum else {
            throw ArchitectureError(path: field(key), message: "expected a whole number ≥ \(minimum), got \(value.intValue)")
        }
        return value.intValue
    }
    func optionalInt(_ key: String, minimum: Int) throws -> Int? { object[key] == nil ? nil : try int(key, minimum: minimum) }

    func double(_ key: String) throws -> Double {
        let value = try number(try required(key), key).doubleValue
        guard value.isFinite else { throw ArchitectureError(path: field(key), message: "expected a finite number") }
        return value
    }
    func optionalDouble(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard object[key] != nil else { return nil }
        let value = try double(key)
        guard range.contains(value) else { throw ArchitectureError(path: field(key), message: "expected a value in \(range), got \(value)") }
        return value
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = object[key] else { return nil }
        guard let number = value as? NSNumber, isBoolean(number) else {
            throw ArchitectureError(path: field(key), message: "expected true or false, got \(value)")
        }
        return number.boolValue
    }

    func ints(_ key: String) throws -> [Int] {
        guard let values = try required(key) as? [Any] else { throw ArchitectureError(path: field(key), message: "expected an array of numbers") }
        return try values.enumerated().map { index, value in
            guard let number = value as? NSNumber, !isBoolean(number), number.doubleValue == number.doubleValue.rounded() else {
                throw ArchitectureError(path: "\(field(key))[\(index)]", message: "expected a whole number, got \(value)")
            }
            return number.intValue
        }
    }

    func triple(_ key: String, minimum: Int) throws -> Triple {
        let values = try ints(key)
        guard values.count == 3 else { throw ArchitectureError(path: field(key), message: "expected [depth, height, width], got \(values)") }
        if let index = values.firstIndex(where: { $0 < minimum }) {
            throw ArchitectureError(path: "\(field(key))[\(index)]", message: "expected a value ≥ \(minimum), got \(values[index])")
        }
        return Triple(values[0], values[1], values[2])
    }
    func optionalTriple(_ key: String, minimum: Int) throws -> Triple? { object[key] == nil ? nil : try triple(key, minimum: minimum) }

    func array(_ key: String) throws -> [JSONReader] {
        guard let values = try required(key) as? [Any] else { throw ArchitectureError(path: field(key), message: "expected an array") }
        return try values.enumerated().map { try JSONReader($0.element, path: "\(field(key))[\($0.offset)]") }
    }

    func hyperparameters(_ key: String) throws -> [String: HyperValue] {
        guard let value = object[key] else { return [:] }
        guard let dictionary = value as? [String: Any] else { throw ArchitectureError(path: field(key), message: "expected an object") }
        return try dictionary.mapValues { value in
            if let string = value as? String { return .string(string) }
            if let number = value as? NSNumber {
                return isBoolean(number) ? .flag(number.boolValue) : .number(number.doubleValue)
            }
            throw ArchitectureError(path: field(key), message: "values must be strings, numbers or booleans")
        }
    }
}

/// JSON booleans arrive as NSNumber too; their Objective-C type code is `c`.
private func isBoolean(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }
