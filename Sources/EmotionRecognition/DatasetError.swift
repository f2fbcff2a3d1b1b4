import Foundation

/// Every failure of the data side (datasets, clip caches, images, folds, statistics) on user input or files.
/// Descriptions name the file or field and say what was expected.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    /// A file or folder that should exist does not.
    case notFound(path: String, expected: String)
    /// A file exists but its content is not what the format needs (e.g. an emotion file without a number).
    case invalidFile(path: String, message: String)
    /// A folder tree does not follow the dataset's layout.
    case invalidLayout(path: String, message: String)
    /// An argument outside its documented range.
    case invalidArgument(String)
    /// Reading or writing failed at the operating-system level.
    case io(path: String, message: String)

    public var description: String {
        switch self {
        case let .notFound(path, expected): "\(path): not found (expected \(expected))"
        case let .invalidFile(path, message): "\(path): \(message)"
        case let .invalidLayout(path, message): "\(path): \(message)"
        case let .invalidArgument(message): "invalid argument: \(message)"
        case let .io(path, message): "\(path): \(message)"
        }
    }
}

/// Writes `data` to `path` through a temporary file beside it and a rename, so readers never see a partial file.
func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let temporary = url.deletingLastPathComponent()
        .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp").path
    do {
        try data.write(to: URL(fileURLWithPath: temporary))
    } catch {
        throw DatasetError.io(path: path, message: "cannot write (\(error.localizedDescription)); does the folder exist and is it writable?")
    }
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(atPath: temporary)
        throw DatasetError.io(path: path, message: "cannot replace the file: \(reason)")
    }
}
