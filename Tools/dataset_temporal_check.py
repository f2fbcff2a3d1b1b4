#!/usr/bin/env python3
"""How much of a clip cache's class information needs time: subject-independent accuracy of a simple linear
classifier (kernel ridge on standardised 28x28 pixels) with four feature sets:

  apex    the last frame only
  bag     per-pixel mean and standard deviation over the clip's frames (order-free: what per-frame features
          followed by temporal pooling can see)
  frames  all frames side by side (order kept, no local motion features)
  motion  last frame + mean frame-to-frame change + mean |second difference| (local temporal features, as a
          temporal kernel of 3 computes)
  timing  last frame + when each of 7x7 face regions changes (the frame where half of its total change is
          reached): the order in which parts of the face move

On the synthetic set, fear/surprise and anger/disgust share their apex, so "apex" should confuse them while
"motion" separates them. Usage:

    emotion3d prepare --dataset synthetic --subjects 20 --sequences-per-subject 14 --output syn.h5
    python3 Tools/dataset_temporal_check.py syn.h5 [--folds 10]
"""
import argparse
import json

import h5py
import numpy as np


def features(clips):
    x = clips[:, 0].astype(np.float32) / 255.0  # [N, T, H, W], channel 0 (grey replicated)
    n, t, h, w = x.shape
    k = h // 28
    x = x[:, :, : 28 * k, : 28 * k].reshape(n, t, 28, k, 28, k).mean(axis=(3, 5)).reshape(n, t, -1)
    d1 = np.diff(x, axis=1)
    d2 = np.diff(x, n=2, axis=1)
    # per 4x4-pixel region (7x7 regions): the time its cumulative absolute change reaches half of its total
    r = x.reshape(n, t, 7, 4, 7, 4).mean(axis=(3, 5)).reshape(n, t, 49)
    change = np.abs(np.diff(r, axis=1)).cumsum(axis=1)
    half = (change >= 0.5 * change[:, -1:, :]).argmax(axis=1).astype(np.float32) / (t - 1)
    return {
        "apex": x[:, -1],
        "bag": np.concatenate([x.mean(1), x.std(1)], 1),
        "frames": x.reshape(n, -1),
        "motion": np.concatenate([x[:, -1], d1.mean(1), np.abs(d2).mean(1)], 1),
        "timing": np.concatenate([x[:, -1], np.repeat(half, 8, axis=1)], 1),  # repeated: comparable weight
    }


def kernel_ridge_predict(xtr, ytr, xte, classes, lam):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    y = np.eye(classes)[ytr] * 2 - 1
    alpha = np.linalg.solve(a @ a.T + lam * a.shape[1] * np.eye(len(a)), y)
    return np.argmax(b @ a.T @ alpha, axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cache")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--lam", type=float, default=0.05)
    args = ap.parse_args()
    f = h5py.File(args.cache, "r")
    clips, labels = f["clips"][()], f["labels"][()]
    names = json.loads(f.attrs["class_names"])
    subjects = np.array(json.loads(f.attrs["subjects"]))
    order = sorted(set(subjects))
    fold_of = {s: i % args.folds for i, s in enumerate(order)}
    folds = np.array([fold_of[s] for s in subjects])
    pairs = [("fear", "surprise"), ("anger", "disgust")]
    print(f"{len(labels)} clips, {len(order)} subjects, {args.folds} subject folds; chance 1/{len(names)}")
    for name, x in features(clips).items():
        pred = np.empty_like(labels)
        for k in range(args.folds):
            te = folds == k
            if te.any():
                pred[te] = kernel_ridge_predict(x[~te], labels[~te], x[te], len(names), args.lam)
        line = f"{name:7s} 7-class {100 * np.mean(pred == labels):5.1f} %"
        for a, b in pairs:
            if a in names and b in names:
                ia, ib = names.index(a), names.index(b)
                m = (labels == ia) | (labels == ib)
                both = m & ((pred == ia) | (pred == ib))  # among clips given one of the pair: which one
                line += f" | {a}/{b}: {100 * np.mean(pred[both] == labels[both]):5.1f} % of {both.sum()}"
        print(line)


if __name__ == "__main__":
    main()
