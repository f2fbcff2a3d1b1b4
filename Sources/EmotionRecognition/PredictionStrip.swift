import Foundation
import Vision

/// An image a person can look at: one thumbnail per window of a prediction — the window's last
/// frame with the tracked face box — labelled with the window's class and probability.
public enum PredictionStrip {
    public struct Window {
        public var frame: GrayImage
        /// The face box in `frame`'s pixels (nil: no face found).
        public var box: Rect?
        public var caption: String
        public init(frame: GrayImage, box: Rect?, caption: String) {
            self.frame = frame
            self.box = box
            self.caption = caption
        }
    }

    /// Thumbnails `height` pixels tall, side by side, with a title line above.
    public static func render(_ windows: [Window], title: String, height: Int = 160) -> Canvas {
        let scale = windows.map { Double(height) / Double(max($0.frame.height, 1)) }
        let widths = zip(windows, scale).map { Int((Double($0.frame.width) * $1).rounded()) }
        let gap = 8, top = 30, bottom = 26
        var canvas = Canvas(width: max(widths.reduce(0, +) + gap * (windows.count + 1), Canvas.textWidth(title) + 2 * gap), height: top + height + bottom)
        canvas.drawText(title, x: gap, y: 8)
        var x = gap
        for (index, window) in windows.enumerated() {
            let thumb = window.frame.resized(width: widths[index], height: height)
            for row in 0..<thumb.height {
                for column in 0..<thumb.width {
                    let value = Float(thumb.pixels[row * thumb.width + column]) / 255
                    let offset = ((top + row) * canvas.width + x + column) * canvas.channels
                    for channel in 0..<canvas.channels { canvas.samples[offset + channel] = value }
                }
            }
            if let box = window.box {
                let s = Float(scale[index])
                let x0 = Float(x) + Float(box.x) * s, y0 = Float(top) + Float(box.y) * s
                let x1 = x0 + Float(box.width) * s, y1 = y0 + Float(box.height) * s
                canvas.stroke([Point(x0, y0), Point(x1, y0), Point(x1, y1), Point(x0, y1), Point(x0, y0)], width: 2, color: Color(0.1, 0.8, 0.2))
            }
            canvas.drawText(window.caption, x: x, y: top + height + 6, color: window.box == nil ? Color(0.7, 0.1, 0.1) : .black)
            x += widths[index] + gap
        }
        return canvas
    }
}
