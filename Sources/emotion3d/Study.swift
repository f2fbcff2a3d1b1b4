import ArgumentParser
import EmotionRecognition
import Foundation
import HyperSearch
import Layers

/// `emotion3d study …`: hyper-parameter studies in SQLite or PostgreSQL (see README "Hyper-parameter search").
struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Hyper-parameter studies (TPE/random, pruning) stored in SQLite or PostgreSQL.",
        subcommands: [
            StudyCreate.self, StudyList.self, StudyShow.self, StudyBest.self, StudyExport.self, StudyImportance.self,
            StudyAsk.self, StudyTell.self, StudyOptimize.self, StudyDelete.self,
        ])
}

/// The storage URL option shared by every study command.
struct StorageOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Storage URL: sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host[:port]/db (default: $EMOTION3D_STORAGE).",
            valueName: "url"))
    var storage: String?

    func url() throws -> String {
        if let storage { return storage }
        if let env = ProcessInfo.processInfo.environment["EMOTION3D_STORAGE"], !env.isEmpty { return env }
        throw CommandError("no storage: pass --storage URL (sqlite:///study.db, postgresql://user@host/db) or set EMOTION3D_STORAGE")
    }
}

/// How to create a study (used by `create`, and by `ask`/`optimize` when the study does not exist yet).
struct StudyDefinitionOptions: ParsableArguments {
    @Option(help: "Search space: table1 (the paper's Table 1), branin, hartmann6, or a JSON file (array of parameters).")
    var space = "table1"

    @Option(help: "maximize or minimize (default: maximize for table1, minimize for the benchmarks).")
    var direction: String?

    @Option(help: "tpe or random.")
    var sampler = "tpe"

    @Option(help: "Sampler seed (default: random, stored with the study).")
    var seed: UInt64?

    @Option(help: "TPE: random trials before TPE starts.")
    var startupTrials = 10

    @Flag(help: "TPE: one estimator per parameter instead of joint kernels.")
    var univariate = false

    @Flag(help: "TPE: ignore other workers' running trials (no constant liar).")
    var noConstantLiar = false

    @Option(
        help: "Pruner: none, threshold:T, unreachable:T[:STEPS] (the paper's rule; paper = unreachable:0.965), median, or JSON.")
    var pruner = "none"

    @Option(help: "Seconds between heartbeats of a running trial (0: none).")
    var heartbeat: Double = 10

    @Option(help: "Seconds without heartbeat after which a running trial becomes failed.")
    var grace: Double = 60

    @Flag(help: "Do not re-queue trials whose worker died.")
    var noRequeue = false

    func spaceValue() throws -> SearchSpace {
        switch space {
        case "table1": return .paperTable1
        case "branin": return BenchmarkFunction.branin.space
        case "hartmann6": return BenchmarkFunction.hartmann6.space
        default:
            guard let data = FileManager.default.contents(atPath: space) else {
                throw CommandError("--space: no file '\(space)' (or use table1, branin, hartmann6)")
            }
            do { return try JSONDecoder().decode(SearchSpace.self, from: data) } catch let e as SearchSpaceError {
                throw CommandError("--space \(space): \(e)")
            } catch { throw CommandError("--space \(space): not a search-space JSON array: \(error)") }
        }
    }

    func directionValue() throws -> StudyDirection {
        if let direction {
            guard let d = StudyDirection(rawValue: direction) else {
                throw CommandError("--direction: '\(direction)' is not maximize or minimize")
            }
            return d
        }
        return space == "table1" || space.hasSuffix(".json") ? .maximize : .minimize
    }

    func samplerValue() throws -> SamplerConfig {
        var c: SamplerConfig
        switch sampler {
        case "tpe": c = .tpe(seed: seed, startupTrials: startupTrials, multivariate: !univariate, constantLiar: !noConstantLiar)
        case "random": c = .random(seed: seed)
        default: throw CommandError("--sampler: '\(sampler)' is not tpe or random")
        }
        return c
    }

    func prunerValue() throws -> PrunerConfig {
        let parts = pruner.split(separator: ":").map(String.init)
        func number(_ i: Int) throws -> Double {
            guard i < parts.count, let v = Double(parts[i]) else { throw CommandError("--pruner '\(pruner)': expected a number after '\(parts[0]):'") }
            return v
        }
        switch parts.first ?? "" {
        case "none": return .none
        case "paper": return .paper
        case "threshold": return .threshold(threshold: try number(1), warmupSteps: 0)
        case "unreachable":
            return .unreachable(threshold: try number(1), totalSteps: parts.count > 2 ? Int(try number(2)) : nil, bestStepValue: 1)
        case "median": return .median(startupTrials: 5, warmupSteps: 0, intervalSteps: 1, minTrials: 1)
        default:
            do { return try JSONDecoder().decode(PrunerConfig.self, from: Data(pruner.utf8)) } catch {
                throw CommandError("--pruner '\(pruner)': not none, threshold:T, unreachable:T[:STEPS], median or pruner JSON")
            }
        }
    }

    func create(name: String, url: String, loadIfExists: Bool) throws -> Study {
        try Study.create(
            name: name, storage: url, direction: try directionValue(), space: try spaceValue(), sampler: try samplerValue(),
            pruner: try prunerValue(),
            options: StudyOptions(heartbeatInterval: heartbeat, gracePeriod: grace, requeueStale: !noRequeue),
            loadIfExists: loadIfExists)
    }
}

func printJSON<T: Encodable>(_ value: T, pretty: Bool = false) throws {
    let e = JSONEncoder()
    e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
    // Unbuffered: a worker killed mid-run must not lose the lines it already printed.
    FileHandle.standardOutput.write(try e.encode(value) + Data("\n".utf8))
}

/// The JSON form of a trial in `show --json`, `best` and `ask`.
struct TrialJSON: Encodable {
    var number: Int
    var state: String
    var value: Double?
    var params: [String: ParameterValue]
    var intermediate_values: [String: Double]?
    var user_attrs: [String: JSONValue]?
    var started_at: Double?
    var completed_at: Double?
    var worker: String?
    var fail_reason: String?
    var retried_from: Int?

    init(_ t: FrozenTrial, full: Bool = true) {
        number = t.number
        state = t.state.rawValue
        value = t.value
        params = t.params
        if full {
            intermediate_values = Dictionary(uniqueKeysWithValues: t.intermediateValues.map { (String($0.key), $0.value) })
            user_attrs = t.userAttributes
            started_at = t.startedAt
            completed_at = t.completedAt
            worker = t.worker
            fail_reason = t.failReason
            retried_from = t.retriedFrom
        }
    }
}

func withStorageErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as StorageError { throw CommandError(e.description) } catch let e as SearchSpaceError {
        throw CommandError(e.description)
    }
}

struct StudyCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a study (fails if it exists).")
    @Argument(help: "Study name.") var name: String
    @OptionGroup var storage: StorageOption
    @OptionGroup var definition: StudyDefinitionOptions
    func run() throws {
        let study = try withStorageErrors { try definition.create(name: name, url: try storage.url(), loadIfExists: false) }
        print("created study '\(study.name)' (\(study.direction.rawValue), \(study.space.parameters.count) parameters) in \(study.storage.url)")
    }
}

struct StudyList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the studies of a storage.")
    @OptionGroup var storage: StorageOption
    @Flag(help: "JSON output.") var json = false
    func run() throws {
        let summaries = try withStorageErrors { try Storage(url: try storage.url()).studySummaries() }
        if json { return try printJSON(summaries, pretty: true) }
        if summaries.isEmpty { print("no study"); return }
        for s in summaries {
            let counts = TrialState.allCases.compactMap { st in s.counts[st.rawValue].map { "\($0) \(st.rawValue)" } }
            print("\(s.name)\t\(s.direction.rawValue)\tbest \(s.bestValue.map { String($0) } ?? "-")\t\(counts.joined(separator: ", "))")
        }
    }
}

struct StudyShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a study's definition and trials.")
    @Argument(help: "Study name.") var name: String
    @OptionGroup var storage: StorageOption
    @Flag(help: "JSON output (definition and every trial).") var json = false
    func run() throws {
        try withStorageErrors {
            let study = try Study.load(name: name, storage: try storage.url())
            let trials = try study.trials()
            if json {
                struct Out: Encodable {
                    var study: StudyRecord
                    var trials: [TrialJSON]
                }
                return try printJSON(Out(study: study.record, trials: trials.map { TrialJSON($0) }), pretty: true)
            }
            print("study '\(study.name)': \(study.direction.rawValue), sampler \(study.record.sampler.type.rawValue) seed \(study.record.sampler.seed.map(String.init) ?? "-"), \(trials.count) trials")
            let names = study.space.names
            print((["number", "state", "value", "seconds"] + names).joined(separator: "\t"))
            for t in trials {
                let v = t.value.map { String(format: "%.6g", $0) } ?? "-"
                let d = t.duration.map { String(format: "%.1f", $0) } ?? "-"
                let ps = names.map { t.params[$0]?.description ?? "-" }
                print(([String(t.number), t.state.rawValue, v, d] + ps).joined(separator: "\t") + (t.failReason.map { "\t(\($0))" } ?? ""))
            }
        }
    }
}

struct StudyBest: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "best", abstract: "Print the best trial as JSON.")
    @Argument(help: "Study name.") var name: String
    @OptionGroup var storage: StorageOption
    func run() throws {
        try withStorageErrors {
            let study = try Study.load(name: name, storage: try storage.url())
            guard let best = try study.bestTrial() else { throw CommandError("study '\(name)' has no complete trial yet") }
            try printJSON(TrialJSON(best), pretty: true)
        }
    }
}

struct StudyExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the best trial's network (Table 1 parameters) as an architecture JSON file.")
    @Argument(help: "Study name.") var name: String
    @OptionGroup var storage: StorageOption
    @Option(help: "Output file (e.g. Graphs/NAME.json).") var to: String
    @Option(help: "Export this trial instead of the best.") var trial: Int?
    @Option(help: "Number of classes (7 for CK+, 6 for Oulu-CASIA).") var classes = 7

    func run() throws {
        try withStorageErrors {
            let study = try Study.load(name: name, storage: try storage.url())
            let chosen: FrozenTrial
            if let trial { chosen = try study.storage.trial(study: study.record, number: trial) } else {
                guard let b = try study.bestTrial() else { throw CommandError("study '\(name)' has no complete trial yet") }
                chosen = b
            }
            var base = PaperNetwork()
            base.classes = classes
            let (network, training) = try base.applying(chosen.params)
            let architecture = try network.architecture(name: name, training: training)
            let dir = (to as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            try (architecture.jsonString() + "\n").write(toFile: to, atomically: true, encoding: .utf8)
            print("wrote \(to): trial \(chosen.number) of study '\(name)', value \(chosen.value.map { String($0) } ?? "-")")
        }
    }
}

struct StudyImportance: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "importance", abstract: "Parameter importance (PED-ANOVA) as JSON.")
    @Argument(help: "Study name.") var name: String
    @OptionGroup var storage: StorageOption
    @Option(help: "The top quantile compared with all complete trials.") var quantile = 0.1
    func run() throws {
        try withStorageErrors {
            let study = try Study.load(name: name, storage: try storage.url())
            let r = pedAnovaImportance(trials: try study.trials(), space: study.space, direction: study.direction, targetQuantile: quantile)
            if r.raw.isEmpty { throw CommandError("study '\(name)': too few complete trials for importance") }
            struct Out: Encodable { var method = "ped-anova"; var raw: [String: Double]; var normalized: [String: Double] }
            try printJSON(Out(raw: r.raw, normalized: r.normalized), pretty: true)
        }
    }
}

struct StudyAsk: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Claim a trial and print {\"study\", \"number\", \"params\"} as JSON (creates the study if needed).")
    @Option(help: "Study name.") var study: String
    @OptionGroup var storage: StorageOption
    @OptionGroup var definition: StudyDefinitionOptions
    func run() throws {
        try withStorageErrors {
            let s = try definition.create(name: study, url: try storage.url(), loadIfExists: true)
            let trial = try s.ask(heartbeat: false)
            struct Out: Encodable { var study: String; var number: Int; var params: [String: ParameterValue] }
            try printJSON(Out(study: s.name, number: trial.number, params: trial.params))
        }
    }
}

/// The JSON `study tell` reads on stdin.
struct TellRequest: Decodable {
    var number: Int
    var value: Double?
    var state: String?
    var reason: String?
    var intermediate_values: [String: Double]?
    var bounds: [String: Double]?
    var user_attrs: [String: JSONValue]?
}

struct StudyTell: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tell",
        abstract: "Read a JSON result on stdin: report intermediate values, set attributes, finish a trial.")
    @Option(help: "Study name.") var study: String
    @OptionGroup var storage: StorageOption
    func run() throws {
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let req: TellRequest
        do { req = try d.decode(TellRequest.self, from: input) } catch {
            throw CommandError("study tell: stdin is not a tell request ({\"number\": N, \"value\": V} …): \(error)")
        }
        try withStorageErrors {
            let s = try Study.load(name: study, storage: try storage.url())
            for (key, value) in req.user_attrs ?? [:] {
                try s.storage.setTrialAttribute(study: s.record, number: req.number, key: key, value: value)
            }
            var shouldPrune: Bool?
            if let values = req.intermediate_values, !values.isEmpty {
                for (k, v) in values.sorted(by: { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }) {
                    guard let step = Int(k) else { throw CommandError("study tell: intermediate step '\(k)' is not an integer") }
                    try s.storage.report(study: s.record, number: req.number, step: step, value: v, bound: req.bounds?[k])
                }
                let t = try s.storage.trial(study: s.record, number: req.number)
                shouldPrune = s.record.pruner.shouldPrune(t, trials: try s.trials(attributes: false), direction: s.direction)
            }
            var state = "running"
            if let st = req.state ?? (req.value != nil ? "complete" : nil) {
                guard let ts = TrialState(rawValue: st), ts.isFinished else {
                    throw CommandError("study tell: state '\(st)' is not complete, pruned or failed")
                }
                if ts == .complete {
                    guard let v = req.value else { throw CommandError("study tell: trial \(req.number): state complete needs a value") }
                    try s.tell(req.number, value: v)
                } else {
                    try s.tell(req.number, state: ts, value: req.value, reason: req.reason ?? (ts == .failed ? "reported failed" : nil))
                }
                state = try s.storage.trial(study: s.record, number: req.number).state.rawValue
            }
            struct Out: Encodable { var number: Int; var state: String; var should_prune: Bool? }
            try printJSON(Out(number: req.number, state: state, should_prune: shouldPrune))
        }
    }
}

struct StudyDelete: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a study and its trials.")
    @Argument(help: "Study name.") var name: String
    @OptionGroup var storage: StorageOption
    func run() throws {
        try withStorageErrors { try Storage(url: try storage.url()).deleteStudy(name: name) }
        print("deleted study '\(name)'")
    }
}

/// A worker running a built-in synthetic objective: for benchmarking samplers and testing storages.
struct StudyOptimize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize",
        abstract: "Run trials of a built-in synthetic objective (branin, hartmann6, table1) as one worker; prints one JSON line per trial.")
    @Option(help: "Study name.") var study: String
    @OptionGroup var storage: StorageOption
    @OptionGroup var definition: StudyDefinitionOptions
    @Option(help: "branin, hartmann6 (minimise) or table1 (a synthetic accuracy over Table 1, maximise).")
    var objective = "branin"
    @Option(help: "Trials this worker runs at most.") var trials = 10
    @Option(help: "Stop when the study has this many complete or pruned trials.") var studyTrials: Int?
    @Option(help: "Intermediate values reported per trial (one per step).") var steps = 1
    @Option(help: "Seconds each step sleeps (to simulate training).") var stepSeconds: Double = 0

    func run() throws {
        let f: ([String: ParameterValue]) -> Double
        switch objective {
        case "branin": f = { BenchmarkFunction.branin($0) }
        case "hartmann6": f = { BenchmarkFunction.hartmann6($0) }
        case "table1": f = syntheticTable1Accuracy
        default: throw CommandError("--objective: '\(objective)' is not branin, hartmann6 or table1")
        }
        var def = definition
        if objective != "table1" && def.space == "table1" { def.space = objective }
        let steps = max(1, self.steps), pause = stepSeconds
        try withStorageErrors {
            let s = try def.create(name: study, url: try storage.url(), loadIfExists: true)
            let pid = Int(ProcessInfo.processInfo.processIdentifier)
            let summary = try s.optimize(trials: trials, studyTrials: studyTrials) { trial in
                let value = f(trial.params)
                for step in 0..<steps {
                    if pause > 0 { Thread.sleep(forTimeInterval: pause) }
                    try trial.report(value, step: step)
                    try trial.pruneIfNeeded()
                }
                try trial.setUserAttribute("worker_pid", .number(Double(pid)))
                return value
            }
            struct Out: Encodable { var worker: Int; var complete: Int; var pruned: Int; var failed: Int }
            try printJSON(Out(worker: pid, complete: summary.complete, pruned: summary.pruned, failed: summary.failed))
        }
    }
}

/// A deterministic stand-in for the LOSO accuracy over Table 1 (maximise; best 0.98): CLAHE, Xavier uniform,
/// temporal size 3 and low dropout help, as the paper observed.
func syntheticTable1Accuracy(_ p: [String: ParameterValue]) -> Double {
    var a = 0.90
    if p["clahe"]?.boolValue == true { a += 0.02 }
    if p["normalization"]?.boolValue == true { a -= 0.01 }
    if p["initializer"]?.stringValue == "xavier_uniform" { a += 0.015 }
    if p["second_conv"]?.boolValue == true { a -= 0.01 }
    if let t = p["temporal_size"]?.intValue { a += 0.02 - 0.01 * Double(abs(t - 3)) / 2 }
    if let d = p["dropout"]?.doubleValue { a += 0.025 * (1 - abs(d - 0.25) / 0.75) }
    return min(a, 0.98)
}
