"""Does the sampler learn where the models within a deployment limit are?

scratch_cnn on the built-in digits at 32 px, --max-params 60k (about half of the space's
models are over it), 30 trials of 1 epoch, no pruner, no portfolio, 3 seeds. Printed per
sampler: the share of trials 10-29 (after TPE's random start) that were over the limit, and
the best validation accuracy. Random sampling cannot learn the limit, so its share is the
baseline; TPE reads the constraints every trial carries (`trial.set_constraint`).

Usage: python benchmarks/limits.py [--trials N] [--seeds K]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402

import automl  # noqa: E402
from automl.study.limits import Limits  # noqa: E402

CUT = 60_000
START = 10  # trials before TPE models the space (startup_trials(30))


def run(sampler: str, seed: int, trials: int, home: Path) -> tuple[float, float]:
    study = automl.search(
        study=f"{sampler}{seed}",
        trials=trials,
        epochs=1,
        resolution=32,
        pruner="none",
        portfolio=False,
        sampler=sampler,
        seed=seed,
        studies_dir=home,
        limits=Limits(max_params=CUT),
    )
    late = [t for t in study.trials if t.number >= START]
    over = sum(bool(t.user_attrs.get("over_limits")) for t in late) / len(late)
    return over, max(t.value for t in study.trials if t.value is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(machine_line())
    print(f"scratch_cnn, digits 32 px, --max-params {CUT}, {args.trials} trials x 1 epoch")
    print(f"{'sampler':8} {'over the limit, trials ' + str(START) + '+':>30} {'best val_acc':>14}")
    shares = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in ("random", "tpe"):
            runs = [run(sampler, s, args.trials, Path(tmp)) for s in range(args.seeds)]
            over = [o for o, _ in runs]
            best = [b for _, b in runs]
            shares[sampler] = statistics.mean(over)
            print(
                f"{sampler:8} {statistics.mean(over):>22.2f} "
                f"({', '.join(f'{o:.2f}' for o in over)}) {statistics.mean(best):>10.4f}"
            )
    print(f"ratio tpe / random, share over the limit: {shares['tpe'] / shares['random']:.2f}")


if __name__ == "__main__":
    main()
