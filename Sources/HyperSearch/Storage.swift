import Foundation

/// Per-study settings of failure handling.
public struct StudyOptions: Sendable, Codable, Hashable {
    /// Seconds between a worker's heartbeats for its running trial (`Study.optimize`); 0 disables them.
    public var heartbeatInterval: Double
    /// A running trial whose last heartbeat is older than this becomes failed ("heartbeat lost").
    public var gracePeriod: Double
    /// Re-queue such a trial once: a new waiting trial with the same parameters, claimed by the next ask.
    public var requeueStale: Bool

    public init(heartbeatInterval: Double = 10, gracePeriod: Double = 60, requeueStale: Bool = true) {
        self.heartbeatInterval = heartbeatInterval
        self.gracePeriod = gracePeriod
        self.requeueStale = requeueStale
    }
}

/// A study's stored definition.
public struct StudyRecord: Sendable, Codable {
    public var id: Int64
    public var name: String
    public var direction: StudyDirection
    public var space: SearchSpace
    public var sampler: SamplerConfig
    public var pruner: PrunerConfig
    public var options: StudyOptions
    public var createdAt: Double
}

/// A line of `study list`.
public struct StudySummary: Sendable, Codable {
    public var name: String
    public var direction: StudyDirection
    public var counts: [String: Int]
    public var bestValue: Double?
    public var createdAt: Double
}

/// Where studies live: an SQLite file or a PostgreSQL database (see `openConnection` for the URLs).
///
/// Tables: `e3d_studies` (definition: direction, search space, sampler, pruner and options as JSON, the next
/// trial number), `e3d_trials` (number unique per study, state, value, timestamps, heartbeat, worker, failure
/// reason), `e3d_trial_params` (internal value per parameter: the choice index for categoricals; the
/// distributions are the study's space), `e3d_trial_values` (intermediate values and bounds per step),
/// `e3d_trial_attrs` and `e3d_study_attrs` (user attributes as JSON). Every change is one transaction.
///
/// A `Storage` holds one connection: use it from one thread at a time (each worker opens its own).
public final class Storage: @unchecked Sendable {
    public let url: String
    let conn: any SQLConnection
    static let schemaVersion = 1

    public init(url: String) throws {
        self.url = redactPassword(url)
        conn = try openConnection(url)
        try createSchema()
    }

    private func createSchema() throws {
        let pg = conn.dialect == .postgres
        let pk = pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
        let ddl = [
            "CREATE TABLE IF NOT EXISTS e3d_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """
            CREATE TABLE IF NOT EXISTS e3d_studies (study_id \(pk), name TEXT NOT NULL UNIQUE,
              direction TEXT NOT NULL, space TEXT NOT NULL, sampler TEXT NOT NULL, pruner TEXT NOT NULL,
              options TEXT NOT NULL, next_number BIGINT NOT NULL DEFAULT 0, created_at DOUBLE PRECISION NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS e3d_trials (trial_id \(pk),
              study_id BIGINT NOT NULL REFERENCES e3d_studies(study_id) ON DELETE CASCADE,
              number BIGINT NOT NULL, state TEXT NOT NULL, value DOUBLE PRECISION,
              started_at DOUBLE PRECISION, completed_at DOUBLE PRECISION, heartbeat_at DOUBLE PRECISION,
              worker TEXT, fail_reason TEXT, retried_from BIGINT, UNIQUE (study_id, number))
            """,
            "CREATE INDEX IF NOT EXISTS e3d_trials_state ON e3d_trials (study_id, state)",
            """
            CREATE TABLE IF NOT EXISTS e3d_trial_params (
              trial_id BIGINT NOT NULL REFERENCES e3d_trials(trial_id) ON DELETE CASCADE,
              name TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (trial_id, name))
            """,
            """
            CREATE TABLE IF NOT EXISTS e3d_trial_values (
              trial_id BIGINT NOT NULL REFERENCES e3d_trials(trial_id) ON DELETE CASCADE,
              step BIGINT NOT NULL, value DOUBLE PRECISION, bound DOUBLE PRECISION, PRIMARY KEY (trial_id, step))
            """,
            """
            CREATE TABLE IF NOT EXISTS e3d_trial_attrs (
              trial_id BIGINT NOT NULL REFERENCES e3d_trials(trial_id) ON DELETE CASCADE,
              key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (trial_id, key))
            """,
            """
            CREATE TABLE IF NOT EXISTS e3d_study_attrs (
              study_id BIGINT NOT NULL REFERENCES e3d_studies(study_id) ON DELETE CASCADE,
              key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (study_id, key))
            """,
        ]
        try conn.transaction {
            // Concurrent first connections must not race on CREATE TABLE.
            if pg { try conn.execute("SELECT pg_advisory_xact_lock(727274)") }
            for s in ddl { try conn.execute(s) }
            try conn.execute(
                "INSERT INTO e3d_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING",
                [.text(String(Self.schemaVersion))])
            let v = try conn.query("SELECT value FROM e3d_meta WHERE key = 'schema_version'", []).first?.text(0)
            if v != String(Self.schemaVersion) {
                throw StorageError("storage \(url): schema version \(v ?? "?") is not \(Self.schemaVersion)")
            }
        }
    }

    // MARK: studies

    /// Creates a study, or (with `loadIfExists`) returns the stored one, whose definition then wins.
    public func createStudy(
        name: String, direction: StudyDirection, space: SearchSpace, sampler: SamplerConfig,
        pruner: PrunerConfig, options: StudyOptions = StudyOptions(), loadIfExists: Bool = true
    ) throws -> StudyRecord {
        if name.isEmpty { throw StorageError("storage \(url): a study needs a name") }
        var sampler = sampler
        if sampler.seed == nil { sampler.seed = UInt64.random(in: 0...UInt64(Int64.max)) }
        let inserted: Bool = try conn.transaction {
            let rows = try conn.query(
                """
                INSERT INTO e3d_studies (name, direction, space, sampler, pruner, options, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING study_id
                """,
                [
                    .text(name), .text(direction.rawValue), .text(try JSONText.encode(space)),
                    .text(try JSONText.encode(sampler)), .text(try JSONText.encode(pruner)),
                    .text(try JSONText.encode(options)), .double(try conn.now()),
                ])
            return !rows.isEmpty
        }
        if !inserted && !loadIfExists {
            throw StorageError("storage \(url): study '\(name)' already exists")
        }
        return try loadStudy(name: name)
    }

    public func loadStudy(name: String) throws -> StudyRecord {
        let rows = try conn.query(
            "SELECT study_id, direction, space, sampler, pruner, options, created_at FROM e3d_studies WHERE name = $1",
            [.text(name)])
        guard let r = rows.first else {
            let names = try studyNames()
            throw StorageError(
                "storage \(url): no study '\(name)'" + (names.isEmpty ? " (the storage has no study)" : " (studies: \(names.joined(separator: ", ")))"))
        }
        do {
            return StudyRecord(
                id: r.int(0)!, name: name,
                direction: StudyDirection(rawValue: r.text(1) ?? "") ?? .maximize,
                space: try JSONText.decode(SearchSpace.self, r.text(2)!),
                sampler: try JSONText.decode(SamplerConfig.self, r.text(3)!),
                pruner: try JSONText.decode(PrunerConfig.self, r.text(4)!),
                options: try JSONText.decode(StudyOptions.self, r.text(5)!), createdAt: r.double(6) ?? 0)
        } catch {
            throw StorageError("storage \(url): study '\(name)' has an unreadable definition: \(error)")
        }
    }

    public func studyNames() throws -> [String] {
        try conn.query("SELECT name FROM e3d_studies ORDER BY study_id", []).compactMap { $0.text(0) }
    }

    public func studySummaries() throws -> [StudySummary] {
        var out: [StudySummary] = []
        for r in try conn.query("SELECT study_id, name, direction, created_at FROM e3d_studies ORDER BY study_id", []) {
            let dir = StudyDirection(rawValue: r.text(2) ?? "") ?? .maximize
            var counts: [String: Int] = [:]
            for c in try conn.query(
                "SELECT state, COUNT(*) FROM e3d_trials WHERE study_id = $1 GROUP BY state", [.int(r.int(0)!)])
            {
                counts[c.text(0)!] = Int(c.int(1) ?? 0)
            }
            let agg = dir == .minimize ? "MIN" : "MAX"
            let best = try conn.query(
                "SELECT \(agg)(value) FROM e3d_trials WHERE study_id = $1 AND state = 'complete'", [.int(r.int(0)!)]
            ).first?.double(0)
            out.append(
                StudySummary(name: r.text(1)!, direction: dir, counts: counts, bestValue: best, createdAt: r.double(3) ?? 0))
        }
        return out
    }

    public func deleteStudy(name: String) throws {
        let study = try loadStudy(name: name)
        try conn.transaction {
            // Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign_keys=ON in every connection.
            for t in ["e3d_trial_params", "e3d_trial_values", "e3d_trial_attrs"] {
                try conn.execute(
                    "DELETE FROM \(t) WHERE trial_id IN (SELECT trial_id FROM e3d_trials WHERE study_id = $1)",
                    [.int(study.id)])
            }
            try conn.execute("DELETE FROM e3d_trials WHERE study_id = $1", [.int(study.id)])
            try conn.execute("DELETE FROM e3d_study_attrs WHERE study_id = $1", [.int(study.id)])
            try conn.execute("DELETE FROM e3d_studies WHERE study_id = $1", [.int(study.id)])
        }
    }

    public func setStudyAttribute(study: StudyRecord, key: String, value: JSONValue) throws {
        try conn.transaction {
            try conn.execute(
                """
                INSERT INTO e3d_study_attrs (study_id, key, value) VALUES ($1, $2, $3)
                ON CONFLICT (study_id, key) DO UPDATE SET value = excluded.value
                """, [.int(study.id), .text(key), .text(try JSONText.encode(value))])
        }
    }

    public func studyAttributes(study: StudyRecord) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for r in try conn.query("SELECT key, value FROM e3d_study_attrs WHERE study_id = $1", [.int(study.id)]) {
            out[r.text(0)!] = try? JSONText.decode(JSONValue.self, r.text(1)!)
        }
        return out
    }

    // MARK: trials

    /// Every trial of the study, ordered by number. `attributes`: also load user attributes.
    public func trials(study: StudyRecord, attributes: Bool = true) throws -> [FrozenTrial] {
        let sid = SQLValue.int(study.id)
        var trials: [FrozenTrial] = []
        var index: [Int64: Int] = [:]
        for r in try conn.query(
            """
            SELECT trial_id, number, state, value, started_at, completed_at, heartbeat_at, worker, fail_reason,
              retried_from FROM e3d_trials WHERE study_id = $1 ORDER BY number
            """, [sid])
        {
            let id = r.int(0)!
            index[id] = trials.count
            trials.append(
                FrozenTrial(
                    id: id, number: Int(r.int(1)!), state: TrialState(rawValue: r.text(2)!) ?? .failed, params: [:],
                    value: r.double(3), intermediateValues: [:], intermediateBounds: [:], startedAt: r.double(4),
                    completedAt: r.double(5), heartbeatAt: r.double(6), worker: r.text(7), failReason: r.text(8),
                    retriedFrom: r.int(9).map { Int($0) }, userAttributes: [:]))
        }
        var dists: [String: Distribution] = [:]
        for p in study.space.parameters { dists[p.name] = p.distribution }
        for r in try conn.query(
            """
            SELECT p.trial_id, p.name, p.value FROM e3d_trial_params p JOIN e3d_trials t ON t.trial_id = p.trial_id
            WHERE t.study_id = $1
            """, [sid])
        {
            guard let i = index[r.int(0)!], let name = r.text(1), let d = dists[name], let x = r.double(2) else { continue }
            trials[i].params[name] = d.externalValue(x)
        }
        for r in try conn.query(
            """
            SELECT v.trial_id, v.step, v.value, v.bound FROM e3d_trial_values v JOIN e3d_trials t
            ON t.trial_id = v.trial_id WHERE t.study_id = $1
            """, [sid])
        {
            guard let i = index[r.int(0)!], let step = r.int(1) else { continue }
            trials[i].intermediateValues[Int(step)] = r.double(2) ?? .nan
            if let b = r.double(3) { trials[i].intermediateBounds[Int(step)] = b }
        }
        if attributes {
            for r in try conn.query(
                """
                SELECT a.trial_id, a.key, a.value FROM e3d_trial_attrs a JOIN e3d_trials t ON t.trial_id = a.trial_id
                WHERE t.study_id = $1
                """, [sid])
            {
                guard let i = index[r.int(0)!], let k = r.text(1), let v = r.text(2) else { continue }
                trials[i].userAttributes[k] = (try? JSONText.decode(JSONValue.self, v)) ?? .string(v)
            }
        }
        return trials
    }

    public func trial(study: StudyRecord, number: Int) throws -> FrozenTrial {
        guard let t = try trials(study: study).first(where: { $0.number == number }) else {
            throw StorageError("storage \(url): study '\(study.name)' has no trial \(number)")
        }
        return t
    }

    private func lockStudy(_ study: StudyRecord) throws -> Int64 {
        let sql =
            conn.dialect == .postgres
            ? "SELECT next_number FROM e3d_studies WHERE study_id = $1 FOR UPDATE"
            : "SELECT next_number FROM e3d_studies WHERE study_id = $1"
        guard let n = try conn.query(sql, [.int(study.id)]).first?.int(0) else {
            throw StorageError("storage \(url): study '\(study.name)' was deleted")
        }
        return n
    }

    private func insertTrial(
        _ study: StudyRecord, number: Int64, state: TrialState, now: Double?, worker: String?, retriedFrom: Int64?,
        heartbeat: Bool
    ) throws -> Int64 {
        guard
            let id = try conn.query(
                """
                INSERT INTO e3d_trials (study_id, number, state, started_at, heartbeat_at, worker, retried_from)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING trial_id
                """,
                [
                    .int(study.id), .int(number), .text(state.rawValue), now.map { .double($0) } ?? .null,
                    heartbeat ? (now.map { .double($0) } ?? .null) : .null, worker.map { .text($0) } ?? .null,
                    retriedFrom.map { .int($0) } ?? .null,
                ]
            ).first?.int(0)
        else { throw StorageError("storage \(url): inserting a trial returned no id") }
        try conn.execute("UPDATE e3d_studies SET next_number = $1 WHERE study_id = $2", [.int(number + 1), .int(study.id)])
        return id
    }

    private func writeParams(_ trialID: Int64, _ params: [String: ParameterValue], _ space: SearchSpace) throws {
        let values = try space.internalValues(params)
        for (p, x) in zip(space.parameters, values) {
            try conn.execute(
                "INSERT INTO e3d_trial_params (trial_id, name, value) VALUES ($1, $2, $3)",
                [.int(trialID), .text(p.name), .double(x)])
        }
    }

    /// Fails running trials whose heartbeat is older than the grace period; re-queues them once.
    /// Call inside a transaction holding the study lock. Returns the numbers of the failed trials.
    @discardableResult
    private func failStaleTrials(_ study: StudyRecord, now: Double, next: inout Int64) throws -> [Int] {
        guard study.options.heartbeatInterval > 0 else { return [] }
        let stale = try conn.query(
            """
            SELECT trial_id, number, worker, retried_from FROM e3d_trials
            WHERE study_id = $1 AND state = 'running' AND heartbeat_at IS NOT NULL AND heartbeat_at < $2
            ORDER BY number
            """, [.int(study.id), .double(now - study.options.gracePeriod)])
        var failed: [Int] = []
        for r in stale {
            let id = r.int(0)!, number = r.int(1)!
            try conn.execute(
                "UPDATE e3d_trials SET state = 'failed', completed_at = $1, fail_reason = $2 WHERE trial_id = $3 AND state = 'running'",
                [
                    .double(now),
                    .text("heartbeat lost: no heartbeat for \(Int(study.options.gracePeriod)) s from worker \(r.text(2) ?? "?") (killed?)"),
                    .int(id),
                ])
            failed.append(Int(number))
            if study.options.requeueStale && r.isNull(3) {
                let newID = try insertTrial(
                    study, number: next, state: .waiting, now: nil, worker: nil, retriedFrom: number, heartbeat: false)
                next += 1
                try conn.execute(
                    "INSERT INTO e3d_trial_params (trial_id, name, value) SELECT CAST($1 AS BIGINT), name, value FROM e3d_trial_params WHERE trial_id = $2",
                    [.int(newID), .int(id)])
            }
        }
        return failed
    }

    /// Marks stale running trials failed (and re-queues them) now; returns their numbers.
    @discardableResult
    public func failStaleTrials(study: StudyRecord) throws -> [Int] {
        try conn.transaction {
            var next = try lockStudy(study)
            return try failStaleTrials(study, now: try conn.now(), next: &next)
        }
    }

    /// Claims a trial for `worker`, atomically: fails stale trials, then takes the oldest waiting trial
    /// or allocates the next number and fills every parameter with `sample(trials, number)`.
    func claimTrial(
        study: StudyRecord, worker: String, heartbeat: Bool,
        sample: ([FrozenTrial], Int) throws -> [String: ParameterValue]
    ) throws -> FrozenTrial {
        let (id, number): (Int64, Int64) = try conn.transaction {
            var next = try lockStudy(study)
            let now = try conn.now()
            try failStaleTrials(study, now: now, next: &next)
            if let w = try conn.query(
                "SELECT trial_id, number FROM e3d_trials WHERE study_id = $1 AND state = 'waiting' ORDER BY number LIMIT 1",
                [.int(study.id)]
            ).first {
                let id = w.int(0)!
                try conn.execute(
                    "UPDATE e3d_trials SET state = 'running', started_at = $1, heartbeat_at = $2, worker = $3 WHERE trial_id = $4",
                    [.double(now), heartbeat ? .double(now) : .null, .text(worker), .int(id)])
                let have = try conn.query("SELECT COUNT(*) FROM e3d_trial_params WHERE trial_id = $1", [.int(id)]).first?.int(0) ?? 0
                if have == 0 {
                    let params = try sample(try trials(study: study, attributes: false), Int(w.int(1)!))
                    try writeParams(id, params, study.space)
                }
                return (id, w.int(1)!)
            }
            let params = try sample(try trials(study: study, attributes: false), Int(next))
            let id = try insertTrial(
                study, number: next, state: .running, now: now, worker: worker, retriedFrom: nil, heartbeat: heartbeat)
            try writeParams(id, params, study.space)
            return (id, next)
        }
        _ = id
        return try trial(study: study, number: Int(number))
    }

    /// Adds a waiting trial with fixed parameters (Optuna's `enqueue_trial`); returns its number.
    public func enqueue(study: StudyRecord, params: [String: ParameterValue]) throws -> Int {
        _ = try study.space.internalValues(params)
        return try conn.transaction {
            let next = try lockStudy(study)
            let id = try insertTrial(study, number: next, state: .waiting, now: nil, worker: nil, retriedFrom: nil, heartbeat: false)
            try writeParams(id, params, study.space)
            return Int(next)
        }
    }

    private func runningTrialID(_ study: StudyRecord, _ number: Int) throws -> Int64 {
        guard let r = try conn.query(
            "SELECT trial_id, state, fail_reason FROM e3d_trials WHERE study_id = $1 AND number = $2",
            [.int(study.id), .int(Int64(number))]).first
        else { throw StorageError("storage \(url): study '\(study.name)' has no trial \(number)") }
        if r.text(1) != "running" {
            let why = r.text(2).map { " (\($0))" } ?? ""
            throw StorageError("storage \(url): trial \(number) of study '\(study.name)' is \(r.text(1) ?? "?")\(why), not running")
        }
        return r.int(0)!
    }

    /// Stores an intermediate value (overwrites the step) and refreshes the heartbeat.
    public func report(study: StudyRecord, number: Int, step: Int, value: Double, bound: Double?) throws {
        try conn.transaction {
            let id = try runningTrialID(study, number)
            try conn.execute(
                """
                INSERT INTO e3d_trial_values (trial_id, step, value, bound) VALUES ($1, $2, $3, $4)
                ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value, bound = excluded.bound
                """, [.int(id), .int(Int64(step)), .double(value), bound.map { .double($0) } ?? .null])
        }
    }

    /// Refreshes the heartbeat of a running trial; false when it is no longer running.
    @discardableResult
    public func heartbeat(trialID: Int64) throws -> Bool {
        try conn.transaction {
            let now = try conn.now()
            let rows = try conn.query(
                "UPDATE e3d_trials SET heartbeat_at = $1 WHERE trial_id = $2 AND state = 'running' RETURNING trial_id",
                [.double(now), .int(trialID)])
            return !rows.isEmpty
        }
    }

    /// Finishes a running trial: `complete` with its value, `pruned` (value: the last intermediate value, as in
    /// Optuna) or `failed` with a reason. Throws if the trial is not running (e.g. failed for a lost heartbeat).
    public func finish(study: StudyRecord, number: Int, state: TrialState, value: Double?, reason: String?) throws {
        precondition(state.isFinished)
        try conn.transaction {
            let id = try runningTrialID(study, number)
            var v = value
            if state == .pruned && v == nil {
                v = try conn.query(
                    "SELECT value FROM e3d_trial_values WHERE trial_id = $1 ORDER BY step DESC LIMIT 1", [.int(id)]
                ).first?.double(0)
            }
            if state == .complete && !(v?.isFinite ?? false) && !(v?.isInfinite ?? false) {
                throw StorageError("storage \(url): trial \(number) of study '\(study.name)': a complete trial needs a value")
            }
            try conn.execute(
                "UPDATE e3d_trials SET state = $1, value = $2, completed_at = $3, fail_reason = $4 WHERE trial_id = $5",
                [
                    .text(state.rawValue), v.map { .double($0) } ?? .null, .double(try conn.now()),
                    reason.map { .text($0) } ?? .null, .int(id),
                ])
        }
    }

    public func setTrialAttribute(study: StudyRecord, number: Int, key: String, value: JSONValue) throws {
        try conn.transaction {
            guard let id = try conn.query(
                "SELECT trial_id FROM e3d_trials WHERE study_id = $1 AND number = $2", [.int(study.id), .int(Int64(number))]
            ).first?.int(0) else { throw StorageError("storage \(url): study '\(study.name)' has no trial \(number)") }
            try conn.execute(
                """
                INSERT INTO e3d_trial_attrs (trial_id, key, value) VALUES ($1, $2, $3)
                ON CONFLICT (trial_id, key) DO UPDATE SET value = excluded.value
                """, [.int(id), .text(key), .text(try JSONText.encode(value))])
        }
    }
}
