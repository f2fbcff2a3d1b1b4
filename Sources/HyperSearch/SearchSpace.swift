import Foundation

/// A failure in a search-space definition or a parameter value; names the parameter.
public struct SearchSpaceError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The distribution of one parameter (Optuna's `CategoricalDistribution`, `IntDistribution`, `FloatDistribution`).
///
/// - `categorical`: an unordered set of choices (strings, booleans, numbers).
/// - `int`: integers `low, low + step, …, high` (inclusive); `log` samples uniformly in log space (needs
///   `low ≥ 1` and `step == 1`, as in Optuna).
/// - `float`: reals in `[low, high]`; `log` samples in log space (`low > 0`); `step` makes a grid
///   `low, low + step, …, high` (not together with `log`, as in Optuna).
///
/// Differs from Optuna: `high − low` must be a multiple of `step` (Optuna silently lowers `high`).
public enum Distribution: Sendable, Hashable, Codable, CustomStringConvertible {
    case categorical([ParameterValue])
    case int(low: Int, high: Int, step: Int = 1, log: Bool = false)
    case float(low: Double, high: Double, step: Double? = nil, log: Bool = false)

    private enum Key: String, CodingKey { case type, choices, low, high, step, log }

    /// JSON: `{"type": "categorical", "choices": [...]}`, `{"type": "int", "low": 1, "high": 9, "step": 2,
    /// "log": false}`, `{"type": "float", "low": 0, "high": 1, "step": null, "log": false}`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        switch try c.decode(String.self, forKey: .type) {
        case "categorical":
            self = .categorical(try c.decode([ParameterValue].self, forKey: .choices))
        case "int":
            self = .int(
                low: try c.decode(Int.self, forKey: .low), high: try c.decode(Int.self, forKey: .high),
                step: try c.decodeIfPresent(Int.self, forKey: .step) ?? 1,
                log: try c.decodeIfPresent(Bool.self, forKey: .log) ?? false)
        case "float":
            self = .float(
                low: try c.decode(Double.self, forKey: .low), high: try c.decode(Double.self, forKey: .high),
                step: try c.decodeIfPresent(Double.self, forKey: .step),
                log: try c.decodeIfPresent(Bool.self, forKey: .log) ?? false)
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "unknown distribution type '\(other)' (categorical, int, float)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        switch self {
        case .categorical(let choices):
            try c.encode("categorical", forKey: .type)
            try c.encode(choices, forKey: .choices)
        case .int(let low, let high, let step, let log):
            try c.encode("int", forKey: .type)
            try c.encode(low, forKey: .low)
            try c.encode(high, forKey: .high)
            try c.encode(step, forKey: .step)
            try c.encode(log, forKey: .log)
        case .float(let low, let high, let step, let log):
            try c.encode("float", forKey: .type)
            try c.encode(low, forKey: .low)
            try c.encode(high, forKey: .high)
            try c.encode(step, forKey: .step)
            try c.encode(log, forKey: .log)
        }
    }

    public var description: String { (try? JSONText.encode(self)) ?? "?" }

    /// Throws a `SearchSpaceError` naming `name` when the distribution is malformed.
    public func validate(name: String) throws {
        func fail(_ s: String) -> SearchSpaceError { SearchSpaceError("parameter '\(name)': \(s)") }
        switch self {
        case .categorical(let choices):
            if choices.isEmpty { throw fail("a categorical parameter needs at least one choice") }
            for (i, a) in choices.enumerated() {
                if case .double(let d) = a, !d.isFinite { throw fail("choice \(d) is not finite") }
                for b in choices[(i + 1)...] where a.sameChoice(as: b) { throw fail("choice \(a) appears twice") }
            }
        case .int(let low, let high, let step, let log):
            if low > high { throw fail("low \(low) > high \(high)") }
            if step < 1 { throw fail("step \(step) must be ≥ 1") }
            if (high - low) % step != 0 { throw fail("high − low = \(high - low) is not a multiple of step \(step)") }
            if log && low < 1 { throw fail("a log-scaled int needs low ≥ 1 (got \(low))") }
            if log && step != 1 { throw fail("a log-scaled int needs step 1 (got \(step))") }
        case .float(let low, let high, let step, let log):
            if !low.isFinite || !high.isFinite { throw fail("bounds must be finite") }
            if low > high { throw fail("low \(low) > high \(high)") }
            if log && low <= 0 { throw fail("a log-scaled float needs low > 0 (got \(low))") }
            if let step {
                if log { throw fail("a float cannot be both log-scaled and stepped") }
                if !(step > 0) { throw fail("step \(step) must be > 0") }
                let k = (high - low) / step
                if abs(k - k.rounded()) > 1e-8 * max(1, k) {
                    throw fail("high − low = \(high - low) is not a multiple of step \(step)")
                }
            }
        }
    }

    /// True when only one value is possible.
    public var isSingle: Bool {
        switch self {
        case .categorical(let c): return c.count == 1
        case .int(let l, let h, _, _): return l == h
        case .float(let l, let h, _, _): return l == h
        }
    }

    /// The internal representation: the choice index for categoricals, the number otherwise.
    /// Throws when the value is not in the distribution.
    public func internalValue(_ value: ParameterValue, name: String) throws -> Double {
        switch self {
        case .categorical(let choices):
            if let i = choices.firstIndex(where: { $0.sameChoice(as: value) }) { return Double(i) }
            throw SearchSpaceError("parameter '\(name)': \(value) is not one of the choices \(choices)")
        case .int(let low, let high, let step, _):
            guard let v = value.intValue, v >= low, v <= high, (v - low) % step == 0 else {
                throw SearchSpaceError("parameter '\(name)': \(value) is not an integer in \(low)...\(high) step \(step)")
            }
            return Double(v)
        case .float(let low, let high, let step, _):
            guard case let v? = value.doubleValue, value.stringValue == nil, value.boolValue == nil,
                v >= low, v <= high
            else { throw SearchSpaceError("parameter '\(name)': \(value) is not a number in [\(low), \(high)]") }
            if let step {
                let k = (v - low) / step
                if abs(k - k.rounded()) > 1e-6 { throw SearchSpaceError("parameter '\(name)': \(v) is not on the grid \(low) + k·\(step)") }
            }
            return v
        }
    }

    /// The user value of an internal representation.
    public func externalValue(_ x: Double) -> ParameterValue {
        switch self {
        case .categorical(let choices):
            return choices[min(max(Int(x), 0), choices.count - 1)]
        case .int(let low, let high, _, _):
            return .int(min(max(Int(x.rounded()), low), high))
        case .float(let low, let high, let step, _):
            if let step {
                // Snap to the grid so that values round-trip through text exactly.
                let k = ((x - low) / step).rounded()
                return .double(min(max(low + k * step, low), high))
            }
            return .double(min(max(x, low), high))
        }
    }
}

/// One named parameter of a search space.
public struct Parameter: Sendable, Hashable, Codable {
    public var name: String
    public var distribution: Distribution
    public init(_ name: String, _ distribution: Distribution) {
        self.name = name
        self.distribution = distribution
    }

    private enum Key: String, CodingKey { case name }
    /// JSON: the distribution's object with a `name` key added.
    public init(from decoder: Decoder) throws {
        name = try decoder.container(keyedBy: Key.self).decode(String.self, forKey: .name)
        distribution = try Distribution(from: decoder)
    }
    public func encode(to encoder: Encoder) throws {
        try distribution.encode(to: encoder)
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(name, forKey: .name)
    }
}

/// An ordered, fixed set of parameters: every trial of a study samples all of them.
///
/// Differs from Optuna: Optuna is define-by-run (the objective asks for parameters as it goes). Here the
/// space is declared once, stored with the study, and a trial's parameters are all sampled when it is
/// created; this is what makes the multivariate TPE and the constant liar exact. JSON: an array of
/// `Parameter` objects, e.g. `[{"name": "x", "type": "float", "low": -5, "high": 10}]`.
public struct SearchSpace: Sendable, Hashable, Codable {
    public private(set) var parameters: [Parameter]

    public init(_ parameters: [Parameter]) throws {
        var seen = Set<String>()
        for p in parameters {
            if p.name.isEmpty { throw SearchSpaceError("a parameter has an empty name") }
            if !seen.insert(p.name).inserted { throw SearchSpaceError("parameter '\(p.name)' is defined twice") }
            try p.distribution.validate(name: p.name)
        }
        self.parameters = parameters
    }

    public init(from decoder: Decoder) throws {
        try self.init(try [Parameter](from: decoder))
    }
    public func encode(to encoder: Encoder) throws { try parameters.encode(to: encoder) }

    public var names: [String] { parameters.map(\.name) }
    public subscript(name: String) -> Distribution? { parameters.first { $0.name == name }?.distribution }

    /// Checks a full parameter set against the space; returns the internal values in space order.
    public func internalValues(_ params: [String: ParameterValue]) throws -> [Double] {
        for key in params.keys where self[key] == nil {
            throw SearchSpaceError("parameter '\(key)' is not in the search space \(names)")
        }
        return try parameters.map { p in
            guard let v = params[p.name] else { throw SearchSpaceError("parameter '\(p.name)' is missing") }
            return try p.distribution.internalValue(v, name: p.name)
        }
    }

    /// Table 1 of Haddad et al. (ISVC 2020): the search space of the paper's model family, with the keys of
    /// the architecture JSON's `hyperparameters`. The initializer also offers PyTorch's default
    /// (`"default"`), which the paper's Oulu-CASIA model used. `temporal_size` is an int 1…9 step 2 (so TPE's
    /// kernels see that 3 is near 5); `dropout` a float in [0, 1].
    public static let paperTable1: SearchSpace = try! SearchSpace([
        Parameter("optimizer", .categorical([.string("lookahead_adam"), .string("adam")])),
        Parameter("clahe", .categorical([.bool(true), .bool(false)])),
        Parameter("normalization", .categorical([.bool(true), .bool(false)])),
        Parameter(
            "activation",
            .categorical(["relu", "elu", "prelu", "leaky_relu", "mish"].map { ParameterValue.string($0) })),
        Parameter("loss_weights", .categorical([.bool(true), .bool(false)])),
        Parameter("temporal_size", .int(low: 1, high: 9, step: 2)),
        Parameter(
            "initializer",
            .categorical([.string("xavier_uniform"), .string("xavier_normal"), .string("default")])),
        Parameter("pooling", .categorical([.string("avg"), .string("max")])),
        Parameter("second_conv", .categorical([.bool(true), .bool(false)])),
        Parameter("dropout", .float(low: 0, high: 1)),
    ])
}
