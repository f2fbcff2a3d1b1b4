import Foundation
import Vision

/// The facial actions the synthetic faces can perform, each with an intensity in 0...1 (loosely FACS action units).
public enum FaceAction: Int, CaseIterable, Sendable {
    case innerBrowRaise      // AU1
    case outerBrowRaise      // AU2
    case browLower           // AU4: brows down and drawn together
    case upperLidRaise       // AU5
    case lidTighten          // AU7
    case cheekRaise          // AU6
    case noseWrinkle         // AU9
    case upperLipRaise       // AU10
    case lipCornerPullLeft   // AU12, the subject's left (image right)
    case lipCornerPullRight  // AU12, the subject's right (image left)
    case lipCornerDepress    // AU15
    case lipStretch          // AU20
    case lipPress            // AU24
    case jawDrop             // AU26/27
    case blink               // AU45
}

/// Intensities of every `FaceAction` in one frame.
public struct FaceControls: Sendable, Equatable {
    public var values = [Float](repeating: 0, count: FaceAction.allCases.count)
    public init() {}
    public subscript(_ action: FaceAction) -> Float {
        get { values[action.rawValue] }
        set { values[action.rawValue] = newValue }
    }
}

/// Head position in one frame: offset (face units, a face is 2 units wide), in-plane roll (radians) and scale.
public struct HeadPose: Sendable, Equatable {
    public var offset = Point(0, 0)
    public var roll: Float = 0
    public var scale: Float = 1
    public init(offset: Point = Point(0, 0), roll: Float = 0, scale: Float = 1) {
        self.offset = offset; self.roll = roll; self.scale = scale
    }
}

/// Everything that makes one synthetic subject look like themselves: face shape, skin, hair, eyes, brows, nose,
/// mouth, the lighting of their recording, their background and camera noise. Lengths are in face units
/// (the head is about 2 units wide, origin between the eyes and the nose tip, y down).
public struct FaceIdentity: Sendable, Equatable {
    public var widthScale: Float, heightScale: Float, jawTaper: Float
    public var skin: Float, hair: Float, hairline: Float, hairVolume: Float, longHair: Bool
    public var eyeSpacing: Float, eyeY: Float, eyeWidth: Float, eyeOpening: Float, irisRadius: Float, iris: Float
    public var socketDepth: Float
    public var browGap: Float, browThickness: Float, browArch: Float, brow: Float
    public var noseTip: Float, noseWidth: Float
    public var mouthY: Float, mouthWidth: Float, upperLip: Float, lowerLip: Float, lipTone: Float
    /// Light direction: azimuth (radians, + from the image right) and elevation; ambient share of the light.
    public var lightAzimuth: Float, lightElevation: Float, ambient: Float
    public var background: Float, backgroundGradient: Point, clothing: Float
    /// Face size relative to the frame, and centre offset (fractions of the frame).
    public var framing: Float, framingOffset: Point
    /// Sensor noise, grey levels (standard deviation).
    public var noise: Float

    /// A random subject drawn from `rng`.
    public init(using rng: inout SplitMix64) {
        func u(_ a: Float, _ b: Float) -> Float { Float(rng.uniform(Double(a)...Double(b))) }
        widthScale = u(0.9, 1.06); heightScale = u(0.95, 1.07); jawTaper = u(0.58, 0.8)
        skin = u(0.5, 0.86); hair = u(0.06, 0.4); hairline = u(-0.95, -0.72); hairVolume = u(0.04, 0.16)
        longHair = rng.uniform(0...1) < 0.4
        eyeSpacing = u(0.38, 0.45); eyeY = u(-0.12, -0.04); eyeWidth = u(0.17, 0.21); eyeOpening = u(0.07, 0.09)
        irisRadius = u(0.065, 0.078); iris = u(0.1, 0.32); socketDepth = u(0.32, 0.5)
        browGap = u(0.19, 0.25); browThickness = u(0.055, 0.085); browArch = u(0.02, 0.06); brow = u(0.06, 0.3)
        noseTip = u(0.33, 0.42); noseWidth = u(0.14, 0.19)
        mouthY = u(0.7, 0.8); mouthWidth = u(0.29, 0.36); upperLip = u(0.045, 0.07); lowerLip = u(0.06, 0.09)
        lipTone = u(0.62, 0.8)
        lightAzimuth = u(-0.6, 0.6); lightElevation = u(0.25, 0.8); ambient = u(0.35, 0.55)
        background = u(0.15, 0.85); backgroundGradient = Point(u(-0.25, 0.25), u(-0.25, 0.25)); clothing = u(0.1, 0.7)
        framing = u(0.82, 0.95); framingOffset = Point(u(-0.06, 0.06), u(-0.03, 0.03))
        noise = u(1.2, 3.5)
    }
}

/// Draws one grey frame of a synthetic face: shaded head (an ellipsoid lit from the subject's light direction),
/// hair, eye sockets, eyes with lids, brows, nose with its shadows, cheeks, nasolabial folds and a mouth that
/// opens, stretches and curls, plus wrinkles that appear with some actions. The luminance pattern follows real
/// faces (dark brows and eye regions above brighter cheeks, a bright nose bridge, a darker mouth) so that
/// OpenCV's frontal-face cascades find it.
public struct FaceRenderer: Sendable {
    public var identity: FaceIdentity
    public var width: Int
    public var height: Int

    public init(identity: FaceIdentity, width: Int, height: Int) {
        self.identity = identity
        self.width = width
        self.height = height
    }

    /// The frame for `controls` and `pose`; `noiseSeed` draws the sensor noise.
    public func render(_ controls: FaceControls, pose: HeadPose = HeadPose(), noiseSeed: UInt64) -> GrayImage {
        let id = identity
        var canvas = Canvas(width: width, height: height, channels: 1, background: .gray(id.background))
        let W = Float(width), H = Float(height)

        // face units → pixels
        let scale = 0.355 * min(H, W * 0.95) * id.framing * pose.scale
        let origin = Point(W * (0.5 + id.framingOffset.x), H * (0.5 + id.framingOffset.y) - 0.02 * scale)
            + pose.offset * scale
        let cr = cos(pose.roll), sr = sin(pose.roll)
        func px(_ q: Point) -> Point { origin + Point(cr * q.x - sr * q.y, sr * q.x + cr * q.y) * scale }
        func px(_ x: Float, _ y: Float) -> Point { px(Point(x, y)) }
        func face(_ p: Point) -> Point {
            let d = (p - origin) / scale
            return Point(cr * d.x + sr * d.y, -sr * d.x + cr * d.y)
        }
        func len(_ u: Float) -> Float { u * scale }
        func gray(_ v: Float) -> Color { .gray(v) }

        // light (y down: light from above has a negative y component)
        let light = SIMD3<Float>(sin(id.lightAzimuth) * cos(id.lightElevation), -sin(id.lightElevation),
                                 cos(id.lightAzimuth) * cos(id.lightElevation))
        func shade(_ q: Point, ax: Float = 1.15, ay: Float = 1.55) -> Float {
            let nx = q.x / ax, ny = q.y / ay
            let n = SIMD3<Float>(nx, ny, max(0.15, 1 - nx * nx - ny * ny).squareRoot())
            let lit = max(0, (n * light).sum() / (n * n).sum().squareRoot())
            return id.ambient + (1 - id.ambient) * lit
        }
        func skinAt(_ p: Point) -> Float { id.skin * shade(face(p)) }

        // background: a gradient across the frame
        for y in 0..<height {
            for x in 0..<width {
                let g = id.backgroundGradient
                let v = id.background + g.x * (Float(x) / W - 0.5) + g.y * (Float(y) / H - 0.5)
                canvas.samples[y * width + x] = max(0.02, min(0.98, v))
            }
        }

        let jaw = controls[.jawDrop]
        let chinY: Float = (1.22 + 0.16 * jaw) * id.heightScale
        let topY: Float = -1.38 * id.heightScale
        let halfWidth = id.widthScale

        // clothing and neck
        let shoulders = [px(-2.4, 3.2), px(-2.0, 1.75), px(-0.6, 1.45), px(0.6, 1.45), px(2.0, 1.75), px(2.4, 3.2)]
        canvas.fillPolygon(shoulders, softness: 1, color: gray(id.clothing))
        canvas.fillPolygon([px(-0.45, 0.6), px(0.45, 0.6), px(0.5, 1.7), px(-0.5, 1.7)], softness: 1) { p in
            gray(id.skin * 0.62 * shade(face(p)))
        }
        // long hair behind the head
        if id.longHair {
            canvas.fillEllipse(center: px(0, 0.05), radii: Point(len(halfWidth * 1.22), len(1.55 * id.heightScale)),
                               angle: pose.roll, softness: 2, color: gray(id.hair * 0.85))
        }
        // ears
        for side: Float in [-1, 1] {
            canvas.fillEllipse(center: px(side * halfWidth * 0.98, 0.02), radii: Point(len(0.13), len(0.24)),
                               angle: pose.roll, softness: 1) { p in gray(id.skin * 0.8 * shade(face(p))) }
        }

        // head: an ellipse on top, a narrowing jaw below
        func headF(_ q: Point) -> Float {
            let t = max(0, q.y) / chinY
            let a = halfWidth * (q.y > 0 ? 1 - (1 - id.jawTaper) * pow(min(1, t), 1.7) : 1)
            let b = q.y > 0 ? chinY : -topY
            let x = q.x / a, y = q.y / b
            return (x * x + y * y).squareRoot() - 1
        }
        let headBounds = (min(px(-1.3, topY).x, px(-1.3, chinY).x), min(px(-1.3, topY).y, px(1.3, topY).y),
                          max(px(1.3, topY).x, px(1.3, chinY).x), max(px(-1.3, chinY).y, px(1.3, chinY).y))
        // f is about (distance / face radius): 0.15 is several pixels for faces wider than ~30 pixels
        let band = max(0.15, 6 / scale)
        canvas.fillImplicit(bounds: headBounds, softness: 0.5, band: band, f: { headF(face($0)) }, paint: { gray(skinAt($0)) })

        // hair on top: inside the enlarged head outline and above the hairline
        let volume = 1 + id.hairVolume
        canvas.fillImplicit(bounds: headBounds, softness: 0.6, band: band, f: { p in
            let q = face(p)
            let outer = headF(Point(q.x / volume, (q.y - 0.02) / volume))
            let side = min(1, max(0, (abs(q.x) - 0.55 * halfWidth) / (0.45 * halfWidth)))
            let line = id.hairline + 0.12 * q.x * q.x + 0.55 * side * side * (3 - 2 * side)
            return max(outer, (q.y - line) * 1.5)
        }, paint: { p in gray(id.hair * (0.75 + 0.35 * shade(face(p)))) })

        // forehead lines (brows raised) and cheek highlights
        let raise = max(controls[.innerBrowRaise], controls[.outerBrowRaise])
        if raise > 0.05 {
            for (k, y) in [Float(-0.5), -0.6, -0.7].enumerated() {
                let yy = id.eyeY + y + 0.02 * Float(k)
                canvas.stroke(bezier(px(-0.42, yy + 0.03), px(0, yy - 0.03), px(0.42, yy + 0.03)), width: len(0.03),
                              softness: len(0.03), opacity: 0.28 * raise, color: .black)
            }
        }
        let cheek = controls[.cheekRaise]
        for side: Float in [-1, 1] {
            canvas.fillEllipse(center: px(side * 0.5, id.eyeY + 0.33 - 0.07 * cheek), radii: Point(len(0.22), len(0.15)),
                               angle: pose.roll, softness: len(0.18), opacity: 0.12 + 0.12 * cheek, color: .white)
        }

        // eyes
        let lidOpen = max(0, id.eyeOpening * (1 + 0.55 * controls[.upperLidRaise] - 0.42 * controls[.lidTighten]
            - 0.25 * cheek) * (1 - controls[.blink]))
        let lowerLift = 0.35 * cheek + 0.3 * controls[.lidTighten]
        for side: Float in [-1, 1] {
            let ex = side * id.eyeSpacing, ey = id.eyeY
            let w = id.eyeWidth
            // the socket's shadow, lighter when the lids open wide (more of the eye catches light)
            canvas.fillEllipse(center: px(ex, ey - 0.035), radii: Point(len(0.3), len(0.2)), angle: pose.roll,
                               softness: len(0.2), opacity: id.socketDepth * (1 - 0.15 * controls[.upperLidRaise]),
                               color: .black)
            // almond: upper lid curve peaking towards the inner corner, lower lid curve
            func upper(_ s: Float) -> Float { ey - lidOpen * pow(max(0, 1 - s * s), 0.8) * (1 + 0.15 * s * side) }
            func lower(_ s: Float) -> Float { ey + id.eyeOpening * 0.5 * (1 - lowerLift) * max(0, 1 - s * s) }
            let samples = (0...12).map { Float($0) / 6 - 1 }
            let upperPoints = samples.map { px(ex + $0 * w, upper($0)) }
            let lowerPoints = samples.reversed().map { px(ex + $0 * w, lower($0)) }
            let almond = upperPoints + lowerPoints
            if lidOpen > 0.004 {
                canvas.fillPolygon(almond, softness: 0.3, color: gray(min(0.82, 0.35 + 0.5 * id.skin)))
                let irisCenter = px(ex + 0.01 * side, ey + 0.008)
                let r = len(id.irisRadius)
                let bounds = (irisCenter.x - r, irisCenter.y - r, irisCenter.x + r, irisCenter.y + r)
                canvas.fill(bounds: bounds, softness: 0.3, distance: { p in
                    max((p - irisCenter).length - r, polygonDistance(almond, p))
                }, paint: { _ in gray(id.iris) })
                canvas.fill(bounds: bounds, softness: 0.3, distance: { p in
                    max((p - irisCenter).length - r * 0.45, polygonDistance(almond, p))
                }, paint: { _ in gray(0.03) })
                canvas.fillEllipse(center: irisCenter + Point(-0.3, -0.3) * r, radii: Point(r * 0.16, r * 0.16),
                                   opacity: 0.7, color: gray(0.95))
            }
            // lash line along the upper lid, thicker towards the outer corner; crease above it
            canvas.stroke(upperPoints, widths: samples.map { len(0.022 + 0.018 * max(0, $0 * side)) }, softness: 0.4,
                          color: gray(0.06))
            let crease = samples.map { px(ex + $0 * w * 1.05, upper($0) - 0.05 - 0.02 * (1 - $0 * $0)) }
            canvas.stroke(crease, width: len(0.02), softness: len(0.03), opacity: 0.35, color: .black)
            canvas.stroke(lowerPoints, width: len(0.012), softness: len(0.02), opacity: 0.3, color: .black)
            if controls[.cheekRaise] > 0.2 {  // crow's feet
                for k: Float in [-1, 0, 1] {
                    canvas.stroke([px(ex + side * (w + 0.04), ey + 0.03 * k), px(ex + side * (w + 0.12), ey + 0.07 * k)],
                                  width: len(0.015), softness: len(0.02), opacity: 0.35 * cheek, color: .black)
                }
            }
        }

        // brows: inner, middle and outer points moved by the actions
        let inner = controls[.innerBrowRaise], outer = controls[.outerBrowRaise], lower = controls[.browLower]
        let wrinkle = controls[.noseWrinkle]
        for side: Float in [-1, 1] {
            let ex = side * id.eyeSpacing, base = id.eyeY - id.browGap
            let innerX = ex - side * id.eyeWidth * (1.0 - 0.3 * lower)
            let pInner = Point(innerX, base + 0.02 - 0.14 * inner + 0.1 * lower + 0.03 * wrinkle)
            let pMid = Point(ex + side * 0.02, base - id.browArch - 0.06 * inner - 0.1 * outer + 0.07 * lower)
            let pOuter = Point(ex + side * id.eyeWidth * 1.3, base + 0.05 - 0.13 * outer + 0.04 * lower)
            let points = bezier(px(pInner), px(2 * pMid - (pInner + pOuter) / 2), px(pOuter), segments: 10)
            let t = id.browThickness
            let widths = (0...10).map { i -> Float in len(t * (1.15 - 0.65 * Float(i) / 10)) }
            canvas.stroke(points, widths: widths, softness: len(0.025), color: gray(id.brow))
        }
        if lower > 0.05 {  // vertical furrows between the brows
            for side: Float in [-1, 1] {
                let y = id.eyeY - id.browGap
                canvas.stroke([px(side * 0.06, y + 0.04), px(side * 0.05, y - 0.14)], width: len(0.025),
                              softness: len(0.03), opacity: 0.5 * lower, color: .black)
            }
        }

        // nose: bright bridge, the side away from the light in shadow, tip highlight, shadow underneath, nostrils
        let tip = id.noseTip, nw = id.noseWidth * (1 + 0.15 * wrinkle)
        let lightSide: Float = id.lightAzimuth >= 0 ? 1 : -1
        canvas.fillEllipse(center: px(0.02 * lightSide, id.eyeY + 0.14), radii: Point(len(0.055), len(0.22)),
                           angle: pose.roll, softness: len(0.1), opacity: 0.3, color: .white)
        for side: Float in [-1, 1] {
            let away = side == lightSide ? 0.12 : 0.3 + 0.2 * abs(sin(id.lightAzimuth))
            canvas.stroke(bezier(px(side * 0.08, id.eyeY + 0.06), px(side * 0.1, tip - 0.15), px(side * 0.13, tip)),
                          width: len(0.05), softness: len(0.08), opacity: away, color: .black)
        }
        canvas.fillEllipse(center: px(0, tip - 0.03), radii: Point(len(0.07), len(0.055)), softness: len(0.06),
                           opacity: 0.2, color: .white)
        canvas.fillEllipse(center: px(0, tip + 0.075 - 0.02 * wrinkle), radii: Point(len(nw), len(0.05)),
                           softness: len(0.07), opacity: 0.35, color: .black)
        for side: Float in [-1, 1] {
            canvas.fillEllipse(center: px(side * nw * 0.9, tip + 0.01 - 0.03 * wrinkle), radii: Point(len(0.06), len(0.055)),
                               softness: len(0.05), opacity: 0.22, color: .black)
            canvas.fillEllipse(center: px(side * nw * 0.45, tip + 0.06 - 0.03 * wrinkle), radii: Point(len(0.045), len(0.022)),
                               angle: pose.roll + side * 0.35, softness: 0.5, opacity: 0.85, color: gray(0.07))
        }
        if wrinkle > 0.05 {  // creases across the bridge
            for k in 0..<3 {
                let y = id.eyeY + 0.05 + 0.05 * Float(k)
                canvas.stroke(bezier(px(-0.09, y + 0.015), px(0, y - 0.015), px(0.09, y + 0.015), segments: 6),
                              width: len(0.02), softness: len(0.02), opacity: 0.55 * wrinkle, color: .black)
            }
        }

        // mouth
        let pullL = controls[.lipCornerPullLeft], pullR = controls[.lipCornerPullRight]
        let depress = controls[.lipCornerDepress], stretch = controls[.lipStretch], press = controls[.lipPress]
        let lipRaise = controls[.upperLipRaise]
        let mouthY = id.mouthY + 0.05 * jaw
        let center = mouthY - 0.035 * lipRaise
        func corner(_ pull: Float) -> Point {
            Point(id.mouthWidth * (1 + 0.14 * pull + 0.28 * stretch - 0.16 * press - 0.04 * depress),
                  mouthY - 0.13 * pull + 0.1 * depress + 0.01 * stretch)
        }
        let cornerR = corner(pullL), cornerL = corner(pullR)  // image right = subject's left
        let opening = 0.3 * jaw + 0.02 * (pullL + pullR) + 0.045 * lipRaise
        func side(_ s: Float) -> Point { s < 0 ? cornerL : cornerR }
        func line(_ s: Float) -> Float { center + (side(s).y - center) * pow(abs(s), 1.6) }
        func x(_ s: Float) -> Float { s * side(s).x }
        let bulge: (Float) -> Float = { s in pow(max(0, 1 - s * s), 0.7) }
        func innerUpper(_ s: Float) -> Float { line(s) - opening * 0.25 * bulge(s) - 0.03 * lipRaise * bulge(s) }
        func innerLower(_ s: Float) -> Float { line(s) + opening * 0.75 * bulge(s) }
        let upperThickness = id.upperLip * (1 - 0.6 * press - 0.3 * stretch - 0.15 * (pullL + pullR) / 2)
        let lowerThickness = id.lowerLip * (1 - 0.5 * press - 0.3 * stretch)
        func outerUpper(_ s: Float) -> Float {
            innerUpper(s) - upperThickness * (0.3 + 0.7 * (1 - s * s).squareRoot()) + 0.012 * exp(-(s / 0.12) * (s / 0.12))
        }
        func outerLower(_ s: Float) -> Float { innerLower(s) + lowerThickness * pow(max(0, 1 - s * s), 0.6) }
        let ss = (0...16).map { Float($0) / 8 - 1 }
        // folds from the nose wings to beyond the mouth corners, deeper when the corners or the upper lip rise
        for (s, pull) in [(Float(-1), pullR), (Float(1), pullL)] {
            let c = side(s)
            let depth = 0.12 + 0.45 * max(pull, 0.7 * wrinkle, 0.6 * lipRaise)
            canvas.stroke(bezier(px(s * (nw + 0.06), tip), px(s * (c.x + 0.12), (tip + c.y) / 2),
                                 px(s * (c.x + 0.07), c.y + 0.1)),
                          width: len(0.035), softness: len(0.06), opacity: depth, color: .black)
        }
        let lips = ss.map { px(x($0), outerUpper($0)) } + ss.reversed().map { px(x($0), outerLower($0)) }
        canvas.fillPolygon(lips, softness: 0.6) { p in gray(skinAt(p) * id.lipTone) }
        if opening > 0.01 {
            let mouth = ss.map { px(x($0), innerUpper($0)) } + ss.reversed().map { px(x($0), innerLower($0)) }
            canvas.fillPolygon(mouth, softness: 0.4, color: gray(0.05))
            let teeth = min(0.05, opening * 0.45)
            if teeth > 0.008 {
                let ts = ss.filter { abs($0) < 0.7 }
                let band = ts.map { px(x($0), innerUpper($0)) }
                    + ts.reversed().map { px(x($0), min(innerUpper($0) + teeth, innerLower($0))) }
                canvas.fillPolygon(band, softness: 0.4, color: gray(0.78))
            }
        }
        // the line between the lips: dark when closed, faint across an open mouth
        canvas.stroke(ss.map { px(x($0), line($0)) }, width: len(0.022),
                      softness: 0.5, opacity: opening > 0.02 ? 0.3 : 0.8, color: gray(0.1))
        canvas.fillEllipse(center: px(0, outerLower(0) + 0.05), radii: Point(len(0.18), len(0.04)), softness: len(0.05),
                           opacity: 0.25, color: .black)
        canvas.fillEllipse(center: px(0, chinY - 0.2), radii: Point(len(0.22), len(0.1)), softness: len(0.1),
                           opacity: 0.1, color: .white)

        // sensor noise, then 8 bits
        var rng = SplitMix64(seed: noiseSeed)
        var out = [UInt8](repeating: 0, count: width * height)
        let sigma = id.noise
        for i in 0..<(width * height) {
            let u1 = max(1e-12, rng.uniform(0...1)), u2 = rng.uniform(0...1)
            let gaussian = Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
            out[i] = UInt8(max(0, min(255, (canvas.samples[i] * 255 + sigma * gaussian).rounded())))
        }
        return GrayImage(width: width, height: height, pixels: out)
    }
}
