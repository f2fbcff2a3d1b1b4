import Foundation

/// A minimal XML element tree: enough for OpenCV's FileStorage cascade files (elements, text, comments,
/// `<?xml?>` declarations; attributes are skipped). Not a general XML parser.
final class XMLNode {
    let name: String
    var children: [XMLNode] = []
    var text: String = ""

    init(name: String) { self.name = name }

    func child(_ n: String) -> XMLNode? { children.first { $0.name == n } }
    var trimmed: String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
    /// Whitespace-separated numbers of the element's text.
    var numbers: [Double] {
        // split on bytes: "\r\n" is one Character in Swift
        text.utf8.split(whereSeparator: { $0 == 32 || $0 == 10 || $0 == 9 || $0 == 13 })
            .compactMap { Double(String(decoding: $0, as: UTF8.self)) }
    }

    enum ParseError: Error { case malformed(String) }

    static func parse(_ bytes: [UInt8]) throws -> XMLNode {
        let root = XMLNode(name: "#document")
        var stack: [XMLNode] = [root]
        var i = 0
        let n = bytes.count
        func starts(_ s: String) -> Bool {
            let u = Array(s.utf8)
            return i + u.count <= n && Array(bytes[i..<(i + u.count)]) == u
        }
        func skip(past s: String) throws {
            let u = Array(s.utf8)
            while i + u.count <= n {
                if bytes[i] == u[0] && Array(bytes[i..<(i + u.count)]) == u { i += u.count; return }
                i += 1
            }
            throw ParseError.malformed("unterminated \(s)")
        }
        var textStart = 0
        while i < n {
            if bytes[i] != UInt8(ascii: "<") { i += 1; continue }
            if i > textStart, let top = stack.last {
                top.text += String(decoding: bytes[textStart..<i], as: UTF8.self)
            }
            if starts("<!--") { try skip(past: "-->") }
            else if starts("<?") { try skip(past: "?>") }
            else if starts("<!") { try skip(past: ">") }
            else if starts("</") {
                i += 2
                let s = i
                while i < n && bytes[i] != UInt8(ascii: ">") { i += 1 }
                let name = String(decoding: bytes[s..<i], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                guard stack.count > 1, stack.last!.name == name else { throw ParseError.malformed("unexpected </\(name)>") }
                stack.removeLast()
                i += 1
            } else {
                i += 1
                let s = i
                while i < n && !(bytes[i] == UInt8(ascii: ">") || bytes[i] == UInt8(ascii: "/") || bytes[i] == 32
                                  || bytes[i] == 10 || bytes[i] == 9 || bytes[i] == 13) { i += 1 }
                let node = XMLNode(name: String(decoding: bytes[s..<i], as: UTF8.self))
                while i < n && bytes[i] != UInt8(ascii: ">") { i += 1 }
                guard i < n else { throw ParseError.malformed("unterminated <\(node.name)") }
                stack.last!.children.append(node)
                if bytes[i - 1] != UInt8(ascii: "/") { stack.append(node) }
                i += 1
            }
            textStart = i
        }
        guard stack.count == 1 else { throw ParseError.malformed("unclosed <\(stack.last!.name)>") }
        return root
    }
}
