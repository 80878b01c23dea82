"""Where automl keeps things under a studies folder (default `studies/`), spelled out once.

studies/<study>.db            a study's SQLite storage (unless --storage names another)
studies/cache/                decoded images and machine-<key>.json timings, shared by all
studies/check-data/           `automl check-data` pair lists
studies/<study>/final/        `automl finalize`: model.pt, model.pt2, metrics.json
studies/<study>/report/       `automl report`: index.html and figures/
studies/<study>/artifacts/    files uploaded for optuna-dashboard
studies/<study>/workers/      one log per `--workers` process
studies/<study>/mlflow.db, mlartifacts/, tensorboard/, wandb/   --track's (automl/track)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STUDIES_DIR = Path("studies")  # the default studies folder, here only


@dataclass(frozen=True)
class Paths:
    """`Paths(studies_dir)`: every location above, for any study."""

    root: Path | str = STUDIES_DIR

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def databases(self) -> list[Path]:
        return sorted(self.root.glob("*.db"))

    def check_data_csv(self, data: str | Path) -> Path:
        return self.root / "check-data" / f"{Path(data).resolve().name}.csv"

    def database(self, study: str) -> Path:
        return self.root / f"{study}.db"

    def folder(self, study: str) -> Path:
        return self.root / study

    def final(self, study: str) -> Path:
        return self.root / study / "final"

    def report(self, study: str) -> Path:
        return self.root / study / "report"

    def artifacts(self, study: str) -> Path:
        return self.root / study / "artifacts"

    def workers(self, study: str) -> Path:
        return self.root / study / "workers"
