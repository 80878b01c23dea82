"""TensorBoard: a log folder per trial (and per finalize, and `study` for the report) under
studies/<study>/tensorboard, with its scalars per epoch and its params in the HParams view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automl.track.base import Run, RunStart, StudyInfo, Tracker
from automl.track.tracking import register_tracker


def _hparam(value: Any) -> Any:
    return value if isinstance(value, bool | int | float | str) else str(value)


@register_tracker
class TensorBoardTracker(Tracker):
    name = "tensorboard"

    def __init__(self, study: StudyInfo) -> None:
        super().__init__(study)
        self.root = study.folder / "tensorboard"

    def where(self) -> str:
        return f"TensorBoard: tensorboard --logdir {self.root}"

    def _writer(self, name: str) -> Any:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(self.root / name))

    def start(self, run: RunStart) -> Run:
        name = f"{'final' if run.kind == 'finalize' else 'trial'}-{run.number:04d}"
        writer = self._writer(name)
        lines = [f"{k}: {v}" for k, v in {"kind": run.kind, **run.tags}.items()]
        writer.add_text("run", "  \n".join(lines))
        return TensorBoardRun(writer, name, {k: _hparam(v) for k, v in run.params.items()})

    def study_files(self, paths: list[Path]) -> None:
        writer = self._writer("study")
        TensorBoardRun(writer, "study", {}).files(paths)
        writer.close()


class TensorBoardRun(Run):
    def __init__(self, writer: Any, name: str, hparams: dict[str, Any]) -> None:
        self.writer, self.id, self.hparams = writer, name, hparams
        self.values: dict[str, float] = {}  # the HParams view's metrics, at the end

    def epoch(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def summary(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.values[key] = float(value)
            else:
                self.writer.add_text(key, str(value))

    def files(self, paths: list[Path]) -> None:
        import matplotlib.image

        for path in paths:
            if path.suffix == ".png":
                self.writer.add_image(path.stem, matplotlib.image.imread(path), dataformats="HWC")
        self.writer.flush()

    def end(self, state: str, reason: str = "") -> None:
        from torch.utils.tensorboard.summary import hparams

        self.writer.add_text("end", f"{state}: {reason}" if reason else state)
        metrics = {f"hparam/{k}": v for k, v in self.values.items()}
        if self.hparams:
            # This run's session only, no experiment summary: TensorBoard would take the first
            # run's experiment for every run; without one it gathers all runs' sessions.
            _, start, end = hparams({**self.hparams, "state": state}, metrics)
            for each in (start, end):
                self.writer.file_writer.add_summary(each)
        for key, value in metrics.items():
            self.writer.add_scalar(key, value)
        self.writer.close()
