#!/usr/bin/env python3
"""Reference values for EmotionRecognition's statistics, computed with SciPy.

Writes Fixtures/stats/reference.json: paired t-tests (scipy.stats.ttest_rel) on the paper's Tables 4-5 and on
seeded random samples, the regularised incomplete beta function (scipy.special.betainc), and sample means and
standard deviations (numpy, ddof=1). NaN is written as null. Run from the repository root:

    python3 Tools/stats_reference.py          # needs scipy and numpy (pip install scipy numpy)
"""
import json
import os
import warnings

import numpy as np
import scipy
from scipy import special, stats

FORMAT_VERSION = 1
OUT = os.path.join(os.path.dirname(__file__), "..", "Fixtures", "stats", "reference.json")


def number(v):
    v = float(v)
    if np.isnan(v):
        return None
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def ttest_case(name, a, b, alternative="two-sided"):
    r = stats.ttest_rel(a, b, alternative=alternative)
    return {"name": name, "alternative": alternative, "a": [float(x) for x in a], "b": [float(x) for x in b],
            "statistic": number(r.statistic), "pvalue": number(r.pvalue), "df": int(len(a) - 1)}


def main():
    # scipy warns about precision loss on the constant-difference case; its result is still the reference
    warnings.simplefilter("ignore", RuntimeWarning)
    cases = []
    # the paper, Table 4 (CK+, 10-fold): c1 is the CK+ architecture, c2 / c3 the Oulu-CASIA one (c3 pre-trained)
    c1 = [100.0] * 10
    c2 = [93.9, 100, 84.8, 78.7, 87.8, 93.9, 93.9, 96.8, 87.5, 90]
    c3 = [96.8, 96.8, 84.8, 93.9, 87.8, 93.9, 78.7, 96.8, 87.5, 93.9]
    cases.append(ttest_case("paper table 4: c1 vs c2", c1, c2))
    cases.append(ttest_case("paper table 4: c1 vs c3", c1, c3))
    # Table 5 (Oulu-CASIA, 10-fold): c2 the Oulu-CASIA architecture, c1 the CK+ one, c4 the CK+ one pre-trained
    o2 = [97.5, 97.5, 80, 82.5, 82.5, 80, 72.5, 97.5, 75, 77.5]
    o1 = [81.2, 81.2, 70.8, 75, 72.9, 72.9, 83.3, 72.9, 72.9, 87.5]
    o4 = [85, 97.5, 75, 82.5, 77.5, 70, 65, 97.5, 75, 72.5]
    cases.append(ttest_case("paper table 5: c2 vs c1", o2, o1))
    cases.append(ttest_case("paper table 5: c2 vs c4", o2, o4))
    # the paper's p-values (0.00057, 0.00067, 0.03650, 0.00597) are the one-sided ones
    cases.append(ttest_case("paper table 4: c1 vs c2, one-sided", c1, c2, "greater"))
    cases.append(ttest_case("paper table 4: c1 vs c3, one-sided", c1, c3, "greater"))
    cases.append(ttest_case("paper table 5: c2 vs c1, one-sided", o2, o1, "greater"))
    cases.append(ttest_case("paper table 5: c2 vs c4, one-sided", o2, o4, "greater"))

    rng = np.random.default_rng(20201005)
    for n, effect, spread in [(2, 0.5, 1.0), (3, 0.1, 0.05), (5, 0.0, 1.0), (10, 0.02, 0.03), (10, 2.0, 0.1),
                              (30, 0.01, 0.2), (118, 0.005, 0.05), (118, 0.5, 0.01), (7, -0.3, 0.4)]:
        a = rng.normal(0.8, 0.1, n)
        b = a - effect + rng.normal(0, spread, n)
        cases.append(ttest_case(f"random n={n} effect={effect} spread={spread}", a, b))
        cases.append(ttest_case(f"random n={n} effect={effect} spread={spread}, less", a, b, "less"))
    cases.append(ttest_case("constant non-zero difference", [1.0, 2.0, 3.0], [0.5, 1.5, 2.5]))
    cases.append(ttest_case("identical samples", [0.9, 0.8, 0.7], [0.9, 0.8, 0.7]))

    betainc = []
    for a, b, x in [(0.5, 0.5, 0.3), (1, 1, 0.42), (2, 3, 0.2), (4.5, 0.5, 0.9), (0.5, 4.5, 0.999), (5, 0.5, 0.01),
                    (50, 0.5, 0.95), (0.5, 50, 0.001), (100, 100, 0.5), (100, 100, 0.45), (0.1, 0.1, 0.5),
                    (1e-3, 2, 1e-6), (3, 0.5, 0.99999), (58.5, 0.5, 0.9999), (10, 10, 0.0), (10, 10, 1.0)]:
        betainc.append({"a": a, "b": b, "x": x, "value": number(special.betainc(a, b, x))})

    summaries = []
    for values in [c2, c3, o1, [0.5, 0.75], [97.56]]:
        summaries.append({"values": [float(v) for v in values], "mean": float(np.mean(values)),
                          "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0})

    doc = {"format": "emotion3d-stats-reference", "version": FORMAT_VERSION, "scipy": scipy.__version__,
           "numpy": np.__version__, "ttest_rel": cases, "betainc": betainc, "summary": summaries}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    # one record per line: small diffs when the references change
    lines = ["{"]
    items = list(doc.items())
    for i, (key, value) in enumerate(items):
        end = "," if i + 1 < len(items) else ""
        if isinstance(value, list):
            lines.append(f" {json.dumps(key)}: [")
            lines += [f"  {json.dumps(v)}" + ("," if j + 1 < len(value) else "") for j, v in enumerate(value)]
            lines.append(" ]" + end)
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}{end}")
    lines.append("}")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.normpath(OUT)} (scipy {scipy.__version__}, numpy {np.__version__})")
    for c in cases[:8]:
        print(f"  {c['name']}: t = {c['statistic']}, p = {c['pvalue']}")


if __name__ == "__main__":
    main()
