import Foundation
import Vision

/// How the facial actions of one expression class unfold from neutral to apex.
///
/// Two pairs of classes are built to share their apex and to differ only in time, so that a per-frame model
/// (temporal kernel 1) is at a disadvantage against one that sees motion (temporal kernel ≥ 3):
/// - **fear / surprise**: the same raised brows, widened lids and dropped jaw, the same onset, drawn from the same
///   ranges, and the same flicker of brows, lids and lips around the rising expression, of the same amplitude and
///   with the same values (±a). Only its tempo differs: fear trembles (the sign flips every frame), surprise
///   flickers slowly (the sign flips every 3–5 frames). Any single frame, and even the set of frames of a clip
///   regardless of their order, is drawn from the same distribution for both.
/// - **anger / disgust**: the same lowered brows, tightened lids, wrinkled nose, raised upper lip and pressed
///   lips. In anger the brows lead and the nose and mouth follow 1–3 frames later; in disgust the nose and mouth
///   lead. Only the few frames between the two onsets differ.
/// Happy, sadness and contempt have their own apex (bilateral smile with raised cheeks; raised inner brows and
/// depressed corners; a one-sided smile). Every class gets the same distractors: blinks and small brow jitter.
public struct ExpressionDynamics: Sendable {
    public enum Onset: Sendable {
        /// A smoothstep from neutral to apex.
        case smooth
        /// A smooth rise plus a square wave of this amplitude (±a, scaled by the rise) on the listed actions whose
        /// sign flips every `halfPeriod` frames: 1 is a tremor, 3–5 a slow flicker.
        case flicker(amplitude: ClosedRange<Float>, halfPeriod: ClosedRange<Int>, actions: [FaceAction])
        /// The `leading` actions rise first, the others `lag` frames later.
        case staged(leading: [FaceAction], lag: ClosedRange<Int>)
    }

    /// Apex intensity range per action.
    public var apex: [(FaceAction, ClosedRange<Float>)]
    public var onset: Onset
    /// Frames from the first movement to the apex (clamped to the sequence).
    public var duration: ClosedRange<Int>
    /// For one-sided expressions: the pull actions are applied to one random side only.
    public var oneSided: Bool

    public init(apex: [(FaceAction, ClosedRange<Float>)], onset: Onset, duration: ClosedRange<Int>,
                oneSided: Bool = false) {
        self.apex = apex; self.onset = onset; self.duration = duration; self.oneSided = oneSided
    }

    static let angerDisgustApex: [(FaceAction, ClosedRange<Float>)] = [
        (.browLower, 0.6...1), (.lidTighten, 0.4...0.8), (.noseWrinkle, 0.3...0.65), (.upperLipRaise, 0.2...0.5),
        (.lipPress, 0.3...0.7),
    ]
    static let fearSurpriseApex: [(FaceAction, ClosedRange<Float>)] = [
        // flickering actions stay ≤ 0.82 so that apex + flicker rarely clips at 1
        (.innerBrowRaise, 0.5...0.82), (.outerBrowRaise, 0.45...0.8), (.upperLidRaise, 0.5...0.82), (.jawDrop, 0.5...0.9),
        (.lipStretch, 0...0.4), (.browLower, 0...0.25),
    ]

    static let flickering: [FaceAction] = [.innerBrowRaise, .outerBrowRaise, .upperLidRaise, .lipStretch]

    /// The seven CK+ classes in label order 1...7: anger, contempt, disgust, fear, happy, sadness, surprise.
    public static let ckPlus: [String: ExpressionDynamics] = [
        "anger": ExpressionDynamics(apex: angerDisgustApex, onset: .staged(leading: [.browLower, .lidTighten], lag: 1...3),
                                    duration: 6...10),
        "disgust": ExpressionDynamics(apex: angerDisgustApex,
                                      onset: .staged(leading: [.noseWrinkle, .upperLipRaise, .lipPress], lag: 1...3),
                                      duration: 6...10),
        "fear": ExpressionDynamics(apex: fearSurpriseApex, onset: .flicker(amplitude: 0.1...0.18, halfPeriod: 1...1, actions: flickering),
                                   duration: 6...10),
        "surprise": ExpressionDynamics(apex: fearSurpriseApex, onset: .flicker(amplitude: 0.1...0.18, halfPeriod: 3...5, actions: flickering),
                                       duration: 6...10),
        "happy": ExpressionDynamics(apex: [(.cheekRaise, 0.4...0.9), (.lipCornerPullLeft, 0.6...1), (.lipCornerPullRight, 0.6...1),
                                           (.jawDrop, 0...0.25), (.lidTighten, 0...0.2)],
                                    onset: .smooth, duration: 4...9),
        "sadness": ExpressionDynamics(apex: [(.innerBrowRaise, 0.5...0.9), (.browLower, 0.3...0.6), (.lipCornerDepress, 0.6...1),
                                             (.lipPress, 0...0.3), (.lidTighten, 0.1...0.3)],
                                      onset: .smooth, duration: 6...10),
        "contempt": ExpressionDynamics(apex: [(.lipCornerPullLeft, 0.5...0.9), (.lipPress, 0.1...0.4), (.lidTighten, 0...0.2)],
                                       onset: .smooth, duration: 4...8, oneSided: true),
    ]

    /// Per-frame actions and head poses of one sequence of `frameCount` frames ending at the apex.
    public func timeline(frameCount n: Int, using rng: inout SplitMix64) -> (controls: [FaceControls], poses: [HeadPose]) {
        func u(_ r: ClosedRange<Float>) -> Float { Float(rng.uniform(Double(r.lowerBound)...Double(r.upperBound))) }
        func i(_ r: ClosedRange<Int>) -> Int { Int(rng.next() % UInt64(r.count)) + r.lowerBound }
        func smoothstep(_ x: Float) -> Float { let t = min(1, max(0, x)); return t * t * (3 - 2 * t) }

        var targets = apex.map { ($0.0, u($0.1)) }
        if oneSided && rng.next() % 2 == 0 {  // mirror the one-sided pull
            targets = targets.map { action, value in
                switch action {
                case .lipCornerPullLeft: (.lipCornerPullRight, value)
                case .lipCornerPullRight: (.lipCornerPullLeft, value)
                default: (action, value)
                }
            }
        }
        // apex frame and onset: the expression ends at the last frame, or holds for up to 2 frames
        let apexFrame = n - 1 - i(0...2)
        let d = max(1, min(i(duration), apexFrame))
        let start = apexFrame - d

        var controls = [FaceControls](repeating: FaceControls(), count: n)
        var flicker: (amplitude: Float, halfPeriod: Int, actions: [FaceAction], phase: Int) = (0, 1, [], 0)
        var lag = 0
        var leading: [FaceAction] = []
        switch onset {
        case .smooth: break
        case let .flicker(amplitude, halfPeriod, actions):
            let h = i(halfPeriod)
            flicker = (u(amplitude), h, actions, i(0...(2 * h - 1)))
        case let .staged(lead, lagRange): leading = lead; lag = min(i(lagRange), max(1, d - 2))
        }
        for f in 0..<n {
            for (action, target) in targets {
                let progress: Float
                if lag > 0 {
                    let delay = leading.contains(action) ? 0 : lag
                    progress = smoothstep(Float(f - start - delay) / Float(max(1, d - lag)))
                } else {
                    progress = smoothstep(Float(f - start) / Float(d))
                }
                var value = target * progress
                if flicker.amplitude > 0, flicker.actions.contains(action) {
                    // a square wave: +a for halfPeriod frames, −a for the next halfPeriod frames
                    let sign: Float = ((f + flicker.phase) / flicker.halfPeriod) % 2 == 0 ? 1 : -1
                    value += sign * flicker.amplitude * min(1, 2 * progress)
                }
                controls[f][action] = min(1, max(0, value))
            }
        }
        // distractors shared by all classes: a blink, small brow jitter
        if rng.uniform(0...1) < 0.35, n > 3 {
            let b = i(0...(n - 3))
            for (k, amount) in [Float(0.6), 1, 0.4].enumerated() { controls[b + k][.blink] = amount * u(0.7...1) }
        }
        for f in 0..<n {
            for action in [FaceAction.innerBrowRaise, .outerBrowRaise] {
                controls[f][action] = min(1, max(0, controls[f][action] + u(-0.02...0.02)))
            }
        }

        // head: a slow sway around a per-sequence pose
        let base = HeadPose(offset: Point(u(-0.05...0.05), u(-0.04...0.04)), roll: u(-0.05...0.05), scale: u(0.97...1.03))
        let period = u(14...40), phase = u(0...6.283), sway = u(0.005...0.025), rollSway = u(0...0.015)
        var poses = [HeadPose]()
        for f in 0..<n {
            let w = sin(6.283 * Float(f) / period + phase)
            let pose = HeadPose(offset: base.offset + Point(sway * w, 0.5 * sway * cos(6.283 * Float(f) / period + phase)),
                                roll: base.roll + rollSway * w, scale: base.scale)
            poses.append(pose)
        }
        return (controls, poses)
    }
}
