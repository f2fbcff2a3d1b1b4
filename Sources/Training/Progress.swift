import Foundation

/// Training progress on standard error: a bar redrawn in place on a terminal, plain log lines
/// otherwise (CI logs, files), nothing when quiet.
public final class ProgressReporter: @unchecked Sendable {
    public enum Mode: String, Sendable, Codable { case automatic, bar, lines, quiet }
    let mode: Mode
    private var lastDraw = Date.distantPast
    private let lock = NSLock()
    private var taskStart: Date?
    private var lastDecile = -1
    private var drawn = false

    public init(_ mode: Mode = .automatic) {
        self.mode = mode == .automatic ? (isatty(STDERR_FILENO) != 0 ? .bar : .lines) : mode
    }

    /// Per batch: redraws the bar at most ten times a second.
    func batch(epoch: Int, epochs: Int, done: Int, total: Int, loss: Double, accuracy: Double, clipsPerSecond: Double) {
        guard mode == .bar, Date().timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
        lastDraw = Date()
        let width = 24, filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let remaining = clipsPerSecond > 0 ? Double(total - done) / clipsPerSecond : 0
        let text = String(
            format: "\repoch %d/%d %@ %d/%d clips  loss %.4f  acc %5.1f%%  %.1f clips/s  ETA %@ ",
            epoch, epochs, bar, done, total, loss, accuracy * 100, clipsPerSecond, Self.duration(remaining))
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Per epoch: one line in every mode but quiet.
    func epoch(_ metrics: EpochMetrics, epochs: Int) {
        guard mode != .quiet else { return }
        var text = String(
            format: "epoch %d/%d  train loss %.4f acc %.1f%%", metrics.epoch, epochs, metrics.trainLoss, metrics.trainAccuracy * 100)
        if let loss = metrics.evaluationLoss, let accuracy = metrics.evaluationAccuracy {
            text += String(format: "  eval loss %.4f acc %.1f%%", loss, accuracy * 100)
        }
        text += String(format: "  %.1f s (%.1f clips/s)", metrics.seconds, metrics.clipsPerSecond)
        FileHandle.standardError.write(Data(((mode == .bar ? "\r\u{1B}[K" : "") + text + "\n").utf8))
    }

    /// Progress of any counted task (`preparing 12/63`): a bar on a terminal, a line every 10 %
    /// otherwise. Thread-safe; the clock starts at the first update.
    public func task(_ label: String, done: Int, total: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard mode != .quiet else { return }
        let begun = taskStart ?? Date()
        taskStart = begun
        let elapsed = Date().timeIntervalSince(begun)
        if mode == .bar {
            let width = 30, filled = total > 0 ? width * done / total : width
            let remaining = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
            let line = String(
                format: "\r%@ %@%@ %d/%d  %@ elapsed, ETA %@ ", label, String(repeating: "█", count: filled),
                String(repeating: "·", count: width - filled), done, total, Self.duration(elapsed), Self.duration(remaining))
            FileHandle.standardError.write(Data(line.utf8))
            drawn = true
        } else {
            let decile = total > 0 ? 10 * done / total : 10
            if decile > lastDecile {
                lastDecile = decile
                FileHandle.standardError.write(Data(String(format: "%@ %d/%d (%.0f s)\n", label, done, total, elapsed).utf8))
            }
        }
    }

    /// Ends a task's bar line (before other output).
    public func finishTask() {
        lock.lock()
        defer { lock.unlock() }
        if mode == .bar && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
        taskStart = nil
        lastDecile = -1
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600
            ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60) : String(format: "%d:%02d", total / 60, total % 60)
    }
}
