import Dispatch
import Foundation

/// Options of `CascadeClassifier.detectMultiScale`, with OpenCV's names and defaults.
public struct DetectionOptions: Sendable, Hashable {
    /// Ratio between pyramid scales (> 1). OpenCV default 1.1.
    public var scaleFactor: Double
    /// Candidates a group needs beyond itself to be kept (groupRectangles' threshold); 0 keeps every raw
    /// window ungrouped. OpenCV default 3.
    public var minNeighbors: Int
    /// Smallest window side in pixels (0: the cascade's window).
    public var minSize: Int
    /// Largest window side in pixels (0: the image size).
    public var maxSize: Int
    /// Evaluate pyramid scales on several threads (results are identical).
    public var parallel: Bool

    public init(scaleFactor: Double = 1.1, minNeighbors: Int = 3, minSize: Int = 0, maxSize: Int = 0,
                parallel: Bool = true) {
        self.scaleFactor = scaleFactor
        self.minNeighbors = minNeighbors
        self.minSize = minSize
        self.maxSize = maxSize
        self.parallel = parallel
    }
}

/// A boosted cascade of OpenCV's new XML format (`<cascade>`, stageType BOOST, featureType HAAR or LBP), read
/// at run time and evaluated by this module: integral images (upright, squared, tilted), stages of stumps or
/// trees, the multi-scale sliding window and the grouping of `cv::CascadeClassifier::detectMultiScale`.
public final class CascadeClassifier: Sendable {
    public enum FeatureType: String, Sendable { case haar = "HAAR", lbp = "LBP" }

    struct HaarRect: Sendable { var x, y, w, h: Int32; var weight: Float }
    struct HaarFeature: Sendable { var rects: [HaarRect]; var tilted: Bool }
    struct Node: Sendable { var feature: Int32; var threshold: Float; var left: Int32; var right: Int32 }
    struct Tree: Sendable { var firstNode: Int32; var nodeCount: Int32; var firstLeaf: Int32 }
    struct Stage: Sendable { var firstTree: Int; var treeCount: Int; var threshold: Float }

    public let path: String
    public let featureType: FeatureType
    /// The cascade's detection window (OpenCV's `origWinSize`).
    public let windowWidth: Int
    public let windowHeight: Int
    let stages: [Stage]
    let trees: [Tree]
    let nodes: [Node]
    let leaves: [Float]
    let subsets: [Int32]   // 8 words (256 categories) per node, LBP only
    let haarFeatures: [HaarFeature]
    let lbpRects: [Rect]
    let hasTilted: Bool
    let stumpsOnly: Bool

    /// Default folder of Debian's `opencv-data` cascades; `EMOTION3D_CASCADE_DIR` overrides it.
    public static var defaultDirectory: String {
        ProcessInfo.processInfo.environment["EMOTION3D_CASCADE_DIR"] ?? "/usr/share/opencv4"
    }

    /// Loads `haarcascades/haarcascade_frontalface_default.xml`-style names relative to `defaultDirectory`,
    /// or an absolute/relative path as given.
    public convenience init(named name: String) throws {
        let p = name.hasPrefix("/") || FileManager.default.fileExists(atPath: name)
            ? name : (CascadeClassifier.defaultDirectory as NSString).appendingPathComponent(name)
        try self.init(path: p)
    }

    public init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else { throw VisionError.fileNotFound(path: path) }
        if data.isEmpty { throw VisionError.emptyFile(path: path) }
        func bad(_ r: String) -> VisionError { .invalidCascade(path: path, reason: r) }
        let doc: XMLNode
        do { doc = try XMLNode.parse([UInt8](data)) } catch { throw bad("XML: \(error)") }
        guard let storage = doc.child("opencv_storage"), let top = storage.children.first else {
            throw bad("no <opencv_storage> element")
        }
        guard top.name == "cascade" || top.child("stageType") != nil else {
            throw bad("old-format cascade <\(top.name)>; only the <cascade> format of OpenCV ≥ 2.4 is read")
        }
        guard top.child("stageType")?.trimmed == "BOOST" else { throw bad("stageType is not BOOST") }
        guard let ft = FeatureType(rawValue: top.child("featureType")?.trimmed ?? "") else {
            throw bad("featureType must be HAAR or LBP")
        }
        featureType = ft
        guard let w = Int(top.child("width")?.trimmed ?? ""), let h = Int(top.child("height")?.trimmed ?? ""),
              w > 2, h > 2 else { throw bad("missing window width/height") }
        windowWidth = w; windowHeight = h
        let ncat = Int(top.child("featureParams")?.child("maxCatCount")?.trimmed ?? "0") ?? 0
        let subsetWords = ncat > 0 ? (ncat + 31) / 32 : 0
        guard (ft == .lbp) == (subsetWords > 0) else { throw bad("LBP needs maxCatCount 256, HAAR 0") }

        var stages: [Stage] = [], trees: [Tree] = [], nodes: [Node] = [], leaves: [Float] = [], subsets: [Int32] = []
        guard let stagesNode = top.child("stages"), !stagesNode.children.isEmpty else { throw bad("no stages") }
        for st in stagesNode.children {
            guard let thr = st.child("stageThreshold")?.numbers.first, let weak = st.child("weakClassifiers") else {
                throw bad("stage without stageThreshold/weakClassifiers")
            }
            let first = trees.count
            for wc in weak.children {
                guard let inn = wc.child("internalNodes")?.numbers, let lv = wc.child("leafValues")?.numbers else {
                    throw bad("weak classifier without internalNodes/leafValues")
                }
                let per = subsetWords > 0 ? 3 + subsetWords : 4
                guard inn.count % per == 0, inn.count > 0, lv.count == inn.count / per + 1 else {
                    throw bad("weak classifier with \(inn.count) node values and \(lv.count) leaves")
                }
                let count = inn.count / per
                trees.append(Tree(firstNode: Int32(nodes.count), nodeCount: Int32(count), firstLeaf: Int32(leaves.count)))
                for k in 0..<count {
                    let v = Array(inn[(k * per)..<((k + 1) * per)])
                    nodes.append(Node(feature: Int32(v[2]), threshold: subsetWords > 0 ? 0 : Float(v[3]),
                                      left: Int32(v[0]), right: Int32(v[1])))
                    if subsetWords > 0 { subsets.append(contentsOf: v[3...].map { Int32(truncatingIfNeeded: Int64($0)) }) }
                }
                leaves.append(contentsOf: lv.map { Float($0) })
            }
            stages.append(Stage(firstTree: first, treeCount: trees.count - first, threshold: Float(thr) - 1e-5))
        }
        guard let feats = top.child("features")?.children, !feats.isEmpty else { throw bad("no features") }
        var haar: [HaarFeature] = [], lbp: [Rect] = []
        var tiltedAny = false
        for f in feats {
            if ft == .haar {
                guard let rs = f.child("rects")?.children, (1...3).contains(rs.count) else { throw bad("Haar feature without 1-3 rects") }
                var rects: [HaarRect] = []
                for r in rs {
                    let v = r.numbers
                    guard v.count == 5 else { throw bad("Haar rect needs x y w h weight") }
                    rects.append(HaarRect(x: Int32(v[0]), y: Int32(v[1]), w: Int32(v[2]), h: Int32(v[3]), weight: Float(v[4])))
                }
                let tilted = (f.child("tilted")?.numbers.first ?? 0) != 0
                tiltedAny = tiltedAny || tilted
                haar.append(HaarFeature(rects: rects, tilted: tilted))
            } else {
                let v = f.child("rect")?.numbers ?? []
                guard v.count == 4 else { throw bad("LBP feature needs a rect x y w h") }
                let r = Rect(x: Int(v[0]), y: Int(v[1]), width: Int(v[2]), height: Int(v[3]))
                guard r.x >= 0, r.y >= 0, r.x + 3 * r.width <= w, r.y + 3 * r.height <= h else {
                    throw bad("LBP feature \(r) outside the window")
                }
                lbp.append(r)
            }
        }
        let nf = ft == .haar ? haar.count : lbp.count
        guard nodes.allSatisfy({ $0.feature >= 0 && Int($0.feature) < nf }) else { throw bad("feature index out of range") }
        self.stages = stages; self.trees = trees; self.nodes = nodes; self.leaves = leaves; self.subsets = subsets
        self.haarFeatures = haar; self.lbpRects = lbp; self.hasTilted = tiltedAny
        self.stumpsOnly = trees.allSatisfy { $0.nodeCount == 1 }
    }

    // MARK: detection

    /// Faces (objects) in `image`, as `cv::CascadeClassifier::detectMultiScale(image, scaleFactor,
    /// minNeighbors, 0, Size(minSize, minSize), Size(maxSize, maxSize))`.
    public func detectMultiScale(_ image: GrayImage, options: DetectionOptions = DetectionOptions()) -> [Rect] {
        let raw = detectCandidates(image, options: options)
        return groupRectangles(raw, groupThreshold: options.minNeighbors, eps: 0.2)
    }

    /// The pyramid scales OpenCV evaluates (Float, as OpenCV stores them).
    func scales(width: Int, height: Int, options o: DetectionOptions) -> [Float] {
        let maxW = o.maxSize > 0 ? o.maxSize : width, maxH = o.maxSize > 0 ? o.maxSize : height
        guard width >= windowWidth, height >= windowHeight, o.scaleFactor > 1 else { return [] }
        var all: [Float] = []
        var factor = 1.0
        while true {
            let ww = cvRound(Double(windowWidth) * factor), wh = cvRound(Double(windowHeight) * factor)
            if ww > width || wh > height { break }
            all.append(Float(factor))
            factor *= o.scaleFactor
        }
        var chosen: [Float] = []
        for s in all {
            let ww = cvRound(Double(windowWidth) * Double(s)), wh = cvRound(Double(windowHeight) * Double(s))
            if ww > maxW || wh > maxH { break }
            if ww < o.minSize || wh < o.minSize { continue }
            chosen.append(s)
        }
        if chosen.isEmpty, !all.isEmpty {  // minSize == maxSize between two scales: the closest one
            let best = all.min { a, b in
                func d(_ s: Float) -> Double {
                    let dw = Double(o.minSize - cvRound(Double(windowWidth) * Double(s)))
                    let dh = Double(o.minSize - cvRound(Double(windowHeight) * Double(s)))
                    return dw * dw + dh * dh
                }
                return d(a) < d(b)
            }!
            chosen = [best]
        }
        return chosen
    }

    /// Raw windows accepted by the cascade at every scale (before grouping), in scale, row, column order.
    public func detectCandidates(_ image: GrayImage, options: DetectionOptions = DetectionOptions()) -> [Rect] {
        let sc = scales(width: image.width, height: image.height, options: options)
        if sc.isEmpty { return [] }
        var perScale = [[Rect]](repeating: [], count: sc.count)
        if options.parallel && sc.count > 1 {
            let lock = NSLock()
            let box = ResultBox(perScale)
            DispatchQueue.concurrentPerform(iterations: sc.count) { i in
                let r = self.detectAtScale(image, scale: sc[i])
                lock.lock(); box.value[i] = r; lock.unlock()
            }
            perScale = box.value
        } else {
            for i in sc.indices { perScale[i] = detectAtScale(image, scale: sc[i]) }
        }
        return perScale.flatMap { $0 }
    }

    final class ResultBox: @unchecked Sendable {
        var value: [[Rect]]
        init(_ v: [[Rect]]) { value = v }
    }

    func detectAtScale(_ image: GrayImage, scale: Float) -> [Rect] {
        let sw = cvRound(Float(image.width) / scale), sh = cvRound(Float(image.height) / scale)
        let scaled = (sw == image.width && sh == image.height)
            ? image : image.resized(width: sw, height: sh, interpolation: .linearExact)
        let ii = IntegralImages(scaled, squared: featureType == .haar, tilted: hasTilted)
        let stride = sw + 1
        let yStep = scale >= 2 ? 1 : 2
        let workW = max(stride - windowWidth, 0), workH = max(sh + 1 - windowHeight, 0)
        let winW = cvRound(Float(windowWidth) * scale), winH = cvRound(Float(windowHeight) * scale)
        var found: [Rect] = []
        if featureType == .haar && stumpsOnly {
            scanHaarStumps(ii, stride: stride, workW: workW, workH: workH, yStep: yStep) { x, y in
                found.append(Rect(x: cvRound(Float(x) * scale), y: cvRound(Float(y) * scale), width: winW, height: winH))
            }
            return found
        }
        let eval = makeEvaluator(stride: stride)
        ii.sum.withUnsafeBufferPointer { sum in
            ii.sqsum.withUnsafeBufferPointer { sq in
                ii.tilted.withUnsafeBufferPointer { tl in
                    var y = 0
                    while y < workH {
                        var x = 0
                        while x < workW {
                            let r = eval.run(sum.baseAddress!, sq.baseAddress, tl.baseAddress, offset: y * stride + x)
                            if r > 0 {
                                found.append(Rect(x: cvRound(Float(x) * scale), y: cvRound(Float(y) * scale),
                                                  width: winW, height: winH))
                            }
                            if r == 0 { x += yStep }
                            x += yStep
                        }
                        y += yStep
                    }
                }
            }
        }
        return found
    }

    /// The fast path for stump cascades with Haar features (the frontal-face cascades): one flat table per
    /// scale, raw pointers, the same Float arithmetic as `Evaluator`.
    func scanHaarStumps(_ ii: IntegralImages, stride s: Int, workW: Int, workH: Int, yStep: Int,
                        accept: (Int, Int) -> Void) {
        let nn = nodes.count
        var ofs = [Int](repeating: 0, count: nn * 12)
        var wts = [Float](repeating: 0, count: nn * 3)
        var thr = [Float](repeating: 0, count: nn), lv = thr, rv = thr
        var tiltedNode = [Bool](repeating: false, count: nn)
        for (i, nd) in nodes.enumerated() {
            let f = haarFeatures[Int(nd.feature)]
            for k in 0..<f.rects.count {
                let r = f.rects[k]
                let x = Int(r.x), y = Int(r.y), w = Int(r.w), h = Int(r.h)
                let o: [Int] = f.tilted
                    ? [x + s * y, x - h + s * (y + h), x + w + s * (y + w), x + w - h + s * (y + w + h)]
                    : [x + s * y, x + w + s * y, x + s * (y + h), x + w + s * (y + h)]
                for j in 0..<4 { ofs[i * 12 + k * 4 + j] = o[j] }
                wts[i * 3 + k] = r.weight
            }
            tiltedNode[i] = f.tilted
            thr[i] = nd.threshold
            // stump: left/right ≤ 0 are leaf indices of the tree
            let tr = trees[i]  // one node per tree
            lv[i] = leaves[Int(tr.firstLeaf - nd.left)]
            rv[i] = leaves[Int(tr.firstLeaf - nd.right)]
        }
        let stageN = stages.map { $0.treeCount }, stageT = stages.map { Double($0.threshold) }
        let nx = 1, ny = 1, nw = windowWidth - 2, nh = windowHeight - 2
        let n0 = nx + s * ny, n1 = nx + nw + s * ny, n2 = nx + s * (ny + nh), n3 = nx + nw + s * (ny + nh)
        let area = Double(nw * nh)
        ofs.withUnsafeBufferPointer { O in wts.withUnsafeBufferPointer { W in thr.withUnsafeBufferPointer { T in
        lv.withUnsafeBufferPointer { L in rv.withUnsafeBufferPointer { R in tiltedNode.withUnsafeBufferPointer { TN in
        stageN.withUnsafeBufferPointer { SN in stageT.withUnsafeBufferPointer { ST in
        ii.sum.withUnsafeBufferPointer { SUM in ii.sqsum.withUnsafeBufferPointer { SQ in ii.tilted.withUnsafeBufferPointer { TL in
            let o = O.baseAddress!, w = W.baseAddress!, t = T.baseAddress!, l = L.baseAddress!, r = R.baseAddress!
            let nstages = SN.count
            let anyTilted = hasTilted
            var y = 0
            while y < workH {
                var x = 0
                while x < workW {
                    let p = y * s + x
                    let sp = SUM.baseAddress! + p, qp = SQ.baseAddress! + p
                    let tp = TL.baseAddress.map { $0 + p }
                    let valsum = sp[n0] &- sp[n1] &- sp[n2] &+ sp[n3]
                    let valsq = qp[n0] &- qp[n1] &- qp[n2] &+ qp[n3]
                    var nf = area * Double(valsq) - Double(valsum) * Double(valsum)
                    var result = -1
                    if nf > 0 {
                        nf = nf.squareRoot()
                        let vnf = Float(1 / nf)
                        if area * Double(vnf) < 0.1 {
                            result = 1
                            var node = 0
                            for si in 0..<nstages {
                                var sum = 0.0
                                let end = node + SN[si]
                                while node < end {
                                    let base = anyTilted && TN[node] ? tp! : sp
                                    let q = o + node * 12
                                    let r0 = base[q[0]] &- base[q[1]] &- base[q[2]] &+ base[q[3]]
                                    let r1 = base[q[4]] &- base[q[5]] &- base[q[6]] &+ base[q[7]]
                                    var v = w[node * 3] * Float(r0) + w[node * 3 + 1] * Float(r1)
                                    let w2 = w[node * 3 + 2]
                                    if w2 != 0 {
                                        let r2 = base[q[8]] &- base[q[9]] &- base[q[10]] &+ base[q[11]]
                                        v += w2 * Float(r2)
                                    }
                                    v *= vnf
                                    sum += Double(v < t[node] ? l[node] : r[node])
                                    node += 1
                                }
                                if sum < ST[si] { result = -si; break }
                            }
                        }
                    }
                    if result > 0 { accept(x, y) }
                    if result == 0 { x += yStep }
                    x += yStep
                }
                y += yStep
            }
        } } } } } } } } } } }
    }

    func makeEvaluator(stride: Int) -> Evaluator {
        Evaluator(cascade: self, stride: stride)
    }

    /// Per-scale evaluator: feature corners as offsets into integral images of row stride `stride`.
    struct Evaluator {
        let c: CascadeClassifier
        let stride: Int
        var ofs: [Int32]      // Haar: 3 rects × 4 corners per feature; LBP: 16 grid points per feature
        var weights: [Float]  // Haar: 3 per feature
        var tiltedFlags: [Bool]
        let norm: (Int, Int, Int, Int)
        let normArea: Double

        init(cascade: CascadeClassifier, stride s: Int) {
            c = cascade; stride = s
            if cascade.featureType == .haar {
                ofs = []; weights = []; tiltedFlags = []
                ofs.reserveCapacity(cascade.haarFeatures.count * 12)
                for f in cascade.haarFeatures {
                    for k in 0..<3 {
                        if k < f.rects.count {
                            let r = f.rects[k]
                            let x = Int(r.x), y = Int(r.y), w = Int(r.w), h = Int(r.h)
                            if f.tilted {
                                ofs += [x + s * y, x - h + s * (y + h), x + w + s * (y + w),
                                        x + w - h + s * (y + w + h)].map { Int32($0) }
                            } else {
                                ofs += [x + s * y, x + w + s * y, x + s * (y + h), x + w + s * (y + h)].map { Int32($0) }
                            }
                            weights.append(r.weight)
                        } else {
                            ofs += [0, 0, 0, 0]; weights.append(0)
                        }
                    }
                    tiltedFlags.append(f.tilted)
                }
            } else {
                ofs = []; weights = []; tiltedFlags = []
                for r in cascade.lbpRects {
                    for j in 0..<4 { for i in 0..<4 { ofs.append(Int32(r.x + i * r.width + s * (r.y + j * r.height))) } }
                }
            }
            let nx = 1, ny = 1, nw = cascade.windowWidth - 2, nh = cascade.windowHeight - 2
            norm = (nx + s * ny, nx + nw + s * ny, nx + s * (ny + nh), nx + nw + s * (ny + nh))
            normArea = Double(nw * nh)
        }

        /// OpenCV's `runAt`: 1 accepted, −k rejected at stage k (0 = first stage), −1 also for flat windows.
        @inline(__always)
        func run(_ sum: UnsafePointer<Int32>, _ sq: UnsafePointer<UInt32>?, _ tilted: UnsafePointer<Int32>?,
                 offset p: Int) -> Int {
            if c.featureType == .haar {
                let s = sum + p
                let valsum = s[norm.0] &- s[norm.1] &- s[norm.2] &+ s[norm.3]
                let q = sq! + p
                let valsq = q[norm.0] &- q[norm.1] &- q[norm.2] &+ q[norm.3]
                var nf = normArea * Double(valsq) - Double(valsum) * Double(valsum)
                guard nf > 0 else { return -1 }
                nf = nf.squareRoot()
                let vnf = Float(1 / nf)
                guard normArea * Double(vnf) < 0.1 else { return -1 }
                let t = tilted.map { $0 + p }
                return ofs.withUnsafeBufferPointer { o in
                    weights.withUnsafeBufferPointer { wt in
                        predictHaar(s, t, o.baseAddress!, wt.baseAddress!, vnf)
                    }
                }
            } else {
                let s = sum + p
                return ofs.withUnsafeBufferPointer { o in predictLBP(s, o.baseAddress!) }
            }
        }

        @inline(__always)
        func haarValue(_ f: Int, _ s: UnsafePointer<Int32>, _ t: UnsafePointer<Int32>?,
                       _ o: UnsafePointer<Int32>, _ w: UnsafePointer<Float>, _ vnf: Float) -> Float {
            let base = tiltedFlags[f] ? t! : s
            let k = f * 12
            @inline(__always) func rs(_ i: Int) -> Int32 {
                base[Int(o[i])] &- base[Int(o[i + 1])] &- base[Int(o[i + 2])] &+ base[Int(o[i + 3])]
            }
            var ret = w[f * 3] * Float(rs(k)) + w[f * 3 + 1] * Float(rs(k + 4))
            if w[f * 3 + 2] != 0 { ret += w[f * 3 + 2] * Float(rs(k + 8)) }
            return ret * vnf
        }

        @inline(__always)
        func predictHaar(_ s: UnsafePointer<Int32>, _ t: UnsafePointer<Int32>?, _ o: UnsafePointer<Int32>,
                         _ w: UnsafePointer<Float>, _ vnf: Float) -> Int {
            c.nodes.withUnsafeBufferPointer { nodes in
                c.leaves.withUnsafeBufferPointer { leaves in
                    c.trees.withUnsafeBufferPointer { trees in
                        for (si, st) in c.stages.enumerated() {
                            var sum = 0.0
                            for ti in st.firstTree..<(st.firstTree + st.treeCount) {
                                let tr = trees[ti]
                                var idx: Int32 = 0
                                repeat {
                                    let nd = nodes[Int(tr.firstNode + idx)]
                                    let v = haarValue(Int(nd.feature), s, t, o, w, vnf)
                                    idx = v < nd.threshold ? nd.left : nd.right
                                } while idx > 0
                                sum += Double(leaves[Int(tr.firstLeaf - idx)])
                            }
                            if sum < Double(st.threshold) { return -si }
                        }
                        return 1
                    }
                }
            }
        }

        @inline(__always)
        func lbpCode(_ f: Int, _ s: UnsafePointer<Int32>, _ o: UnsafePointer<Int32>) -> Int {
            let q = o + f * 16
            @inline(__always) func cell(_ r: Int, _ cc: Int) -> Int32 {
                let a = r * 4 + cc
                return s[Int(q[a])] &- s[Int(q[a + 1])] &- s[Int(q[a + 4])] &+ s[Int(q[a + 5])]
            }
            let cv = cell(1, 1)
            var code = 0
            if cell(0, 0) >= cv { code |= 128 }
            if cell(0, 1) >= cv { code |= 64 }
            if cell(0, 2) >= cv { code |= 32 }
            if cell(1, 2) >= cv { code |= 16 }
            if cell(2, 2) >= cv { code |= 8 }
            if cell(2, 1) >= cv { code |= 4 }
            if cell(2, 0) >= cv { code |= 2 }
            if cell(1, 0) >= cv { code |= 1 }
            return code
        }

        @inline(__always)
        func predictLBP(_ s: UnsafePointer<Int32>, _ o: UnsafePointer<Int32>) -> Int {
            c.nodes.withUnsafeBufferPointer { nodes in
                c.leaves.withUnsafeBufferPointer { leaves in
                    c.trees.withUnsafeBufferPointer { trees in
                        c.subsets.withUnsafeBufferPointer { subsets in
                            for (si, st) in c.stages.enumerated() {
                                var sum = 0.0
                                for ti in st.firstTree..<(st.firstTree + st.treeCount) {
                                    let tr = trees[ti]
                                    var idx: Int32 = 0
                                    repeat {
                                        let ni = Int(tr.firstNode + idx)
                                        let nd = nodes[ni]
                                        let code = lbpCode(Int(nd.feature), s, o)
                                        let word = subsets[ni * 8 + (code >> 5)]
                                        idx = (word & (1 << Int32(code & 31))) != 0 ? nd.left : nd.right
                                    } while idx > 0
                                    sum += Double(leaves[Int(tr.firstLeaf - idx)])
                                }
                                if sum < Double(st.threshold) { return -si }
                            }
                            return 1
                        }
                    }
                }
            }
        }
    }
}

/// OpenCV's `cvRound`: round half to even.
@inline(__always) func cvRound(_ v: Double) -> Int { Int(v.rounded(.toNearestOrEven)) }
@inline(__always) func cvRound(_ v: Float) -> Int { Int(v.rounded(.toNearestOrEven)) }

/// `cv::groupRectangles(rects, groupThreshold, eps)`: clusters of similar rectangles (OpenCV's `SimilarRects`
/// and `partition`), averaged; clusters with ≤ `groupThreshold` members are dropped, and so are rectangles
/// inside a larger, better-supported one. `groupThreshold ≤ 0` returns the input unchanged.
public func groupRectangles(_ rects: [Rect], groupThreshold: Int, eps: Double) -> [Rect] {
    if groupThreshold <= 0 || rects.isEmpty { return rects }
    let n = rects.count
    var parent = Array(0..<n)
    func find(_ i: Int) -> Int {
        var r = i
        while parent[r] != r { r = parent[r] }
        var j = i
        while parent[j] != r { let nx = parent[j]; parent[j] = r; j = nx }
        return r
    }
    func similar(_ a: Rect, _ b: Rect) -> Bool {
        let delta = eps * Double(min(a.width, b.width) + min(a.height, b.height)) * 0.5
        return Double(abs(a.x - b.x)) <= delta && Double(abs(a.y - b.y)) <= delta
            && Double(abs(a.x + a.width - b.x - b.width)) <= delta
            && Double(abs(a.y + a.height - b.y - b.height)) <= delta
    }
    for i in 0..<n {
        for j in (i + 1)..<max(i + 1, n) where similar(rects[i], rects[j]) {
            let a = find(i), b = find(j)
            if a != b { parent[max(a, b)] = min(a, b) }
        }
    }
    var classOf = [Int: Int]()
    var labels = [Int](repeating: 0, count: n)
    for i in 0..<n {
        let r = find(i)
        if let c = classOf[r] { labels[i] = c } else { classOf[r] = classOf.count; labels[i] = classOf[r]! }
    }
    let nc = classOf.count
    var sums = [(Int, Int, Int, Int)](repeating: (0, 0, 0, 0), count: nc)
    var counts = [Int](repeating: 0, count: nc)
    for i in 0..<n {
        let c = labels[i]
        sums[c].0 += rects[i].x; sums[c].1 += rects[i].y; sums[c].2 += rects[i].width; sums[c].3 += rects[i].height
        counts[c] += 1
    }
    var avg = [Rect]()
    for c in 0..<nc {
        let s = 1.0 / Double(counts[c])
        avg.append(Rect(x: cvRound(Double(sums[c].0) * s), y: cvRound(Double(sums[c].1) * s),
                        width: cvRound(Double(sums[c].2) * s), height: cvRound(Double(sums[c].3) * s)))
    }
    var out = [Rect]()
    for i in 0..<nc {
        let r1 = avg[i], n1 = counts[i]
        if n1 <= groupThreshold { continue }
        var inside = false
        for j in 0..<nc {
            let n2 = counts[j]
            if j == i || n2 <= groupThreshold { continue }
            let r2 = avg[j]
            let dx = cvRound(Double(r2.width) * eps), dy = cvRound(Double(r2.height) * eps)
            if r1.x >= r2.x - dx && r1.y >= r2.y - dy && r1.x + r1.width <= r2.x + r2.width + dx
                && r1.y + r1.height <= r2.y + r2.height + dy && (n2 > max(3, n1) || n1 < 3) {
                inside = true
                break
            }
        }
        if !inside { out.append(r1) }
    }
    return out
}

/// Integral images with OpenCV's layout ((w+1)×(h+1), first row and column 0): sum (Int32), squared sum
/// (UInt32, wrapping as OpenCV's CV_32S sqsum; window differences stay exact) and the 45° tilted sum.
struct IntegralImages {
    let width: Int, height: Int
    var sum: [Int32]
    var sqsum: [UInt32]
    var tilted: [Int32]

    init(_ img: GrayImage, squared: Bool, tilted wantTilted: Bool) {
        width = img.width; height = img.height
        let w = width, h = height, s = w + 1
        var sum = [Int32](repeating: 0, count: s * (h + 1))
        var sq = [UInt32](repeating: 0, count: squared ? s * (h + 1) : 0)
        img.pixels.withUnsafeBufferPointer { px in
            sum.withUnsafeMutableBufferPointer { S in
                sq.withUnsafeMutableBufferPointer { Q in
                    for y in 0..<h {
                        var rs: Int32 = 0
                        var rq: UInt32 = 0
                        let row = px.baseAddress! + y * w
                        let up = (y) * s, cur = (y + 1) * s
                        if squared {
                            for x in 0..<w {
                                let v = Int32(row[x])
                                rs &+= v; rq &+= UInt32(v * v)
                                S[cur + x + 1] = S[up + x + 1] &+ rs
                                Q[cur + x + 1] = Q[up + x + 1] &+ rq
                            }
                        } else {
                            for x in 0..<w {
                                rs &+= Int32(row[x])
                                S[cur + x + 1] = S[up + x + 1] &+ rs
                            }
                        }
                    }
                }
            }
        }
        self.sum = sum
        self.sqsum = sq
        self.tilted = wantTilted ? IntegralImages.tiltedSum(img) : []
    }

    /// T(X, Y) = Σ over pixels (x, y) with y < Y and |x − (X − 1)| ≤ Y − 1 − y (OpenCV's tilted integral).
    static func tiltedSum(_ img: GrayImage) -> [Int32] {
        let w = img.width, h = img.height, s = w + 1
        // R(a, b): the cone with apex pixel (a, b), for a in −off ..< w + off, b in −2 ..< h
        let off = h + 2, ew = w + 2 * off
        var R = [Int32](repeating: 0, count: ew * (h + 2))
        func I(_ a: Int, _ b: Int) -> Int32 { (a >= 0 && a < w && b >= 0 && b < h) ? Int32(img.pixels[b * w + a]) : 0 }
        for b in 0..<h {
            let rb = (b + 2) * ew, r1 = (b + 1) * ew, r2 = b * ew
            for ai in 0..<ew {
                let a = ai - off
                let left = ai > 0 ? R[r1 + ai - 1] : 0
                let right = ai + 1 < ew ? R[r1 + ai + 1] : 0
                R[rb + ai] = left &+ right &- R[r2 + ai] &+ I(a, b) &+ I(a, b - 1)
            }
        }
        var T = [Int32](repeating: 0, count: s * (h + 1))
        for Y in 1...max(h, 1) where h > 0 {
            for X in 0...w { T[Y * s + X] = R[(Y - 1 + 2) * ew + (X - 1 + off)] }
        }
        return T
    }
}
