#!/usr/bin/env python3
"""Optuna 5 reference for HyperSearch's TPE (pip install optuna==5.0.0).

  python3 Tools/tpe_reference.py fixtures   # writes Fixtures/hypersearch/parzen_optuna.json: Optuna's
                                            # _ParzenEstimator log densities for fixed cases (the Swift test
                                            # ParzenEstimatorTests.matchesOptuna compares against them)
  python3 Tools/tpe_reference.py benchmark  # Optuna's TPE vs random on Branin and Hartmann-6 (20 seeds x 100
                                            # trials, median best) and its suggestion time at 1000 trials
"""
import json
import math
import sys
import time

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.sampler import default_weights

optuna.logging.set_verbosity(optuna.logging.WARNING)


def dist_json(d):
    if isinstance(d, CategoricalDistribution):
        return {"type": "categorical", "choices": list(d.choices)}
    if isinstance(d, IntDistribution):
        return {"type": "int", "low": d.low, "high": d.high, "step": d.step, "log": d.log}
    return {"type": "float", "low": d.low, "high": d.high, "step": d.step, "log": d.log}


def fixtures():
    # With tied observations (discrete parameters), which tied kernel gets which bandwidth depends on
    # np.argsort's tie order, which is not stable (introsort, or AVX-512 sorting on CPUs that have it). Our
    # estimator breaks ties by trial order; run Optuna's code with a stable argsort for the comparison.
    import optuna.samplers._tpe.parzen_estimator as pe_module

    class _StableNumpy:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def argsort(a, *args, **kwargs):
            return np.argsort(a, kind="stable")

    pe_module.np = _StableNumpy()
    cases = []
    spaces = {
        "float": {"x": FloatDistribution(-2.0, 3.0)},
        "float_log": {"x": FloatDistribution(1e-4, 1.0, log=True)},
        "float_step": {"x": FloatDistribution(0.0, 1.0, step=0.1)},
        "int_step": {"x": IntDistribution(1, 9, step=2)},
        "int_log": {"x": IntDistribution(1, 1000, log=True)},
        "categorical": {"x": CategoricalDistribution(["a", "b", "c", "d", "e"])},
        "joint": {
            "a": CategoricalDistribution(["relu", "elu", "mish"]),
            "t": IntDistribution(1, 9, step=2),
            "d": FloatDistribution(0.0, 1.0),
            "lr": FloatDistribution(1e-5, 1e-1, log=True),
        },
    }
    params = _ParzenEstimatorParameters(
        prior_weight=1.0, consider_magic_clip=True, consider_endpoints=False, weights=default_weights,
        multivariate=True)
    for name, space in spaces.items():
        for n in [0, 1, 5, 40]:
            # Observations and query points: Optuna's own random sampler draws, in internal representation.
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=n + 7))
            obs = {k: [] for k in space}
            for _ in range(n + 10):
                t = study.ask(space)
                for k, d in space.items():
                    obs[k].append(d.to_internal_repr(t.params[k]))
            observations = {k: np.asarray(v[:n], dtype=float) for k, v in obs.items()}
            queries = {k: np.asarray(v[n:], dtype=float) for k, v in obs.items()}
            pe = _ParzenEstimator(observations, space, params)
            logpdf = pe.log_pdf(queries)
            cases.append({
                "name": f"{name}-{n}",
                "space": [dict(dist_json(d), name=k) for k, d in space.items()],
                "observations": [[float(observations[k][i]) for k in space] for i in range(n)],
                "queries": [[float(queries[k][i]) for k in space] for i in range(10)],
                "log_pdf": [float(v) for v in logpdf],
            })
    out = {"optuna": optuna.__version__, "cases": cases}
    with open("Fixtures/hypersearch/parzen_optuna.json", "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote Fixtures/hypersearch/parzen_optuna.json ({len(cases)} cases, Optuna {optuna.__version__})")


def branin(t):
    x1, x2 = t.suggest_float("x1", -5, 10), t.suggest_float("x2", 0, 15)
    b, c, r = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - r) * math.cos(x1) + 10


A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
P = np.array([[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
              [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]])
ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(t):
    x = np.array([t.suggest_float(f"x{i}", 0, 1) for i in range(1, 7)])
    return float(-np.sum(ALPHA * np.exp(-np.sum(A * (x - P) ** 2, axis=1))))


def benchmark():
    for name, f in [("branin", branin), ("hartmann6", hartmann6)]:
        for label, make in [("random", lambda s: optuna.samplers.RandomSampler(seed=s)),
                            ("TPE (Optuna 5 defaults)", lambda s: optuna.samplers.TPESampler(seed=s))]:
            bests = []
            for s in range(20):
                st = optuna.create_study(sampler=make(s))
                st.optimize(f, n_trials=100)
                bests.append(st.best_value)
            print(f"{name}: {label}: median best {np.median(bests):.6g}")
    space = {
        "optimizer": CategoricalDistribution(["lookahead_adam", "adam"]), "clahe": CategoricalDistribution([True, False]),
        "normalization": CategoricalDistribution([True, False]),
        "activation": CategoricalDistribution(["relu", "elu", "prelu", "leaky_relu", "mish"]),
        "loss_weights": CategoricalDistribution([True, False]), "temporal_size": IntDistribution(1, 9, step=2),
        "initializer": CategoricalDistribution(["xavier_uniform", "xavier_normal", "default"]),
        "pooling": CategoricalDistribution(["avg", "max"]), "second_conv": CategoricalDistribution([True, False]),
        "dropout": FloatDistribution(0, 1),
    }
    st = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=5))
    for _ in range(1000):
        t = st.ask(space)
        st.tell(t, t.params["dropout"])
    st.sampler = optuna.samplers.TPESampler(seed=1)
    n = 20
    t0 = time.process_time()
    for _ in range(n):
        t = st.ask(space)
        st.tell(t, t.params["dropout"])
    print(f"Optuna TPE suggestion at 1000 trials, Table 1 space: {(time.process_time() - t0) / n * 1000:.1f} ms CPU "
          "(ask + tell, in-memory storage)")


if __name__ == "__main__":
    {"fixtures": fixtures, "benchmark": benchmark}[sys.argv[1] if len(sys.argv) > 1 else "fixtures"]()
