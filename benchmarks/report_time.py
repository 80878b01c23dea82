"""Wall time of `automl report` on a 30-trial finalized study and a 1,000-trial study.

Both studies are synthetic scratch_cnn studies on the built-in digits, made with plain optuna
(no search): the 30-trial one is then finalized for real (retraining its best config, not
timed) so the report draws every model figure; the 1,000-trial one stays unfinalized.
Usage: python benchmarks/report_time.py [--studies-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automl.api import finalize  # noqa: E402
from automl.data import open_source  # noqa: E402
from automl.reporting import report  # noqa: E402
from tests.reporting.synthetic import scratch_study  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies-dir", type=Path, default=None)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies_dir = args.studies_dir or Path(tempfile.mkdtemp(prefix="report_time_"))
    studies_dir.mkdir(parents=True, exist_ok=True)
    rows = {}
    for n, final in ((30, True), (1000, False)):
        name = f"synthetic{n}"
        storage = f"sqlite:///{studies_dir}/{name}.db"
        started = time.perf_counter()
        study = scratch_study(storage, name, n)
        made = time.perf_counter() - started
        fin = 0.0
        if final:
            study.set_user_attr("data_fingerprint", open_source().fingerprint)
            started = time.perf_counter()
            finalize(name, storage=storage, studies_dir=studies_dir)
            fin = time.perf_counter() - started
        started = time.perf_counter()
        index = report(name, storage=storage, studies_dir=studies_dir)
        rows[n] = {
            "trials": n,
            "finalized": final,
            "report_s": round(time.perf_counter() - started, 2),
            "make_study_s": round(made, 2),
            "finalize_s": round(fin, 2),
            "index": str(index),
        }
        print(
            f"{n:>5} trials{' (finalized)' if final else '            '}: report "
            f"{rows[n]['report_s']:.1f} s   [study made in {made:.1f} s"
            + (f", finalize {fin:.1f} s]" if final else "]"),
            flush=True,
        )
    out = ROOT / "benchmarks" / "results" / "report_time.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
