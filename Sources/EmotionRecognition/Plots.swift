import Foundation

/// Report figures as PNG-ready canvases: confusion matrices, per-fold accuracy bars, training curves and
/// scatter plots. Everything is drawn by `Canvas` (anti-aliased lines, rectangles) with the built-in 5×7 font.
public enum Plot {
    /// Series colours (colour-blind-friendly order: blue, orange, green, red, purple, brown, pink, grey).
    public static let palette: [Color] = [
        Color(0.12, 0.47, 0.71), Color(1.0, 0.50, 0.05), Color(0.17, 0.63, 0.17), Color(0.84, 0.15, 0.16),
        Color(0.58, 0.40, 0.74), Color(0.55, 0.34, 0.29), Color(0.89, 0.47, 0.76), Color(0.5, 0.5, 0.5),
    ]

    /// A heat map of `matrix`: cells coloured by the row-normalised share (white → dark blue), each showing its
    /// percentage and count; rows are true classes, columns predictions. The title line adds the accuracy.
    public static func confusionMatrix(_ matrix: ConfusionMatrix, title: String = "Confusion matrix") -> Canvas {
        let n = max(1, matrix.classNames.count)
        let labelWidth = Canvas.textWidth(matrix.classNames.max { $0.count < $1.count } ?? "", scale: 2)
        let cell = max(44, min(76, 560 / n))
        let left = 40 + labelWidth + 16, top = 70
        let gridSize = cell * n
        let width = left + gridSize + 30, height = top + gridSize + 24 + labelWidth + 30
        var canvas = Canvas(width: max(width, 360), height: height, background: .white)
        canvas.drawText(title + String(format: "  (accuracy %.2f %%, %d clips)", 100 * matrix.accuracy, matrix.total), x: 12, y: 12, scale: 2)
        canvas.drawText("predicted", x: left + gridSize / 2 - Canvas.textWidth("predicted") / 2, y: 40, scale: 2, color: Color.gray(0.3))
        canvas.drawText("true", x: 10, y: top + gridSize / 2 + Canvas.textWidth("true") / 2, scale: 2, color: Color.gray(0.3), vertical: true)
        let dark = Color(0.03, 0.19, 0.42)
        let shares = matrix.rowNormalized
        for i in 0..<matrix.classNames.count {
            for j in 0..<matrix.classNames.count {
                let x0 = Float(left + j * cell), y0 = Float(top + i * cell)
                let v = Float(shares[i][j])
                canvas.fillRect(x0: x0, y0: y0, x1: x0 + Float(cell), y1: y0 + Float(cell), color: Color.white.mixed(with: dark, v))
                let ink: Color = v > 0.5 ? .white : .black
                let percent = String(format: "%.0f%%", 100 * shares[i][j])
                canvas.drawCenteredText(percent, centerX: Int(x0) + cell / 2, y: Int(y0) + cell / 2 - 10, scale: 2, color: ink)
                let countScale = cell >= 60 ? 2 : 1
                canvas.drawCenteredText("\(matrix.counts[i][j])", centerX: Int(x0) + cell / 2, y: Int(y0) + cell / 2 + 8, scale: countScale,
                                        color: ink)
            }
            canvas.drawText(matrix.classNames[i], x: left - 10 - Canvas.textWidth(matrix.classNames[i]), y: top + i * cell + cell / 2 - 7)
            // column labels below the grid, reading upwards
            canvas.drawText(matrix.classNames[i], x: left + i * cell + cell / 2 - 7, y: top + gridSize + 10 + Canvas.textWidth(matrix.classNames[i]),
                            vertical: true)
        }
        // grid lines
        for k in 0...n {
            let p = Float(k * cell)
            canvas.fillRect(x0: Float(left) + p - 0.5, y0: Float(top), x1: Float(left) + p + 0.5, y1: Float(top + gridSize), color: Color.gray(0.6))
            canvas.fillRect(x0: Float(left), y0: Float(top) + p - 0.5, x1: Float(left + gridSize), y1: Float(top) + p + 0.5, color: Color.gray(0.6))
        }
        return canvas
    }

    /// Grouped bars of per-fold accuracies (fractions 0...1 or percentages, shown as %) for one or more series
    /// measured on the same folds, e.g. the paper's Tables 4–5; each series' mean is a dashed line and its
    /// mean ± sd is in the legend.
    public static func foldAccuracies(_ series: [(name: String, values: [Double])], title: String = "Accuracy per fold") -> Canvas {
        let percent = series.flatMap(\.values).contains { $0.isFinite && $0 > 1.0000001 } ? 1.0 : 100.0
        // a missing (non-finite) accuracy draws no bar
        let scaled = series.map { ($0.name, $0.values.map { $0.isFinite ? $0 * percent : .nan }) }
        let folds = scaled.map(\.1.count).max() ?? 0
        let lowest = min(100, scaled.flatMap(\.1).filter(\.isFinite).min() ?? 0)
        let yMin = max(0, (lowest - 5) / 10).rounded(.down) * 10
        // bars fill the plot up to 100 %: the legend goes below it
        var frame = PlotFrame(width: 760, height: 480 + 20 * scaled.count, title: title, xRange: 0.5...(Double(max(folds, 1)) + 0.5),
                              yRange: yMin...100, xLabel: "fold", yLabel: "accuracy (%)",
                              xTicks: (1...max(folds, 1)).map(Double.init), yTicks: niceTicks(yMin, 100, count: 6),
                              reservedBelow: 20 * scaled.count)
        let groupWidth = 0.8, barWidth = groupWidth / Double(max(1, scaled.count))
        for (s, (name, values)) in scaled.enumerated() {
            let color = palette[s % palette.count]
            for (f, v) in values.enumerated() where v.isFinite {
                let x0 = Double(f + 1) - groupWidth / 2 + Double(s) * barWidth
                let a = frame.map(x0 + 0.05 * barWidth, max(v, yMin)), b = frame.map(x0 + 0.95 * barWidth, yMin)
                frame.canvas.fillRect(x0: a.x, y0: a.y, x1: b.x, y1: b.y, color: color)
                frame.occupy(rectangle: (a, b))
            }
            if let summary = try? Summary(values.filter(\.isFinite)) {
                let y = frame.map(0.5, summary.mean).y
                var x = Float(frame.left)
                while x < Float(frame.right) {  // dashed
                    frame.canvas.stroke([Point(x, y), Point(min(x + 8, Float(frame.right)), y)], width: 1.5, color: color)
                    x += 14
                }
                frame.legend.append((String(format: "%@: %.2f ± %.2f %%", name, summary.mean, summary.standardDeviation), color))
            }
        }
        frame.drawLegend(below: true)
        return frame.canvas
    }

    /// Training curves: loss (left panel) and accuracy (right panel) per epoch, one line per series
    /// (e.g. "train" and "validation"). Epochs count from 1.
    public static func trainingCurves(loss: [(name: String, values: [Double])], accuracy: [(name: String, values: [Double])],
                                      title: String = "Training") -> Canvas {
        var canvas = Canvas(width: 1000, height: 440, background: .white)
        canvas.drawText(title, x: 12, y: 10, scale: 2)
        for (panel, (series, label)) in [(loss, "loss"), (accuracy, "accuracy")].enumerated() {
            let values = series.flatMap(\.values).filter(\.isFinite)
            let epochs = max(2, series.map(\.values.count).max() ?? 2)
            var lo = values.min() ?? 0, hi = values.max() ?? 1
            if label == "accuracy" && hi <= 1 && lo >= 0 { lo = 0; hi = 1 }
            if hi - lo < 1e-9 { hi = lo + 1 }
            let yTicks = niceTicks(lo, hi, count: 6)
            var frame = PlotFrame(width: 500, height: 410, title: "", xRange: 1...Double(epochs),
                                  yRange: min(lo, yTicks.first!)...max(hi, yTicks.last!), xLabel: "epoch", yLabel: label,
                                  xTicks: niceTicks(1, Double(epochs), count: 6).filter { $0 >= 1 }, yTicks: yTicks)
            for (s, (name, v)) in series.enumerated() {
                let color = palette[s % palette.count]
                let points = v.enumerated().filter { $0.element.isFinite }.map { frame.map(Double($0.offset + 1), $0.element) }
                if points.count >= 2 { frame.canvas.stroke(points, width: 2, color: color) }
                frame.occupied += points
                for p in points where points.count < 40 { frame.canvas.fillEllipse(center: p, radii: Point(2.5, 2.5), color: color) }
                frame.legend.append((name, color))
            }
            frame.drawLegend()
            canvas.paste(frame.canvas, x: panel * 500, y: 30)
        }
        return canvas
    }

    /// A scatter plot of one or more point series (e.g. trials' hyper-parameter value against CV accuracy).
    public static func scatter(_ series: [(name: String, points: [(x: Double, y: Double)])], title: String = "",
                               xLabel: String = "x", yLabel: String = "y") -> Canvas {
        let xs = series.flatMap { $0.points.map(\.x) }.filter(\.isFinite), ys = series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
        var (x0, x1) = (xs.min() ?? 0, xs.max() ?? 1), (y0, y1) = (ys.min() ?? 0, ys.max() ?? 1)
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
        let xTicks = niceTicks(x0, x1, count: 7), yTicks = niceTicks(y0, y1, count: 6)
        var frame = PlotFrame(width: 760, height: 520, title: title, xRange: min(x0, xTicks.first!)...max(x1, xTicks.last!),
                              yRange: min(y0, yTicks.first!)...max(y1, yTicks.last!), xLabel: xLabel, yLabel: yLabel,
                              xTicks: xTicks, yTicks: yTicks)
        for (s, (name, points)) in series.enumerated() {
            let color = palette[s % palette.count]
            for point in points where point.x.isFinite && point.y.isFinite {
                let p = frame.map(point.x, point.y)
                frame.occupied.append(p)
                frame.canvas.stroke([p - Point(4, 4), p + Point(4, 4)], width: 1.6, color: color)
                frame.canvas.stroke([p + Point(-4, 4), p + Point(4, -4)], width: 1.6, color: color)
            }
            if !name.isEmpty { frame.legend.append((name, color)) }
        }
        frame.drawLegend()
        return frame.canvas
    }

    /// Horizontal bars, one per label, largest first (parameter importances).
    public static func bars(_ items: [(label: String, value: Double)], title: String = "", valueLabel: String = "") -> Canvas {
        let sorted = items.filter { $0.value.isFinite }.sorted { $0.value > $1.value }
        let labelWidth = (sorted.map { Canvas.textWidth($0.label) }.max() ?? 0) + 16
        let rowHeight = 26, top = 40, width = 760
        var canvas = Canvas(width: width, height: top + rowHeight * max(sorted.count, 1) + 40)
        canvas.drawText(title, x: 10, y: 10)
        let largest = max(sorted.first?.value ?? 1, 1e-12)
        let barSpace = Float(width - labelWidth - 90)
        for (row, item) in sorted.enumerated() {
            let y = top + row * rowHeight
            canvas.drawText(item.label, x: 8, y: y + 6)
            let length = barSpace * Float(item.value / largest)
            canvas.fillRect(x0: Float(labelWidth), y0: Float(y + 3), x1: Float(labelWidth) + max(length, 1), y1: Float(y + rowHeight - 3), color: palette[0])
            canvas.drawText(String(format: "%.3f", item.value), x: labelWidth + Int(length) + 6, y: y + 6)
        }
        if !valueLabel.isEmpty { canvas.drawText(valueLabel, x: labelWidth, y: top + rowHeight * sorted.count + 12) }
        return canvas
    }

    /// About `count` round tick values covering lo...hi (steps of 1, 2 or 5 × 10^k).
    public static func niceTicks(_ lo: Double, _ hi: Double, count: Int) -> [Double] {
        guard hi > lo, count >= 2 else { return [lo] }
        let raw = (hi - lo) / Double(count - 1)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = (lo / step).rounded(.down)
        // round to the step's decimals so 3 × 0.2 prints and compares as 0.6
        let decimals = pow(10, max(0, 2 - (log10(step)).rounded(.down)))
        var ticks = [Double]()
        var i = 0.0
        while (first + i) * step <= hi + step * 0.999 && ticks.count < 50 {
            ticks.append(((first + i) * step * decimals).rounded() / decimals)
            i += 1
        }
        return ticks
    }

    static func tickLabel(_ v: Double, step: Double) -> String {
        if step >= 1 && v == v.rounded() { return String(format: "%.0f", v) }
        let decimals = max(0, min(6, Int((-log10(step)).rounded(.up))))
        return String(format: "%.\(decimals)f", v)
    }
}

extension Canvas {
    /// Copies `other` (same channel count) with its top-left corner at (x, y).
    public mutating func paste(_ other: Canvas, x: Int, y: Int) {
        precondition(other.channels == channels, "pasting a \(other.channels)-channel canvas into a \(channels)-channel one")
        for row in 0..<other.height where (0..<height).contains(y + row) {
            for column in 0..<other.width where (0..<width).contains(x + column) {
                for c in 0..<channels {
                    samples[((y + row) * width + x + column) * channels + c] = other.samples[(row * other.width + column) * channels + c]
                }
            }
        }
    }
}

/// Axes with ticks, grid, labels and a legend, mapping data coordinates to pixels.
struct PlotFrame {
    var canvas: Canvas
    let left: Int, right: Int, top: Int, bottom: Int
    let xRange: ClosedRange<Double>, yRange: ClosedRange<Double>
    var legend: [(String, Color)] = []
    /// Pixels covered by data, so the legend goes in the emptiest corner.
    var occupied: [Point] = []

    mutating func occupy(rectangle: (Point, Point)) {
        let (a, b) = rectangle
        for fy in stride(from: Float(0), through: 1, by: 0.1) {
            occupied.append(Point((a.x + b.x) / 2, a.y + (b.y - a.y) * fy))
        }
    }

    init(width: Int, height: Int, title: String, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>,
         xLabel: String, yLabel: String, xTicks: [Double], yTicks: [Double], reservedBelow: Int = 0) {
        canvas = Canvas(width: width, height: height, background: .white)
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1, xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1
        let yLabels = yTicks.map { Plot.tickLabel($0, step: yStep) }
        left = 40 + (yLabels.map { Canvas.textWidth($0) }.max() ?? 0)
        right = width - 20
        top = title.isEmpty ? 20 : 46
        bottom = height - 56 - reservedBelow
        self.xRange = xRange
        self.yRange = yRange
        if !title.isEmpty { canvas.drawText(title, x: 12, y: 12) }
        let axis = Color.gray(0.25), grid = Color.gray(0.88)
        for (t, label) in zip(yTicks, yLabels) where yRange.contains(t) {
            let y = map(xRange.lowerBound, t).y
            canvas.fillRect(x0: Float(left), y0: y - 0.5, x1: Float(right), y1: y + 0.5, color: grid)
            canvas.drawText(label, x: left - 8 - Canvas.textWidth(label), y: Int(y) - 7, color: axis)
        }
        for t in xTicks where xRange.contains(t) {
            let x = map(t, yRange.lowerBound).x
            canvas.fillRect(x0: x - 0.5, y0: Float(bottom), x1: x + 0.5, y1: Float(bottom + 6), color: axis)
            canvas.drawCenteredText(Plot.tickLabel(t, step: xStep), centerX: Int(x), y: bottom + 10, color: axis)
        }
        canvas.fillRect(x0: Float(left) - 1, y0: Float(top), x1: Float(left), y1: Float(bottom), color: axis)
        canvas.fillRect(x0: Float(left) - 1, y0: Float(bottom), x1: Float(right), y1: Float(bottom) + 1, color: axis)
        canvas.drawCenteredText(xLabel, centerX: (left + right) / 2, y: bottom + 34, color: axis)
        canvas.drawText(yLabel, x: 8, y: (top + bottom) / 2 + Canvas.textWidth(yLabel) / 2, color: axis, vertical: true)
    }

    func map(_ x: Double, _ y: Double) -> Point {
        let fx = (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound)
        let fy = (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound)
        return Point(Float(Double(left) + fx * Double(right - left)), Float(Double(bottom) - fy * Double(bottom - top)))
    }

    /// The legend on a white box, in the corner of the plot area that covers the fewest data points
    /// (lower right first on ties).
    mutating func drawLegend(below: Bool = false) {
        guard !legend.isEmpty else { return }
        if below {  // one line per entry under the x-axis label
            for (k, (name, color)) in legend.enumerated() {
                let y = bottom + 58 + k * 20
                canvas.fillRect(x0: Float(left + 6), y0: Float(y + 2), x1: Float(left + 22), y1: Float(y + 12), color: color)
                canvas.drawText(name, x: left + 28, y: y)
            }
            return
        }
        let w = (legend.map { Canvas.textWidth($0.0) }.max() ?? 0) + 34, h = legend.count * 20 + 8
        let corners = [(right - w - 8, bottom - h - 8), (right - w - 8, top + 8), (left + 8, top + 8), (left + 8, bottom - h - 8)]
        let data = occupied
        func covered(_ c: (Int, Int)) -> Int {
            data.filter { Int($0.x) >= c.0 - 4 && Int($0.x) <= c.0 + w + 4 && Int($0.y) >= c.1 - 4 && Int($0.y) <= c.1 + h + 4 }.count
        }
        let (x0, y0) = corners.min { covered($0) < covered($1) }!
        canvas.fillRect(x0: Float(x0), y0: Float(y0), x1: Float(x0 + w), y1: Float(y0 + h), color: Color.gray(0.7))
        canvas.fillRect(x0: Float(x0 + 1), y0: Float(y0 + 1), x1: Float(x0 + w - 1), y1: Float(y0 + h - 1), color: .white)
        for (k, (name, color)) in legend.enumerated() {
            let y = y0 + 6 + k * 20
            canvas.fillRect(x0: Float(x0 + 6), y0: Float(y + 2), x1: Float(x0 + 22), y1: Float(y + 12), color: color)
            canvas.drawText(name, x: x0 + 28, y: y)
        }
    }
}
