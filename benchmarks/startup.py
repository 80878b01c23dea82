"""Start-up: each command's wall time, and how soon `automl search` starts its first trial.

Every row runs in a new process (what a user typing the command, a `--workers` process or an
`automl worker` pod pays), `--runs` times (default 5), and the median is printed:

- `automl --help`, `--version`, `studies`, `spaces`, `spaces scratch_cnn` and
  `python -c "import automl"`: launch to exit; `studies` lists a folder of 6 studies
  (copies of the warm-up search's study, each under its own name);
- `automl search` on the built-in digits (`--trials 12 --epochs 4`, what `make demo` runs):
  launch to the first trial's RUNNING state in the storage (its `datetime_start`, read from
  the study's SQLite file); with `--demo` also launch to the first trial's line on the
  terminal (the trial has trained its 4 epochs then, so this one depends on the CPU's load
  most). "warm": a studies folder whose `cache/` already holds the machine's measurements and
  the decoded digits (each run a new study); "new folder": a new studies folder each run, so
  the precision check and the digits' cache are made first.

`--baseline REV` runs the same from a `git worktree` of another commit, interleaved run by
run with this checkout (the load of other processes then falls on both alike), and prints
the ratio this / baseline. `--only TEXT` runs only the rows whose label holds TEXT.

Usage: python benchmarks/startup.py [--runs 5] [--baseline REV] [--demo] [--only TEXT]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CpuMeter, machine_line, write_results  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LIGHT = [
    ("automl --help", ["--help"]),
    ("automl --version", ["--version"]),
    ("automl studies (6 studies in the folder)", ["studies", "--studies-dir", "{listed}"]),
    ("automl spaces", ["spaces"]),
    ("automl spaces scratch_cnn", ["spaces", "scratch_cnn"]),
]
SEARCH = ["search", "--trials", "12", "--epochs", "4"]  # make demo's search
LISTED = 6  # studies in the folder `automl studies` lists
TRIAL_LINE = re.compile(r"^#\d+ ")  # what the terminal prints when a trial ends
TIMEOUT = 900.0


def command(tree: Path, args: list[str]) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return [sys.executable, "-m", "automl", *args], env


def children_cpu() -> float:
    """CPU seconds (user + system) of the ended child processes so far: the work a command
    did, which other processes' load inflates far less than its wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall(tree: Path, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `argv`."""
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {tree}:\n{done.stdout}{done.stderr}")
    return seconds, children_cpu() - cpu


def first_started(db: Path) -> float | None:
    """The wall-clock time the first trial went RUNNING (queued trials wait as WAITING)."""
    if not db.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            row = con.execute(
                "SELECT MIN(datetime_start) FROM trials WHERE state != 'WAITING'"
            ).fetchone()
    except sqlite3.Error:  # not made yet, or locked by the writer: look again
        return None
    return None if row is None or row[0] is None else datetime.fromisoformat(row[0]).timestamp()


def search(tree: Path, studies: Path, study: str, demo: bool) -> tuple[float, float | None, float]:
    """(launch -> first trial RUNNING in the storage, launch -> its line printed or None
    without `demo`, CPU seconds until then), seconds; the search is stopped then."""
    argv, env = command(tree, [*SEARCH, "--study", study, "--studies-dir", str(studies)])
    printed: list[float] = []
    cpu, launched = children_cpu(), time.time()
    proc = subprocess.Popen(
        argv, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if not printed and TRIAL_LINE.match(line):
                printed.append(time.time())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = None
    try:
        while time.time() - launched < TIMEOUT and proc.poll() is None:
            if printed or (started is not None and not demo):
                break
            if started is None:
                started = first_started(studies / f"{study}.db")
            time.sleep(0.01)
        if started is None:
            started = first_started(studies / f"{study}.db")
    finally:
        proc.kill()
        proc.wait()
        reader.join(timeout=5)
    if started is None or (demo and not printed):
        raise SystemExit(f"no trial started or printed within {TIMEOUT:.0f} s:\n{''.join(lines)}")
    return started - launched, printed[0] - launched if printed else None, children_cpu() - cpu


def listing_folder(study_db: Path, folder: Path) -> Path:
    """A studies folder of LISTED copies of the study in `study_db`, each its own name."""
    folder.mkdir()
    for i in range(LISTED):
        copy = folder / f"study{i}.db"
        shutil.copyfile(study_db, copy)
        with contextlib.closing(sqlite3.connect(copy)) as con, con:
            con.execute("UPDATE studies SET study_name = ?", (copy.stem,))
    return folder


@contextlib.contextmanager
def checkout(rev: str | None) -> Iterator[Path | None]:
    """A detached `git worktree` of `rev`, removed afterwards."""
    if rev is None:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="automl-bench-baseline-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), rev],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=REPO)


def measure(
    trees: dict[str, Path], runs: int, scratch: Path, demo: bool, only: str = ""
) -> dict[str, dict[str, list]]:
    times: dict[str, dict[str, list]] = {name: {} for name in trees}
    warm = {name: scratch / f"warm-{name}" for name in trees}
    for name, tree in trees.items():  # fills cache/: machine measurements, decoded digits
        search(tree, warm[name], "warmup", demo)
    first = warm[next(iter(trees))] / "warmup.db"  # every tree lists the same studies
    listed = {name: listing_folder(first, scratch / f"listed-{name}") for name in trees}
    for run in range(runs):
        for name, tree in trees.items():  # interleaved: load from other processes hits both
            rows = times[name]
            for label, args in LIGHT:
                if only not in label:
                    continue
                argv, env = command(tree, [a.format(listed=listed[name]) for a in args])
                rows.setdefault(label, []).append(wall(tree, argv, env))
            if only in 'python -c "import automl"':
                argv = [sys.executable, "-c", "import automl"]
                rows.setdefault('python -c "import automl"', []).append(
                    wall(tree, argv, {**os.environ, "PYTHONPATH": str(tree)})
                )
            for how, folder in (
                ("warm", warm[name]),
                ("new folder", scratch / f"new-{name}-{run}"),
            ):
                if only not in f"search, {how}: first trial RUNNING":
                    continue
                running, printed, cpu = search(tree, folder, f"run{run}", demo)
                nan = float("nan")  # the CPU figure belongs to the row the search stopped at
                rows.setdefault(f"search, {how}: first trial RUNNING", []).append(
                    (running, nan if demo else cpu)
                )
                if demo:
                    rows.setdefault(f"search, {how}: first trial printed", []).append(
                        (printed, cpu)
                    )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", metavar="REV", help="also run a git worktree of REV")
    parser.add_argument("--demo", action="store_true", help="also time the first trial's line")
    parser.add_argument("--only", default="", metavar="TEXT", help="rows whose label holds it")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/startup.json")
    args = parser.parse_args()
    print(machine_line())
    with (
        checkout(args.baseline) as base,
        tempfile.TemporaryDirectory(prefix="automl-bench-startup-") as tmp,
        CpuMeter() as cpu,
    ):
        trees = {"this": REPO, **({"baseline": base} if base else {})}
        times = measure(trees, args.runs, Path(tmp), args.demo, args.only)
    medians = {
        name: {
            k: [statistics.median(column) for column in zip(*v, strict=True)]
            for k, v in rows.items()
        }
        for name, rows in times.items()
    }
    print(f"median of {args.runs} runs; other processes used {cpu.others:.1f} cores meanwhile")
    head = f"{'what':<40} {'wall s':>7} {'CPU s':>6}"
    if base:
        head += f" | {args.baseline + ' wall s':>14} {'CPU s':>6} | {'wall ratio':>10} {'CPU':>6}"
    print(head)
    for label, (seconds, work) in medians["this"].items():
        line = f"{label:<40} {seconds:>7.2f} {work:>6.2f}"
        if base:
            before, before_work = medians["baseline"][label]
            line += f" | {before:>14.2f} {before_work:>6.2f} | {seconds / before:>9.2f}x"
            line += f" {work / before_work:>5.2f}x"
        print(line)
    report = {"machine": machine_line(), "baseline": args.baseline, "others_cores": cpu.others}
    write_results(args.out, {**report, "runs": times})


if __name__ == "__main__":
    main()
