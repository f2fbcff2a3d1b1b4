import Foundation
import Testing
@testable import EmotionRecognition
import Vision

@Suite struct PlotTests {
    /// Where to keep the PNGs: E3D_PLOT_DIR to look at them; otherwise a temporary folder, removed afterwards.
    static let keptFolder = ProcessInfo.processInfo.environment["E3D_PLOT_DIR"]

    static func inkPixels(_ c: Canvas) -> Int {
        (0..<(c.width * c.height)).filter { i in (0..<c.channels).contains { c.samples[i * c.channels + $0] < 0.5 } }.count
    }

    @Test func textUsesTheBitmapFont() {
        var c = Canvas(width: 40, height: 20, channels: 1, background: .white)
        c.drawText("H1", x: 1, y: 1, scale: 2)
        // 'H' has 17 cells on, '1' has 10: every cell is a 2×2 block
        #expect(Self.inkPixels(c) == (17 + 10) * 4)
        #expect(Canvas.textWidth("H1", scale: 2) == 22)
        #expect(BitmapFont.glyphs.count >= 98 && BitmapFont.glyphs.values.allSatisfy { $0.count == 7 || $0.count == 8 })
        var v = Canvas(width: 20, height: 40, channels: 1, background: .white)
        v.drawText("H1", x: 2, y: 30, scale: 2, vertical: true)
        #expect(Self.inkPixels(v) == (17 + 10) * 4)
    }

    @Test func shapesAreAntiAliasedAndClipped() {
        var c = Canvas(width: 20, height: 20, channels: 1, background: .white)
        c.fillEllipse(center: Point(10, 10), radii: Point(5, 5), color: .black)
        #expect(c.samples[10 * 20 + 10] < 0.01 && c.samples[0] == 1)
        let edge = c.samples.filter { $0 > 0.05 && $0 < 0.95 }.count
        #expect(edge > 10 && edge < 60)  // a ring of partly covered pixels
        let area = c.samples.reduce(0) { $0 + (1 - $1) }
        #expect(abs(area - Float.pi * 25) < 1.5)
        c.stroke([Point(-50, -50), Point(70, 70)], width: 3, color: .black)  // far outside: clipped, no trap
        c.fillPolygon([Point(0, 0), Point(4, 0), Point(0, 4)], color: .black)
        #expect(c.samples[0] < 0.01)
    }

    @Test func plotsRenderAndEncode() throws {
        let folder = Self.keptFolder ?? temporaryFolder("plots")
        defer { if Self.keptFolder == nil { try? FileManager.default.removeItem(atPath: folder) } }
        let classes = SyntheticExpressionSet.ckPlusClasses
        var labels = [Int](), predictions = [Int]()
        for (i, _) in classes.enumerated() {
            for k in 0..<(10 + 3 * i) { labels.append(i); predictions.append(k % 7 == 0 ? (i + 1) % 7 : i) }
        }
        let matrix = try ConfusionMatrix(labels: labels, predictions: predictions, classNames: classes)
        let heat = Plot.confusionMatrix(matrix, title: "LOSO, synthetic")
        let bars = Plot.foldAccuracies([("c1", [Double](repeating: 100, count: 10)),
                                        ("c2", [93.9, 100, 84.8, 78.7, 87.8, 93.9, 93.9, 96.8, 87.5, 90])],
                                       title: "CK+ 10-fold (paper, Table 4)")
        let curves = Plot.trainingCurves(loss: [("train", (1...30).map { 2 * exp(-Double($0) / 8) + 0.1 }),
                                                ("validation", (1...30).map { 2 * exp(-Double($0) / 10) + 0.3 })],
                                         accuracy: [("train", (1...30).map { 1 - 0.85 * exp(-Double($0) / 6) }),
                                                    ("validation", (1...30).map { 0.9 - 0.75 * exp(-Double($0) / 8) })])
        var rng = SplitMix64(seed: 1)
        let points = (0..<120).map { i in (x: Double(i), y: 0.9 + 0.07 * (1 - exp(-Double(i) / 40)) * rng.uniform(0.6...1)) }
        let scatter = Plot.scatter([("trials", points)], title: "Search", xLabel: "trial", yLabel: "LOSO accuracy")
        for (name, canvas) in [("confusion", heat), ("folds", bars), ("curves", curves), ("scatter", scatter)] {
            #expect(Self.inkPixels(canvas) > 2000, "\(name) is nearly blank")
            let path = "\(folder)/\(name).png"
            try canvas.writePNG(to: path)
            let back = try FrameSource(path: path).decode(color: true)
            #expect(back.rgb.first?.width == canvas.width && back.rgb.first?.height == canvas.height)
        }
        // a perfect row is dark, an empty cell white: sample the top-left cell and its right neighbour
        let perfect = try ConfusionMatrix(labels: [0, 1], predictions: [0, 1], classNames: ["a", "b"])
        let small = Plot.confusionMatrix(perfect)
        let dark = small.rgbImage().gray(), cellY = 70 + 10
        let left = 40 + Canvas.textWidth("a") + 16  // the layout of `Plot.confusionMatrix`: cells of 76 pixels
        #expect(dark[left + 5, cellY] < 80 && dark[left + 76 + 5, cellY] > 240)
    }

    @Test func degenerateInputsDoNotTrap() {
        _ = Plot.foldAccuracies([("a", [.nan, 0.5, .infinity]), ("b", [])])
        _ = Plot.foldAccuracies([])
        _ = Plot.trainingCurves(loss: [("x", [.nan])], accuracy: [])
        _ = Plot.scatter([("p", [(x: .nan, y: 1), (x: 2, y: 2)])])
        _ = Plot.confusionMatrix(ConfusionMatrix(classNames: []))
        var c = Canvas(width: 10, height: 10)
        c.drawText("far away", x: 500, y: -500)
        c.drawText("vertical", x: -50, y: 900, vertical: true)
    }

    @Test func niceTicks() {
        #expect(Plot.niceTicks(0, 1, count: 6) == [0, 0.2, 0.4, 0.6, 0.8, 1])
        #expect(Plot.niceTicks(70, 100, count: 6) == [70, 80, 90, 100])
        #expect(Plot.niceTicks(1, 30, count: 6) == [0, 10, 20, 30])
        #expect(Plot.niceTicks(0.913, 0.968, count: 6) == [0.9, 0.92, 0.94, 0.96, 0.98])
        #expect(Plot.niceTicks(-2.5, 2.5, count: 5) == [-4, -2, 0, 2, 4])
    }
}
