extension Graph {
    /// One line per node: `%7 = conv3d[kernel=3x3x3 ...](%0, %5, %6) : [2, 64, 10, 112, 112]  # features.0`.
    public func textDump() -> String {
        var lines: [String] = ["graph (\(mode.rawValue)), \(nodes.count) nodes"]
        for (index, node) in nodes.enumerated() {
            let inputs = node.inputs.map(\.description).joined(separator: ", ")
            let shapes = node.outputShapes.map(\.description).joined(separator: ", ")
            lines.append("%\(index) = \(node.op.signature)(\(inputs)) : \(shapes)  # \(node.scope)")
        }
        for update in stateUpdates {
            lines.append("update \(update.target) <- \(update.value)")
        }
        return lines.joined(separator: "\n")
    }

    /// The graph in Graphviz DOT: one box per node labelled with its operator and shape.
    public func dotDump() -> String {
        var lines = ["digraph emotion3d {", "  node [shape=box, fontname=\"monospace\"];"]
        for (index, node) in nodes.enumerated() {
            let shapes = node.outputShapes.map(\.description).joined(separator: ", ")
            let label = "\(node.op.signature)\\n\(shapes)\\n\(node.scope)".map { $0 == "\"" ? "'" : String($0) }.joined()
            let style = node.op is Leaf ? ", style=filled, fillcolor=lightgrey" : ""
            lines.append("  n\(index) [label=\"\(label)\"\(style)];")
            for input in node.inputs { lines.append("  n\(input.node) -> n\(index);") }
        }
        for update in stateUpdates {
            lines.append("  n\(update.value.node) -> n\(update.target.node) [style=dashed, label=\"update\"];")
        }
        lines.append("}")
        return lines.joined(separator: "\n")
    }
}
