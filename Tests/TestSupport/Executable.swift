import Foundation

/// Runs the `emotion3d` executable built beside the test bundle, as a user would.
public enum Emotion3DCommand {
    /// `.build/<triple>/<configuration>/emotion3d`, next to the running test bundle.
    public static var path: String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let beside = directory.appendingPathComponent("emotion3d").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return Fixtures.root.appendingPathComponent(".build/debug/emotion3d").path
    }

    public struct Result {
        public var status: Int32
        public var output: String
        public var error: String
    }

    /// Runs `emotion3d arguments…` to completion.
    public static func run(_ arguments: [String], workingDirectory: URL? = nil) throws -> Result {
        let process = try start(arguments, workingDirectory: workingDirectory)
        let output = String(decoding: (process.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let error = String(decoding: (process.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: output, error: error)
    }

    /// Starts `emotion3d arguments…` and returns the running process (stdout and stderr piped).
    public static func start(_ arguments: [String], workingDirectory: URL? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        return process
    }
}
