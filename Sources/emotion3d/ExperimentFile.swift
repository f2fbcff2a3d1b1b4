import Foundation

/// `--experiment FILE`: options from a JSON object or a flat YAML mapping instead of a long flag list.
///
/// Each key becomes a flag (`learningRate` or `learning-rate` → `--learning-rate`): `true` adds the
/// flag, `false` leaves it out, numbers and strings become values, arrays become comma-separated
/// values. A `command` key names the subcommand when the command line does not. Flags given on the
/// command line come after the file's, so they win.
enum ExperimentFile {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func expand(_ arguments: [String]) throws -> [String] {
        guard let index = arguments.firstIndex(of: "--experiment") else { return arguments }
        guard index + 1 < arguments.count else { throw Failure(description: "--experiment needs a file") }
        let path = arguments[index + 1]
        var rest = arguments
        rest.removeSubrange(index...(index + 1))
        let settings = try read(path)
        var expanded: [String] = []
        var command: [String] = []
        if let name = settings["command"] {
            guard case let .string(value) = name else { throw Failure(description: "\(path): 'command' must be a string") }
            if rest.first.map({ $0.hasPrefix("-") }) ?? true { command = value.split(separator: " ").map(String.init) }
        }
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) where key != "command" {
            let flag = "--" + kebab(key)
            switch value {
            case let .flag(on): if on { expanded.append(flag) }
            case let .string(text): expanded += [flag, text]
            case let .list(items): expanded += [flag, items.joined(separator: ",")]
            }
        }
        // The subcommand first, then the file's options, then the command line's (which win).
        let leadingCommand = rest.prefix { !$0.hasPrefix("-") }
        return command + Array(leadingCommand) + expanded + Array(rest.dropFirst(leadingCommand.count))
    }

    enum Setting { case flag(Bool), string(String), list([String]) }

    static func read(_ path: String) throws -> [String: Setting] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "\(path): cannot read the experiment file") }
        let text = String(decoding: data, as: UTF8.self)
        if text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw Failure(description: "\(path): not a JSON object")
            }
            return try object.mapValues { try setting($0, key: "", path: path) }
        }
        var settings: [String: Setting] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            guard !line.hasPrefix(" "), !line.hasPrefix("\t"), let colon = line.firstIndex(of: ":") else {
                throw Failure(description: "\(path):\(number + 1): expected 'key: value' (a flat YAML mapping), got '\(line)'")
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("[") && value.hasSuffix("]") {
                settings[key] = .list(value.dropFirst().dropLast().split(separator: ",").map { unquote($0.trimmingCharacters(in: .whitespaces)) })
                continue
            }
            value = unquote(value)
            settings[key] = value == "true" ? .flag(true) : value == "false" ? .flag(false) : .string(value)
        }
        return settings
    }

    private static func setting(_ value: Any, key: String, path: String) throws -> Setting {
        if let number = value as? NSNumber, String(cString: number.objCType) == "c" { return .flag(number.boolValue) }
        if let number = value as? NSNumber { return .string(number.stringValue) }
        if let text = value as? String { return .string(text) }
        if let items = value as? [Any] {
            return .list(try items.map {
                guard case let .string(text) = try setting($0, key: key, path: path) else { throw Failure(description: "\(path): lists hold numbers or strings") }
                return text
            })
        }
        throw Failure(description: "\(path): values must be strings, numbers, booleans or lists")
    }

    private static func unquote(_ text: String) -> String {
        if text.count >= 2, let first = text.first, first == text.last, first == "\"" || first == "'" { return String(text.dropFirst().dropLast()) }
        return text
    }

    private static func kebab(_ key: String) -> String {
        var out = ""
        for character in key {
            if character.isUppercase { out += "-" + character.lowercased() } else { out.append(character == "_" ? "-" : character) }
        }
        return out
    }
}
