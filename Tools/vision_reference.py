#!/usr/bin/env python3
"""Reference outputs for the Vision module, made with OpenCV (opencv-python-headless<5).

Usage:
    python3 Tools/vision_reference.py [media] [ops] [detect] [bench]    (default: media ops detect)

  media   tiny test videos and image sequences (needs the ffmpeg CLI: apt-get install -y ffmpeg)
  ops     CLAHE, resize, rotation, contrast, flip references (PGM) on real face photographs
  detect  cv2.CascadeClassifier.detectMultiScale boxes (JSON) with Debian's opencv-data cascades
  bench   times OpenCV's Python preprocessing pipeline on Fixtures/vision/media/face_h264.mp4
          (Tools/vision_bench.sh runs it together with the Swift pipeline)

Face photographs come from scikit-image's bundled data (installed from PyPI):
  astronaut  Eileen Collins, NASA Great Images, public domain ("no known copyright restrictions")
  camera     cameraman by Lav Varshney, CC0
Only derived small images (grey conversions, crops, composites) are committed. The face video is made from
the astronaut photograph by a moving, zooming crop (no public-domain face video ships with PyPI or Debian).
"""
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Fixtures", "vision")
CASCADES = "/usr/share/opencv4"


def ensure_packages():
    try:
        import cv2  # noqa: F401
        import skimage  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                               "opencv-python-headless<5", "scikit-image", "numpy"])


ensure_packages()
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402


def write_pgm(path, img):
    assert img.dtype == np.uint8 and img.ndim == 2
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (img.shape[1], img.shape[0]))
        f.write(np.ascontiguousarray(img).tobytes())


def read_pgm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(maxsplit=4)
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(parts[4][: w * h], np.uint8).reshape(h, w)


def photos():
    """Real face photographs (grey, as the pipeline sees them) and a colour one."""
    astro_rgb = skimage.data.astronaut()                       # 512x512x3 RGB, public domain
    astro = cv2.cvtColor(astro_rgb, cv2.COLOR_RGB2GRAY)
    camera = skimage.data.camera()                             # 512x512 grey, CC0
    return astro_rgb, astro, camera


def group_image(astro):
    """Three faces at different scales on a grey background (for the 'same number of faces' check)."""
    canvas = np.full((360, 640), 120, np.uint8)
    face = astro[0:300, 100:330]                               # head and shoulders of the astronaut
    for (x, y, s) in [(10, 20, 1.0), (300, 60, 0.7), (480, 150, 0.5)]:
        f = cv2.resize(face, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        h, w = f.shape
        h = min(h, canvas.shape[0] - y)
        canvas[y:y + h, x:x + w] = f[:h]
    return canvas


# ---------------------------------------------------------------------------------------------- media
def ffmpeg(*args):
    subprocess.check_call(["ffmpeg", "-loglevel", "error", "-y", *args])


def face_frames(astro_rgb, n, size=(320, 240)):
    """n frames of a slow pan + zoom over the astronaut photograph (BGR for OpenCV writers)."""
    frames = []
    for i in range(n):
        t = i / max(n - 1, 1)
        zoom = 1.0 + 0.25 * t
        cw, ch = int(480 / zoom), int(360 / zoom)
        x0 = int(10 + 20 * t)
        y0 = int(0 + 15 * t)
        crop = astro_rgb[y0:y0 + ch, x0:x0 + cw]
        f = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return frames


def make_media():
    if shutil.which("ffmpeg") is None:
        sys.exit("media: needs the ffmpeg CLI (apt-get install -y ffmpeg)")
    astro_rgb, astro, camera = photos()
    media = os.path.join(FIX, "media")
    tmp = os.path.join(media, "_frames")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    # tiny colour clip, 12 frames 64x48, for codec/container decoding tests
    for i, f in enumerate(face_frames(astro_rgb, 12, (64, 48))):
        cv2.imwrite(os.path.join(tmp, "%03d.png" % i), f)
    src = ["-framerate", "10", "-i", os.path.join(tmp, "%03d.png")]
    ffmpeg(*src, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "2", os.path.join(media, "tiny_h264.mp4"))
    ffmpeg(*src, "-c:v", "libx265", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error",
           "-tag:v", "hvc1", os.path.join(media, "tiny_hevc.mov"))
    ffmpeg(*src, "-c:v", "mpeg4", "-q:v", "5", os.path.join(media, "tiny_mpeg4.avi"))
    ffmpeg(*src, "-c:v", "png", "-pix_fmt", "gray", os.path.join(media, "tiny_gray_png.avi"))
    # face video for tracking + throughput: 30 frames 320x240 H.264
    shutil.rmtree(tmp)
    os.makedirs(tmp)
    for i, f in enumerate(face_frames(astro_rgb, 30)):
        cv2.imwrite(os.path.join(tmp, "%03d.png" % i), f)
    ffmpeg("-framerate", "25", "-i", os.path.join(tmp, "%03d.png"), "-c:v", "libx264", "-crf", "20",
           "-pix_fmt", "yuv420p", os.path.join(media, "face_h264.mp4"))
    # the same face as HEVC in MP4 (the phone cameras' format)
    ffmpeg("-framerate", "25", "-i", os.path.join(tmp, "%03d.png"), "-c:v", "libx265", "-x265-params", "log-level=error",
           "-crf", "28", "-tag:v", "hvc1", "-pix_fmt", "yuv420p", os.path.join(media, "face_hevc.mp4"))
    shutil.rmtree(tmp)
    # CK+ layout: cohn-kanade-images/S005/001/S005_001_000000NN.png, grey, 7 frames (shorter than 10)
    ck = os.path.join(media, "ck", "S005", "001")
    shutil.rmtree(os.path.join(media, "ck"), ignore_errors=True)
    os.makedirs(ck)
    for i, f in enumerate(face_frames(astro_rgb, 7, (160, 120))):
        cv2.imwrite(os.path.join(ck, "S005_001_%08d.png" % (i + 1)), cv2.cvtColor(f, cv2.COLOR_BGR2GRAY))
    # Oulu-CASIA layout: VL/Strong/P001/Anger/000.jpeg ... colour JPEG, 12 frames (numbers to 011)
    ou = os.path.join(media, "oulu", "P001", "Anger")
    shutil.rmtree(os.path.join(media, "oulu"), ignore_errors=True)
    os.makedirs(ou)
    for i, f in enumerate(face_frames(astro_rgb, 12, (160, 120))):
        cv2.imwrite(os.path.join(ou, "%03d.jpeg" % i), f, [cv2.IMWRITE_JPEG_QUALITY, 85])
    counts = {}
    for name in ["tiny_h264.mp4", "tiny_hevc.mov", "tiny_mpeg4.avi", "tiny_gray_png.avi", "face_h264.mp4"]:
        cap = cv2.VideoCapture(os.path.join(media, name))
        n = 0
        while cap.read()[0]:
            n += 1
        counts[name] = n
    with open(os.path.join(media, "frame_counts.json"), "w") as f:
        json.dump(counts, f, indent=1, sort_keys=True)
    print("media:", counts)


# ------------------------------------------------------------------------------------------------ ops
def make_ops():
    astro_rgb, astro, camera = photos()
    ops = os.path.join(FIX, "ops")
    os.makedirs(ops, exist_ok=True)
    # inputs: grey face crops of real photographs (odd sizes exercise CLAHE's padding and resize)
    inputs = {
        "astro": astro[20:250, 120:330],       # 210x230 face of the astronaut
        "camera": camera[40:300, 180:380],     # 200x260 cameraman
    }
    manifest = {"opencv": cv2.__version__, "inputs": {}, "resize": [], "clahe": [], "rotate": [],
                "contrast": []}
    for name, img in inputs.items():
        img = np.ascontiguousarray(img)
        write_pgm(os.path.join(ops, name + ".pgm"), img)
        manifest["inputs"][name] = [img.shape[1], img.shape[0]]
        for (w, h) in [(112, 112), (105, 115), (70, 46), (300, 333), (420, 460)]:
            interp = cv2.INTER_AREA if (w <= img.shape[1] and h <= img.shape[0]) else cv2.INTER_LINEAR
            out = cv2.resize(img, (w, h), interpolation=interp)
            fn = "%s_resize_%dx%d.pgm" % (name, w, h)
            write_pgm(os.path.join(ops, fn), out)
            manifest["resize"].append({"input": name, "width": w, "height": h, "file": fn,
                                       "interpolation": "area" if interp == cv2.INTER_AREA else "linear"})
        for clip, tiles in [(2.0, 8), (4.0, 4), (1.0, 8)]:
            out = cv2.createCLAHE(clipLimit=clip, tileGridSize=(tiles, tiles)).apply(img)
            fn = "%s_clahe_%g_%d.pgm" % (name, clip, tiles)
            write_pgm(os.path.join(ops, fn), out)
            manifest["clahe"].append({"input": name, "clipLimit": clip, "tiles": tiles, "file": fn})
        for angle in [-30.0, -12.5, 7.0, 30.0]:
            h, w = img.shape
            M = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
            out = cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=0)
            fn = "%s_rotate_%g.pgm" % (name, angle)
            write_pgm(os.path.join(ops, fn), out)
            manifest["rotate"].append({"input": name, "angle": angle, "file": fn})
        for alpha in [0.22, 1.37, 2.2]:
            # imgaug's LinearContrast: 127 + alpha * (v - 127), clipped, rounded
            out = np.clip(np.round(127 + alpha * (img.astype(np.float64) - 127)), 0, 255).astype(np.uint8)
            fn = "%s_contrast_%g.pgm" % (name, alpha)
            write_pgm(os.path.join(ops, fn), out)
            manifest["contrast"].append({"input": name, "alpha": alpha, "file": fn})
    # a 112x112 CLAHE on the full pipeline size
    img = cv2.resize(inputs["astro"], (112, 112), interpolation=cv2.INTER_AREA)
    out = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(img)
    write_pgm(os.path.join(ops, "astro112.pgm"), img)
    write_pgm(os.path.join(ops, "astro112_clahe_2_8.pgm"), out)
    manifest["inputs"]["astro112"] = [112, 112]
    manifest["clahe"].append({"input": "astro112", "clipLimit": 2.0, "tiles": 8, "file": "astro112_clahe_2_8.pgm"})
    # colour -> grey on the colour photograph, and tilted integral on a crop
    small = np.ascontiguousarray(astro_rgb[0:64, 150:214])
    with open(os.path.join(ops, "astro_rgb64.ppm"), "wb") as f:
        f.write(b"P6\n64 64\n255\n" + small.tobytes())
    write_pgm(os.path.join(ops, "astro_rgb64_gray.pgm"), cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    g = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    s, sq, t = cv2.integral3(g, sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)
    with open(os.path.join(ops, "astro_rgb64_integral.i32"), "wb") as f:
        f.write(s.astype("<i4").tobytes())
    with open(os.path.join(ops, "astro_rgb64_tilted.i32"), "wb") as f:
        f.write(t.astype("<i4").tobytes())
    with open(os.path.join(ops, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("ops: %d resize, %d clahe, %d rotate" % (len(manifest["resize"]), len(manifest["clahe"]),
                                                   len(manifest["rotate"])))


# --------------------------------------------------------------------------------------------- detect
DETECT_CASES = [
    # (image, cascade, scaleFactor, minNeighbors, minSize)
    ("astro", "haarcascades/haarcascade_frontalface_default.xml", 1.1, 3, 30),
    ("astro", "haarcascades/haarcascade_frontalface_alt2.xml", 1.1, 3, 30),
    ("astro", "lbpcascades/lbpcascade_frontalface_improved.xml", 1.1, 3, 30),
    ("astro", "lbpcascades/lbpcascade_frontalface.xml", 1.2, 3, 24),
    ("camera", "haarcascades/haarcascade_frontalface_default.xml", 1.1, 3, 30),
    ("camera", "haarcascades/haarcascade_frontalface_alt.xml", 1.1, 3, 30),
    ("group", "haarcascades/haarcascade_frontalface_default.xml", 1.1, 5, 24),
    ("group", "haarcascades/haarcascade_frontalface_alt2.xml", 1.05, 3, 24),
    ("group", "lbpcascades/lbpcascade_frontalface_improved.xml", 1.1, 3, 30),
    ("astro", "haarcascades/haarcascade_eye_tree_eyeglasses.xml", 1.1, 3, 20),   # trees + tilted features
    ("astro", "haarcascades/haarcascade_smile.xml", 1.1, 3, 20),                  # tilted, many boxes
    ("astro256", "haarcascades/haarcascade_frontalface_alt_tree.xml", 1.1, 3, 24),
]


def make_detect():
    astro_rgb, astro, camera = photos()
    det = os.path.join(FIX, "detect")
    os.makedirs(det, exist_ok=True)
    images = {"astro": astro, "camera": camera, "group": group_image(astro),
              "astro256": cv2.resize(astro, (256, 256), interpolation=cv2.INTER_AREA)}
    for name, img in images.items():
        write_pgm(os.path.join(det, name + ".pgm"), img)
    cases = []
    for (name, cascade, sf, mn, ms) in DETECT_CASES:
        cc = cv2.CascadeClassifier(os.path.join(CASCADES, cascade))
        assert not cc.empty(), cascade
        boxes = cc.detectMultiScale(images[name], scaleFactor=sf, minNeighbors=mn, minSize=(ms, ms))
        boxes = [list(map(int, b)) for b in boxes]
        raw = len(cc.detectMultiScale(images[name], scaleFactor=sf, minNeighbors=0, minSize=(ms, ms)))
        cases.append({"raw": raw, "image": name + ".pgm", "cascade": cascade, "scaleFactor": sf, "minNeighbors": mn,
                      "minSize": ms, "boxes": boxes})
        print("detect:", name, os.path.basename(cascade), boxes)
    # bit-exact pyramid level (INTER_LINEAR_EXACT) used by detectMultiScale
    lvl = cv2.resize(astro, (round(512 / 1.331), round(512 / 1.331)), interpolation=cv2.INTER_LINEAR_EXACT)
    write_pgm(os.path.join(det, "astro_exact_385.pgm"), lvl)
    with open(os.path.join(det, "detections.json"), "w") as f:
        json.dump({"opencv": cv2.__version__, "cases": cases}, f, indent=1)


# ---------------------------------------------------------------------------------------------- bench
def opencv_pipeline(path, cc, clahe, n=10, size=112, margin=0.2):
    """The same steps as Vision's ClipBuilder: decode all frames, keep the last n, detect per frame,
    median face box with margin, crop, resize (INTER_AREA), CLAHE."""
    cap = cv2.VideoCapture(path)
    frames = []
    total = 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        total += 1
        frames.append(f)
        if len(frames) > n:
            frames.pop(0)
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    boxes = []
    for g in grays:
        d = cc.detectMultiScale(g, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))
        if len(d):
            boxes.append(max(d, key=lambda b: b[2] * b[3]))
    h, w = grays[0].shape
    if boxes:
        b = np.median(np.array(boxes), axis=0)
        side = int(round(max(b[2], b[3]) * (1 + 2 * margin)))
        side = min(side, w, h)
        x = int(round(b[0] + b[2] / 2 - side / 2))
        y = int(round(b[1] + b[3] / 2 - side / 2))
        x, y = min(max(x, 0), w - side), min(max(y, 0), h - side)
    else:
        side = min(w, h)
        x, y = (w - side) // 2, (h - side) // 2
    out = [clahe.apply(cv2.resize(g[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA))
           for g in grays]
    return out, total


def bench(reps=20):
    path = os.path.join(FIX, "media", "face_h264.mp4")
    cc = cv2.CascadeClassifier(os.path.join(CASCADES, "haarcascades/haarcascade_frontalface_default.xml"))
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    out, total = opencv_pipeline(path, cc, clahe)
    t0 = time.perf_counter()
    for _ in range(reps):
        opencv_pipeline(path, cc, clahe)
    dt = time.perf_counter() - t0
    print("VISION_BENCH opencv %s (%d threads): %d runs of %s: %.2f ms/sequence, %.1f clip frames/s, "
          "%.1f decoded frames/s" % (cv2.__version__, cv2.getNumThreads(), reps, os.path.basename(path),
                                      1000 * dt / reps, reps * len(out) / dt, reps * total / dt))


if __name__ == "__main__":
    args = [a for i, a in enumerate(sys.argv[1:]) if not a.startswith("--") and sys.argv[i] != "--reps"]
    what = args or ["media", "ops", "detect"]
    for w in what:
        {"media": make_media, "ops": make_ops, "detect": make_detect,
         "bench": lambda: bench(int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 20)}[w]()
