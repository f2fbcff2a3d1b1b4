/// An HDF5 operation failed. Every case names the file and, where it applies, the object.
public enum HDF5Error: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    case notHDF5(String)
    case cannotOpen(String, String)
    case missing(file: String, object: String)
    case wrongType(file: String, object: String, expected: String, found: String)
    case failed(file: String, operation: String)

    public var description: String {
        switch self {
        case let .fileNotFound(path): "\(path): no such file"
        case let .notHDF5(path): "\(path): not an HDF5 file (or truncated/corrupt)"
        case let .cannotOpen(path, reason): "\(path): cannot open: \(reason)"
        case let .missing(file, object): "\(file): no object '\(object)'"
        case let .wrongType(file, object, expected, found): "\(file): '\(object)' is \(found), expected \(expected)"
        case let .failed(file, operation): "\(file): HDF5 failed to \(operation)"
        }
    }
}
