#!/usr/bin/env bash
# Throughput of the face preprocessing (decode, detect per frame, track, crop, resize 112, CLAHE) on
# Fixtures/vision/media/face_h264.mp4 (30 frames 320x240 H.264): OpenCV's Python pipeline and Vision's, in one
# run, alternating, so both see the same machine load. Usage: Tools/vision_bench.sh [repetitions]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-20}"
swift build --scratch-path .build-vision --build-tests >/dev/null
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
for round in 1 2; do
  python3 Tools/vision_reference.py bench --reps "$reps" | grep VISION_BENCH
  VISION_BENCH=1 VISION_BENCH_REPS="$reps" swift test --scratch-path .build-vision --skip-build \
    --filter BenchmarkTests 2>&1 | grep VISION_BENCH
done
