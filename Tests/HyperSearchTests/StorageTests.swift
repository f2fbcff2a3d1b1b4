import Foundation
import Testing

@testable import HyperSearch

/// The storage scenarios, run on SQLite and on a private PostgreSQL server (Tools/postgres_test_server.sh).
@Suite(.serialized) struct StorageTests {
    @Test func sqlite() throws {
        let dir = try TemporaryDirectory()
        try runScenarios(url: "sqlite:///" + dir.path + "/study.db", dir: dir)
    }

    @Test func postgresql() throws {
        let dir = try TemporaryDirectory()
        let server = try PostgresTestServer(dir: dir.path + "/pg")
        defer { server.stop() }
        try runScenarios(url: server.url, dir: dir)
    }

    func runScenarios(url: String, dir: TemporaryDirectory) throws {
        try lifecycle(url: url)
        try failuresAndErrors(url: url)
        try pruningLeavesSuggestionsUnchanged(url: url)
        try workers(url: url, dir: dir)
    }

    /// Create/load, optimize, dense numbers, best trial, user attributes, enqueue.
    func lifecycle(url: String) throws {
        let study = try Study.create(
            name: "life", storage: url, direction: .minimize, space: BenchmarkFunction.branin.space,
            sampler: .tpe(seed: 4), options: StudyOptions(heartbeatInterval: 0.2))
        let summary = try study.optimize(trials: 15) { t in
            try t.setUserAttribute("report", .string("reports/\(t.number).json"))
            return BenchmarkFunction.branin(t.params)
        }
        #expect(summary.complete == 15)
        // Loading again keeps the stored definition, whatever the caller passes.
        let again = try Study.create(name: "life", storage: url, direction: .maximize, space: .paperTable1, sampler: .random())
        #expect(again.direction == .minimize && again.space == BenchmarkFunction.branin.space)
        let number = try again.enqueue(["x1": .double(Double.pi), "x2": .double(2.275)])
        let trial = try again.ask()
        #expect(trial.number == number && trial.double("x1") == Double.pi)
        try again.tell(trial.number, value: BenchmarkFunction.branin(trial.params))
        let trials = try again.trials()
        #expect(trials.map(\.number) == Array(0..<16))
        #expect(trials.allSatisfy { $0.state == .complete && $0.startedAt != nil && $0.completedAt != nil })
        #expect(trials[3].userAttributes["report"] == .string("reports/3.json"))
        let best = try #require(try again.bestTrial())
        #expect(best.number == 15 && abs(best.value! - 0.397887) < 1e-5)
        #expect(throws: StorageError.self) {
            try Study.create(name: "life", storage: url, space: .paperTable1, loadIfExists: false)
        }
    }

    /// Failing trials are recorded with their reason and the search goes on; errors name URL, study, parameter.
    func failuresAndErrors(url: String) throws {
        struct OutOfMemory: Error {}
        let study = try Study.create(name: "fail", storage: url, direction: .maximize, space: .paperTable1, sampler: .tpe(seed: 1))
        let summary = try study.optimize(trials: 6) { t in
            if t.number == 1 { throw OutOfMemory() }
            if t.number == 2 { return .nan }
            return syntheticValue(t.params)
        }
        #expect(summary.complete == 4 && summary.failed == 2)
        let trials = try study.trials()
        #expect(trials[1].state == .failed && trials[1].failReason!.contains("OutOfMemory"))
        #expect(trials[2].state == .failed && trials[2].failReason == "objective returned NaN")
        do {
            try study.tell(0, value: 1)
            Issue.record("telling a finished trial must fail")
        } catch let e as StorageError {
            #expect(e.description.contains("trial 0 of study 'fail' is complete"))
        }
        do {
            _ = try study.enqueue(["optimizer": .string("sgd")])
            Issue.record("a value outside the space must fail")
        } catch let e as SearchSpaceError {
            #expect(e.description.contains("'optimizer'"))
        }
        do {
            _ = try Study.load(name: "missing", storage: url)
            Issue.record("loading a missing study must fail")
        } catch let e as StorageError {
            #expect(e.description.contains("no study 'missing'") && e.description.contains("storage"))
        }
    }

    /// A seeded study with pruning and one without suggest the same parameters when the pruned trials would
    /// not enter l(x) anyway (they are the worst ones).
    func pruningLeavesSuggestionsUnchanged(url: String) throws {
        let threshold = 60.0
        func run(_ name: String, _ pruner: PrunerConfig) throws -> [FrozenTrial] {
            let s = try Study.create(
                name: name, storage: url, direction: .minimize, space: BenchmarkFunction.branin.space,
                sampler: .tpe(seed: 11), pruner: pruner, options: StudyOptions(heartbeatInterval: 0))
            try s.optimize(trials: 40) { t in
                let v = BenchmarkFunction.branin(t.params)
                try t.report(v, step: 0)
                try t.pruneIfNeeded()
                return v
            }
            return try s.trials()
        }
        let plain = try run("plain", .none)
        let pruned = try run("pruned", .threshold(threshold: threshold, warmupSteps: 0))
        // Precondition: at every TPE step, l(x) holds only trials below the threshold.
        for k in 10..<40 {
            let good = plain[..<k].filter { $0.value! <= threshold }.count
            #expect(good >= TPESampler.gamma(k), "trial \(k): too few good trials for the test's premise")
        }
        #expect(pruned.contains { $0.state == .pruned })
        #expect(pruned.map(\.params) == plain.map(\.params))
    }

    /// Four worker processes on one study, one killed mid-trial, then all killed, then a restart.
    func workers(url: String, dir: TemporaryDirectory) throws {
        let name = "workers"
        let common = [
            "study", "optimize", "--storage", url, "--study", name, "--objective", "branin", "--seed", "5",
            "--steps", "3", "--step-seconds", "0.15", "--heartbeat", "0.2", "--grace", "3",
        ]
        let study = try Study.create(
            name: name, storage: url, direction: .minimize, space: BenchmarkFunction.branin.space, sampler: .tpe(seed: 5),
            options: StudyOptions(heartbeatInterval: 0.2, gracePeriod: 3, requeueStale: true))
        var procs = try (0..<4).map { i in try Worker(common + ["--trials", "6"], log: dir.path + "/w\(i).log") }
        // Kill one worker once it is inside a trial (claimed, at least one step reported).
        let victim = procs[0]
        let victimTrial = try waitFor("worker \(victim.pid) to be mid-trial", timeout: 60) {
            try study.trials(attributes: false).first {
                $0.state == .running && $0.worker?.hasSuffix(":\(victim.pid)") == true && !$0.intermediateValues.isEmpty
            }
        }
        victim.kill()
        for p in procs[1...] { try p.waitSuccess() }
        // Its trial is still "running"; the next ask after the grace period fails it and re-queues it.
        Thread.sleep(forTimeInterval: 3.2)
        procs = try (0..<2).map { i in try Worker(common + ["--trials", "8"], log: dir.path + "/r\(i).log") }
        // Then kill every worker with -9 mid-run, keeping a snapshot of the finished trials.
        _ = try waitFor("restarted workers to be mid-trial", timeout: 60) {
            let t = try study.trials(attributes: false)
            return t.filter { $0.state == .running && !$0.intermediateValues.isEmpty }.count >= 2 ? t : nil
        }
        for p in procs { p.kill() }
        let snapshot = try study.trials().filter { $0.state.isFinished }
        Thread.sleep(forTimeInterval: 3.2)
        try Worker(common + ["--trials", "4"], log: dir.path + "/final.log").waitSuccess()

        let trials = try study.trials()
        #expect(trials.map(\.number) == Array(0..<trials.count), "numbers must be unique and dense")
        #expect(!trials.contains { $0.state == .running }, "no trial may stay running: \(trials.filter { $0.state == .running }.map(\.number))")
        for old in snapshot {
            let now = trials[old.number]
            #expect(now.state == old.state && now.value == old.value && now.params == old.params
                && now.intermediateValues == old.intermediateValues && now.userAttributes == old.userAttributes,
                "finished trial \(old.number) changed")
        }
        let stale = trials.filter { $0.state == .failed }
        #expect(stale.contains { $0.number == victimTrial.number })
        #expect(stale.count >= 3, "the victim's trial and the two killed at once")
        for f in stale {
            #expect(f.failReason?.contains("heartbeat lost") == true)
            if f.retriedFrom != nil { continue }  // a re-queued trial is re-queued only once
            let retry = trials.filter { $0.retriedFrom == f.number }
            #expect(retry.count == 1 && retry[0].params == f.params, "trial \(f.number) re-queued once with its parameters")
        }
        for t in trials where t.state == .complete {
            // Claimed by one worker, which also finished it; every report of it kept.
            guard case .number(let pid)? = t.userAttributes["worker_pid"] else {
                Issue.record("trial \(t.number) has no worker_pid"); continue
            }
            #expect(t.worker?.hasSuffix(":\(Int(pid))") == true)
            #expect(t.intermediateValues.count == 3)
        }
        #expect(trials.filter { $0.state == .complete }.count >= 18)
    }
}

func syntheticValue(_ p: [String: ParameterValue]) -> Double {
    (p["clahe"]?.boolValue == true ? 0.9 : 0.8) + 0.05 * (1 - (p["dropout"]?.doubleValue ?? 0))
}

func waitFor<T>(_ what: String, timeout: Double, _ probe: () throws -> T?) throws -> T {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if let v = try probe() { return v }
        Thread.sleep(forTimeInterval: 0.05)
    }
    throw TestFailure("timed out after \(timeout) s waiting for \(what)")
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

final class TemporaryDirectory {
    let path: String
    init() throws {
        var template = Array("/tmp/e3dhs.XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        path = String(cString: p)
        chmod(path, 0o755)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The repository root, from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The `emotion3d` executable built beside the test bundle.
func emotion3dExecutable() throws -> String {
    if let env = ProcessInfo.processInfo.environment["EMOTION3D_BIN"] { return env }
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for candidate in [here, here.deletingLastPathComponent()] {
        let p = candidate.appendingPathComponent("emotion3d").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    throw TestFailure("the emotion3d executable is not next to the tests (\(here.path)); build it (swift build) or set EMOTION3D_BIN")
}

/// One `emotion3d` worker process; stdout and stderr go to `log`.
final class Worker {
    let process = Process()
    let log: String
    var pid: Int32 { process.processIdentifier }

    init(_ arguments: [String], log: String) throws {
        self.log = log
        process.executableURL = URL(fileURLWithPath: try emotion3dExecutable())
        process.arguments = arguments
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func waitSuccess() throws {
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            let out = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw TestFailure("worker \(pid) exited with \(process.terminationStatus): \(out)")
        }
    }
}

/// A private PostgreSQL server (Tools/postgres_test_server.sh). Fails with the script's message when the
/// server binaries are missing: the PostgreSQL tests must not pass silently.
final class PostgresTestServer {
    let dir: String
    let url: String
    static let script = repositoryRoot.appendingPathComponent("Tools/postgres_test_server.sh").path

    init(dir: String) throws {
        self.dir = dir
        let (status, out, err) = try Self.run(["start", dir])
        guard status == 0, let line = out.split(separator: "\n").last else {
            throw TestFailure("could not start the PostgreSQL test server (\(Self.script) start \(dir), exit \(status)): \(err)")
        }
        url = String(line)
    }

    func stop() { _ = try? Self.run(["stop", dir]) }

    /// posix_spawn + waitpid, output to files: Foundation's `Process` waits until every inheritor of its
    /// internal socket exits, and the server the script starts would inherit it.
    static func run(_ args: [String]) throws -> (Int32, String, String) {
        let base = NSTemporaryDirectory() + "/e3dpg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, base + ".out", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, base + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = (["/bin/bash", script] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/bash", &actions, nil, argv, environ)
        if rc != 0 { throw TestFailure("cannot run \(script): posix_spawn error \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let o = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let e = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        return (exit, o, e)
    }
}
