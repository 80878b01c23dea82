"""The CLI's rich display of a search: a bar for the study (with an ETA), a live line for the
running trial (epoch k/E, validation accuracy so far) and a line per finished trial, and a bar
with images/s while images are decoded. On a console that is not a terminal (CI logs, pipes)
only the finished-trial lines are printed.

The library only reports (automl/study/progress.py, automl/data/progress.py); the CLI passes
these to it, and a Python caller may pass them, or its own."""

from __future__ import annotations

import time

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from automl.study.objectives import Objectives, accuracy_of

_live: list[Progress] = []  # the TrialPrinter display running now, if any (one live at a time)

STATE_STYLE = {TrialState.COMPLETE: "green", TrialState.PRUNED: "yellow", TrialState.FAIL: "red"}


def describe_trial(
    trial: FrozenTrial, best: float | None = None, objectives: Objectives | None = None
) -> str:
    """One line: number, state, value (and cost, in a Pareto search), epochs, time and the
    trial's params."""
    style = STATE_STYLE.get(trial.state, "white")
    from automl.study.noise import with_sd
    from automl.study.record import TrialRecord

    record = TrialRecord.of(trial)
    history = record.history
    acc = history[-1]["val_acc"] if history else None
    value = f"val_acc {acc:.4f}" if acc is not None else "val_acc   -   "
    accuracy = accuracy_of(trial)
    if record.value_sd is not None and accuracy is not None:  # a mean over folds
        value = f"val_acc {with_sd(accuracy, record.value_sd)}"
    if objectives is not None and objectives.multi and trial.values:  # its cost too
        value += f", {objectives.show_cost(trial.values[1])}"
    star = " [bold]*best*[/bold]" if best is not None and accuracy == best else ""
    if record.recheck_of is not None:
        star = f" [cyan]re-check of #{record.recheck_of}[/cyan]"
    if record.resumed_after:  # a retry that carried the first epochs over
        star += f" [cyan]resumed #{record.resumed_from} after ep {record.resumed_after}[/cyan]"
    params = escape(" ".join(f"{k}={_short(v)}" for k, v in trial.params.items()))
    reason = {TrialState.PRUNED: record.pruned_reason, TrialState.FAIL: record.fail_reason}.get(
        trial.state
    ) or ""
    reason = escape(reason)
    seconds = record.wall_time
    return (
        f"#{trial.number:<3} [{style}]{trial.state.name:<8}[/{style}] {value}  "
        f"{len(history)} ep {seconds:6.1f}s{star}  [dim]{params}[/dim]"
        + (f"  [yellow]({reason})[/yellow]" if reason else "")
    )


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class TrialPrinter:
    """A `TrialWatcher` (automl/study/progress.py): `search(progress=TrialPrinter)`."""

    def __init__(
        self, study_name: str, total: int | None, done: int, console: Console | None = None
    ):
        """`total` None: no end but the time limit (the bar shows trials so far)."""
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True, soft_wrap=True),
        )
        title = f"[bold]{escape(study_name)}"
        self.task = self.progress.add_task(title, total=total, completed=done)
        self.running = self.progress.add_task("", total=1, visible=False)
        self.objectives: Objectives | None = None  # the study's, from its first finished trial

    def __enter__(self) -> TrialPrinter:
        self.progress.start()
        _live.append(self.progress)
        return self

    def __exit__(self, *exc) -> None:
        _live.remove(self.progress)
        self.progress.stop()

    def epoch(self, number: int, epoch: int, epochs: int, row: dict) -> None:
        """The live line of the running trial, after each of its epochs."""
        acc = row.get("val_acc")
        text = f"  trial #{number} epoch {epoch}/{epochs}" + (
            f" val_acc {acc:.4f}" if acc is not None else ""
        )
        self.progress.update(
            self.running, description=text, total=epochs, completed=epoch, visible=True
        )
        self.progress.refresh()  # now, not at the next tick: an epoch can be the last

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.objectives is None:  # read once: a study keeps its objectives
            from automl.study.record import read_partial

            self.objectives = read_partial(study).objectives
        objectives = self.objectives if self.objectives.multi else None
        try:
            best = None if objectives else study.best_value  # two objectives: a front
        except ValueError:
            best = None
        self.progress.update(self.running, visible=False)  # the summary line replaces it
        self.progress.console.print(describe_trial(trial, best, objectives), highlight=False)
        from automl.study.recheck import is_recheck

        finished = trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
        if finished and not is_recheck(trial):  # the bar counts the search's trials
            self.progress.advance(self.task)


class DecodeBar:
    """A hook for `automl.data.progress`: while images decode, a bar with images/s (inside the
    trial display when one is running), then one line saying what was decoded and how fast.
    Nothing on a console that is not a terminal: the log line says it is decoding."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.host: Progress | None = None
        self.own = False
        self.task = None
        self.started = 0.0

    def __call__(self, what: str, done: int, total: int) -> None:
        if not self.console.is_terminal or total <= 0:
            return
        if self.task is None:
            self.started = time.perf_counter()
            self.own = not _live
            self.host = (
                _live[-1]
                if _live
                else Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    console=self.console,
                    transient=True,
                )
            )
            if self.own:
                self.host.start()
            self.task = self.host.add_task(escape(what), total=total)
        seconds = max(time.perf_counter() - self.started, 1e-9)
        rate = f"{done / seconds:,.0f} images/s" if done else ""
        self.host.update(self.task, description=f"  {escape(what)}  {rate}", completed=done)
        if done >= total:
            self.host.remove_task(self.task)
            if self.own:
                self.host.stop()
            self.task = None
            self.console.print(
                f"{what}: {total:,} images in {seconds:.1f} s ({total / seconds:,.0f} images/s)",
                highlight=False,
                markup=False,
            )
