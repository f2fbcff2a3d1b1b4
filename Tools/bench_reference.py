#!/usr/bin/env python3
"""Runs the paper's network in emotion3d (`emotion3d bench`), PyTorch (CPU) and ONNX Runtime with the
same thread count in one run, and prints the ratios.

    Tools/install_bench_tools.sh    # PyTorch, ONNX Runtime and onnx from PyPI
    swift build -c release
    python3 Tools/bench_reference.py --binary .build/release/emotion3d --threads 2

Each peer configuration runs in its own subprocess so that its peak RSS is its own. PyTorch 2.13.0+cpu
and onnxruntime from PyPI; the network mirrors `PaperNetwork` (ReLU, max pooling, temporal kernel 3).
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

CONFIGS = {  # name: (height/width, filter divisor, hidden units)
    "full": (112, 1, 4096),
    "small": (48, 4, 512),
}


def build_model(name):
    import torch
    from torch import nn
    size, divisor, hidden = CONFIGS[name]
    groups = [[64], [128], [256, 256], [512, 512], [512, 512]]
    pools = [((1, 2, 2), (1, 2, 2), 0), (2, 2, 0), (2, 2, 0), (2, 2, 0), ((1, 2, 2), 2, (0, 1, 1))]
    layers, channels = [], 3
    for filters, (kernel, stride, padding) in zip(groups, pools):
        for count in filters:
            count = max(1, count // divisor)
            layers += [nn.Conv3d(channels, count, 3, padding=1), nn.BatchNorm3d(count), nn.ReLU()]
            channels = count
        layers.append(nn.MaxPool3d(kernel, stride, padding))
    features = nn.Sequential(*layers)
    with torch.no_grad():
        flat = features(torch.zeros(1, 3, 10, size, size)).numel()
    classifier = nn.Sequential(
        nn.Linear(flat, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(hidden, 7))
    return nn.Sequential(features, nn.Flatten(), classifier), size


def child(args):
    """One measurement in this process: prints {"ms_per_clip": …, "peak_rss_mib": …}."""
    import torch
    torch.set_num_threads(args.threads)
    model, size = build_model(args.network)
    batch, repeats = args.batch, args.repeats
    clip = torch.rand(batch, 3, 10, size, size)
    if args.peer == "torch-train":
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
        labels = torch.randint(0, 7, (batch,))
        def step():
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(clip), labels).backward()
            optimizer.step()
    elif args.peer == "torch-infer":
        model.eval()
        def step():
            with torch.no_grad():
                model(clip)
    else:  # ort-infer
        import onnxruntime as ort
        model.eval()
        path = os.path.join(tempfile.mkdtemp(), "model.onnx")
        torch.onnx.export(model, (clip,), path, input_names=["input"], output_names=["logits"], dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {"input": clip.numpy()}
        def step():
            session.run(None, feed)
    step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms_per_clip": best * 1000 / batch, "peak_rss_mib": rss}))


def run_child(args, peer, network, batch):
    command = [sys.executable, __file__, "--child", "--peer", peer, "--network", network, "--batch", str(batch),
               "--threads", str(args.threads), "--repeats", str(args.repeats)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/emotion3d")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--small-batch", type=int, default=30)
    parser.add_argument("--full-inference", default="1,4")
    parser.add_argument("--full-training", default="4")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-ort", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="runs of both sides; the fastest of each counts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--network", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds: expected at least 1, got {args.rounds}")
    if args.child:
        return child(args)

    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"threads {args.threads}, load average at start {load}")
    report = os.path.join(tempfile.mkdtemp(), "bench.json")
    command = [args.binary, "bench", "--small-batch", str(args.small_batch), "--full-inference", args.full_inference,
               "--full-training", args.full_training, "--repeats", str(args.repeats), "--layer-batch", "0", "--json", report]
    if args.skip_full:
        command.append("--skip-full")
    # Each round runs emotion3d, then every peer; the fastest time of each side over the rounds
    # counts, so a burst of load on this shared machine during one side's turn weighs less.
    ours_times, peer_times, ours_rss, peer_rss, rows, peaks = {}, {}, {}, {}, [], []
    for _ in range(args.rounds):
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(report) as f:
            ours = json.load(f)
        peaks.append(ours["fmaPeakAllCores"])
        rows = ours["rows"]
        for row in rows:
            key = (row["network"], row["mode"], row["batch"])
            ours_times.setdefault(key, []).append(row["msPerClip"])
            ours_rss[key] = max(ours_rss.get(key, 0), row["peakRSSMiB"])
            peers = ["torch-infer"] + ([] if args.skip_ort else ["ort-infer"]) if row["mode"] == "inference" else ["torch-train"]
            for peer in peers:
                theirs = run_child(args, peer, row["network"], row["batch"])
                peer_times.setdefault(key + (peer,), []).append(theirs["ms_per_clip"])
                peer_rss[key + (peer,)] = max(peer_rss.get(key + (peer,), 0), theirs["peak_rss_mib"])
    print(f"emotion3d: FMA peak {max(peaks):.0f} GFLOP/s on {ours['threads']} threads "
          f"({ours.get('fmaLanes', 8)}-lane FMA), OpenBLAS kernels {ours.get('blasCore', '?')}; {args.rounds} round(s)")

    header = f"{'network':8} {'mode':10} {'batch':>5} {'emotion3d ms':>13} {'peer':12} {'peer ms':>9} {'speed-up':>9} {'RSS ratio':>10}"
    print(header)
    print("-" * len(header))
    spread = lambda times: "" if len(times) < 2 else f"  ({'/'.join(f'{t:.1f}' for t in times)})"
    for row in rows:
        key = (row["network"], row["mode"], row["batch"])
        for peer_key in [k for k in peer_times if k[:3] == key]:
            ms, theirs = min(ours_times[key]), min(peer_times[peer_key])
            memory = ours_rss[key] / peer_rss[peer_key]
            print(f"{row['network']:8} {row['mode']:10} {row['batch']:5d} {ms:13.1f} {peer_key[3]:12} "
                  f"{theirs:9.1f} {theirs / ms:8.2f}x {memory:9.2f}x{spread(ours_times[key])}{spread(peer_times[peer_key])}")
    print("speed-up = peer ms / emotion3d ms (>1: emotion3d faster), fastest of each side over the rounds (each "
          "round's times in brackets). RSS ratio = emotion3d peak RSS (whole bench process so far) / peer peak RSS "
          "(own process), largest over the rounds.")


if __name__ == "__main__":
    main()
