"""Time to certify the optimal rule list on COMPAS: gaplens' RuleListClassifier vs. the C++ CORELS.

Both search the *same* antecedent set: the C++ CORELS (pycorels) mines the one-hot COMPAS columns
with ``max_card=2`` (each feature, its negation, and pairs of them); this script rebuilds exactly
that set as a 0-1 matrix and hands it to gaplens with ``max_card=1, negations=False`` (a
pre-mined set is used as given). Each fit runs in its own process so its peak memory (max RSS)
is its own.

    python benchmarks/rules.py --corels-python /tmp/corelsvenv/bin/python

The C++ peer is never a gaplens dependency: build pycorels 1.1.29 from its sdist in a separate
venv (regenerate ``_corels.cpp`` with ``cython --cplus``; replace ``np.array(x, copy=False)`` by
``np.asarray(x)`` in ``corels/utils.py`` and ``dtype=np.bool`` by ``bool`` in ``corels/corels.py``).
Without ``--corels-python`` only gaplens runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPAS = ROOT / ".." / "shared" / "data" / "compas"
LABEL = "recidivate-within-two-years"

_LOAD = textwrap.dedent(f"""
    import json, resource, time, itertools, sys
    import numpy as np, pandas as pd
    train = pd.read_csv({str(COMPAS / "compas_train.csv")!r})
    y = train[{LABEL!r}].to_numpy()
    onehot = pd.get_dummies(train.drop(columns={LABEL!r}).astype(str)).astype(np.uint8)

    def corels_set(onehot, min_support):
        # pycorels' mine_rules: features, then their negations; pairs of the mined items
        cols = [(c, onehot[c].to_numpy().astype(bool)) for c in onehot.columns]
        items = cols + [(c + "-not", ~v) for c, v in cols]
        n = len(onehot)
        mine = [(c, v) for c, v in items if v.sum() / n >= min_support]
        out = [(c, v) for c, v in mine if v.sum() / n <= 1 - min_support]
        for (a, va), (b, vb) in itertools.combinations(mine, 2):
            s = (va & vb).sum() / n
            if min_support <= s <= 1 - min_support:
                out.append((a + "," + b, va & vb))
        return pd.DataFrame({{c: v.astype(np.uint8) for c, v in out}})

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
""")

_GAPLENS = _LOAD + textwrap.dedent("""
    from gaplens.interpretable import RuleListClassifier
    args = json.loads(sys.argv[1])
    if args["mining"] == "corels":
        X, kw = corels_set(onehot, 0.01), dict(max_card=1, negations=False)
    else:
        X, kw = train.drop(columns=["recidivate-within-two-years"]), dict(max_card=2)
    clf = RuleListClassifier(regularization=args["lam"], min_support=0.01, policy=args["policy"],
                             bounds=tuple(args["bounds"]), time_limit=args["time_limit"], **kw)
    t = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - t
    print(json.dumps({"objective": clf.objective_, "certified": clf.certified_, "seconds": seconds,
                      "search_seconds": clf.search_.elapsed, "nodes": clf.n_nodes_, "queued": clf.search_.n_queued,
                      "max_queue": clf.search_.max_queue, "antecedents": len(clf.antecedents_),
                      "rules": len(clf.rules_) - 1, "peak_mb": peak_mb(), "text": str(clf)}))
""")

_CORELS = _LOAD + textwrap.dedent("""
    from corels import CorelsClassifier
    args = json.loads(sys.argv[1])
    X = onehot.to_numpy()
    clf = CorelsClassifier(c=args["lam"], n_iter=10**9, max_card=2, min_support=0.01, policy=args["policy"],
                           verbosity=[])
    t = time.perf_counter()
    clf.fit(X, y, features=list(onehot.columns))
    seconds = time.perf_counter() - t
    rules = clf.rl_.rules
    pred = clf.predict(X)
    errors = float(np.mean(pred != y))
    print(json.dumps({"objective": errors + args["lam"] * (len(rules) - 1), "seconds": seconds,
                      "rules": len(rules) - 1, "peak_mb": peak_mb(), "text": str(clf.rl_),
                      "antecedents": corels_set(onehot, 0.01).shape[1]}))
""")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(python: str, script: str, args: dict, timeout: float) -> dict:
    """One fit in its own process; ``cpu_seconds`` is that process's CPU time (user + system),
    which, unlike wall time, a busy machine does not inflate (both fits are single-threaded)."""
    before = _cpu_seconds()
    try:
        out = subprocess.run([python, "-c", script, json.dumps(args)], capture_output=True, text=True,
                             timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"not finished within {timeout:.0f} s"}
    cpu = _cpu_seconds() - before
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "cpu_seconds": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corels-python", help="a Python with pycorels built (the C++ peer)")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.01, 0.005])
    parser.add_argument("--policy", default="lower_bound")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--ablation-limit", type=float, default=120, help="seconds per bound-off run")
    args = parser.parse_args()
    if not (COMPAS / "compas_train.csv").is_file():
        sys.exit(f"COMPAS data not found in {COMPAS}")
    from gaplens.interpretable import BOUNDS

    rows = []
    for lam in args.lambdas:
        base = {"lam": lam, "policy": args.policy, "bounds": list(BOUNDS), "time_limit": None}
        ours = _run(sys.executable, _GAPLENS, {**base, "mining": "corels"}, args.timeout)
        rows.append({"impl": "gaplens (same antecedents)", "lambda": lam, **ours})
        print(json.dumps(rows[-1]), flush=True)
        own = _run(sys.executable, _GAPLENS, {**base, "mining": "gaplens"}, args.timeout)
        rows.append({"impl": "gaplens (own mining)", "lambda": lam, **own})
        print(json.dumps(rows[-1]), flush=True)
        if args.corels_python:
            peer = _run(args.corels_python, _CORELS, base, args.timeout)
            rows.append({"impl": "C++ CORELS 1.1.29", "lambda": lam, **peer})
            print(json.dumps(rows[-1]), flush=True)
    lam = args.lambdas[0]
    for off in BOUNDS:
        bounds = [b for b in BOUNDS if b != off]
        ablated = _run(sys.executable, _GAPLENS, {"lam": lam, "policy": args.policy, "bounds": bounds,
                                                  "time_limit": args.ablation_limit, "mining": "corels"},
                       args.timeout)
        rows.append({"impl": f"gaplens without {off}", "lambda": lam, **ablated})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
