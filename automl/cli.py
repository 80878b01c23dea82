"""The `automl` command: parses options and delegates to the library."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from automl.errors import AutoMLError, ConfigError, flag
from automl.paths import Paths
from automl.settings import (
    DEFAULT_PRUNER,
    DEFAULT_SAMPLER,
    STUDIES_DIR,
    Machine,
    Workspace,
    from_params,
)
from automl.study.samplers import PRUNERS, SAMPLERS, TWO_OBJECTIVE_PRUNERS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Search, train and honestly score CNN image classifiers.",
)
# No markup: paths, docstrings and error messages are printed as they are.
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, markup=False)

StudiesDir = Annotated[
    Path,
    typer.Option(help="Home of study databases, caches and outputs.", envvar="AUTOML_STUDIES_DIR"),
]
Storage = Annotated[
    str | None,
    typer.Option(help="Optuna storage URL (default: sqlite:///<studies-dir>/<study>.db)."),
]
MovedData = Annotated[Path | None, typer.Option(help="Where the study's data lives now, if moved.")]
MovedTestDir = Annotated[Path | None, typer.Option(help="Where its held-out folder lives now.")]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")]
Precision = Annotated[
    str,
    typer.Option(
        help="auto (the fastest correct one here: bf16 where the CPU or GPU computes it "
        "natively and a measured step confirms it, else fp32 on CPU, fp16 on older GPUs) "
        "| bf16 | fp16 | fp32."
    ),
]
Timeout = Annotated[
    float | None, typer.Option(help="Stop starting trials after this many seconds.")
]
Offline = Annotated[
    bool,
    typer.Option(
        "--offline",
        help="Never download pretrained weights (HF_HUB_OFFLINE=1 does the same); "
        "backbones without local weights are left out.",
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(help="torch intra-op threads (default: OMP_NUM_THREADS, else every usable core)."),
]
Track = Annotated[
    list[str] | None,
    typer.Option(
        help="Log runs to mlflow | wandb | tensorboard (repeatable; none: no tracking). Default: "
        "the study's; a search gives the study what it is given (docs/tracking.md).",
        metavar="TRACKER",
    ),
]
CheckpointEvery = Annotated[
    int | None,
    typer.Option(
        help="Epochs between a running trial's checkpoints, from which the retry of a trial "
        "cut short resumes (default: the study's, else 1).",
        metavar="N",
        rich_help_panel="Checkpoints",
    ),
]
NoCheckpoints = Annotated[
    bool,
    typer.Option(
        "--no-checkpoints",
        help="Write no checkpoints: a trial cut short is retried from its first epoch.",
        rich_help_panel="Checkpoints",
    ),
]


def checkpoint_every_of(every: int | None, none: bool) -> int | None:
    """--checkpoint-every N and --no-checkpoints as the one setting (0: none)."""
    if none and every not in (None, 0):
        raise ConfigError(f"pass --checkpoint-every {every} or --no-checkpoints, not both")
    return 0 if none else every


def friendly_errors(command):
    """AutoMLError -> one line on stderr and exit code 2; Ctrl-C, SIGTERM or SIGHUP -> one
    line and 128 + the signal (130, 143, 129). No traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from automl.interrupt import exit_code, stop_signals_interrupt

        try:
            with stop_signals_interrupt():
                return command(*args, **kwargs)
        except AutoMLError as exc:
            message = Text.assemble(("error:", "red"), f" {exc.cli_message}")
            err.print(message, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            detail = "".join(f"{d}; " for d in [getattr(exc, "detail", "")] if d)
            advice = getattr(exc, "advice", "") or _after_interrupt(command.__name__)
            line = f"interrupted; {detail}{advice}"
            err.print(line, highlight=False, soft_wrap=True)
            raise typer.Exit(exit_code(exc)) from None

    return wrapper


def _after_interrupt(command: str) -> str:
    return {
        "search": "rerun the same command to resume",
        "worker": "rerun the same command to resume",
        "finalize": "no score was saved, but the held-out split counts as looked at; rerun "
        "with --force to retrain and score",
    }.get(command, "stopped")


def decode_progress(command):
    """Show a bar with images/s while the command decodes images (on a terminal only)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from automl.data.progress import reporting_to
        from automl.display import DecodeBar

        with reporting_to(DecodeBar()):
            return command(*args, **kwargs)

    return wrapper


def parse_fix(items: list[str] | None) -> dict | None:
    """NAME=VALUE pairs; values read as int, float, true/false, else text."""
    if not items:
        return None
    fixed = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--fix takes NAME=VALUE, got {item!r}")
        fixed[name] = _value(text)
    return fixed


def _value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _print_version(asked: bool) -> None:
    if asked:
        from automl import __version__

        out.print(f"automl {__version__}")
        raise typer.Exit()


def _route_optuna_logs() -> None:
    """Optuna's log lines through the handler `setup` made: WARNING and up, all with -v."""
    import optuna

    verbose = logging.getLogger().isEnabledFor(logging.DEBUG)
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()


@app.callback()
def setup(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
):
    from rich.logging import RichHandler

    handler = RichHandler(console=err, show_time=False, show_path=False)
    handler.addFilter(_OPTUNA_LINES)  # on the handler: optuna logs from its submodules' loggers
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[handler],
        force=True,
    )
    if ctx.invoked_subcommand != "studies":  # it reads the studies folder without Optuna
        _route_optuna_logs()
    # their INFO lines narrate internals
    for chatty in ("timm", "onnxscript", "onnx_ir", "mlflow", "alembic", "wandb"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)


class _OptunaLines(logging.Filter):
    """Optuna logs a failed trial with its traceback: ours already say what to fix, and an
    interrupt is no error at all (the CLI says it stopped), so its two lines are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted: set[str] = set()  # "Trial N" of trials an interrupt ended

    def filter(self, record: logging.LogRecord) -> bool:
        from automl import optuna_compat

        exc = record.exc_info[1] if record.exc_info else None
        trial = optuna_compat.trial_of_log_line(record.getMessage())
        if isinstance(exc, KeyboardInterrupt):
            self.interrupted.add(trial)
            return False
        if trial in self.interrupted and optuna_compat.is_failed_line(record.getMessage()):
            return False
        if isinstance(exc, AutoMLError):
            record.exc_info = record.exc_text = None  # text: another handler's formatting
        return True


_OPTUNA_LINES = _OptunaLines()


@app.command()
@friendly_errors
@decode_progress
def search(
    ctx: typer.Context,
    space: Annotated[
        str | None,
        typer.Option(
            help="A registered space name or a path to your .py (default: scratch_cnn; a "
            "rerun: the study's)."
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="ImageFolder root holding train/<class>/*; omit for the built-in digits "
            "(a rerun: the study's)."
        ),
    ] = None,
    test_dir: Annotated[
        Path | None,
        typer.Option(
            help="Held-out folder (default: <data>/test; a rerun: the study's); only checked "
            "for duplicates during search, never trained or evaluated on."
        ),
    ] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: the space name).")] = None,
    storage: Storage = None,
    trials: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Finished trials the study should reach (default 20; with --timeout and no "
            "--trials, as many as the time allows).",
        ),
    ] = None,
    timeout: Timeout = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs per trial (default: 10, or the study's).")
    ] = None,
    sampler: Annotated[str, typer.Option(help=" | ".join(SAMPLERS) + ".")] = DEFAULT_SAMPLER,
    pruner: Annotated[
        str | None,
        typer.Option(
            help=f"{' | '.join(p for p in PRUNERS if p not in TWO_OBJECTIVE_PRUNERS)} | none "
            f"(default {DEFAULT_PRUNER}); with --objective accuracy,COST: pareto (default) | none."
        ),
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            help="accuracy (default), or accuracy,COST with COST params | flops | latency: a "
            "Pareto search of accuracy against cost (kept by the study; docs/concepts.md).",
            metavar="accuracy[,COST]",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Seed of the split, sampler and trials (default: 0).")
    ] = None,
    device: Device = "auto",
    precision: Precision = "auto",
    resolution: Annotated[
        int | None, typer.Option(help="Fix the input resolution (px) instead of searching it.")
    ] = None,
    fix: Annotated[
        list[str] | None,
        typer.Option(help="Pin a param of the space for every trial, NAME=VALUE; repeatable."),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(help="Pretrained backbone weights file (state dict or timm checkpoint)."),
    ] = None,
    pretrained: Annotated[
        bool, typer.Option(help="--no-pretrained trains the space's backbone from scratch.")
    ] = True,
    offline: Offline = False,
    portfolio: Annotated[
        bool,
        typer.Option(
            help="A new study first runs the space's known-good configurations; "
            "--no-portfolio samples from the start."
        ),
    ] = True,
    dedupe: Annotated[
        bool,
        typer.Option(
            "--dedupe",
            help="A new study on an image folder leaves out training photos that have an "
            "exact or near copy in the held-out folder (see automl check-data).",
        ),
    ] = False,
    max_params: Annotated[
        str | None,
        typer.Option(
            help="Largest model allowed, in parameters (2000000, 2M, 500k); bigger ones are "
            "pruned before training.",
            rich_help_panel="Deployment limits (kept by the study)",
        ),
    ] = None,
    max_flops: Annotated[
        str | None,
        typer.Option(
            help="Most forward FLOPs per image allowed (300M, 1.5G).",
            rich_help_panel="Deployment limits (kept by the study)",
        ),
    ] = None,
    max_latency_ms: Annotated[
        float | None,
        typer.Option(
            help="Slowest batch-1 inference allowed, in ms, measured on the search device.",
            rich_help_panel="Deployment limits (kept by the study)",
        ),
    ] = None,
    threads: Threads = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes on the study, sharing the cores (see docs/scaling.md)."
        ),
    ] = 1,
    cv: Annotated[
        int | None,
        typer.Option(
            help="Validate each trial on K stratified folds of the training pool (its value: "
            "the mean) instead of one 80/20 split; see docs/concepts.md.",
            metavar="K",
        ),
    ] = None,
    recheck: Annotated[
        int | None,
        typer.Option(
            help="Once the trials are done, train the N best configurations again with other "
            "seeds; finalize takes the best mean. Default: 3 when the validation split (or a "
            "fold) holds under 500 images, else 0.",
            metavar="N",
        ),
    ] = None,
    checkpoint_every: CheckpointEvery = None,
    no_checkpoints: NoCheckpoints = False,
    artifacts: Annotated[
        str | None,
        typer.Option(
            help="The study's artifact store, where checkpoints go: a folder every worker "
            "reaches, s3://BUCKET/PREFIX (S3 or S3-compatible) or gs://BUCKET/PREFIX; kept by "
            "the study (default: a folder under studies/<study>/).",
            metavar="URL",
            rich_help_panel="Checkpoints",
        ),
    ] = None,
    track: Track = None,
    studies_dir: StudiesDir = STUDIES_DIR,
):
    """Run or resume an Optuna study; rerunning the same command resumes it."""
    from automl.display import TrialPrinter
    from automl.settings import SearchOptions
    from automl.study.limits import Limits, parse_count
    from automl.study.search import search as run_search

    counts = {"max_params": max_params, "max_flops": max_flops}
    parsed = {k: parse_count(v, flag(k)) for k, v in counts.items() if v is not None}
    limits = from_params(Limits, ctx.params, **parsed)
    every = checkpoint_every_of(checkpoint_every, no_checkpoints)
    options = from_params(
        SearchOptions, ctx.params, fix=parse_fix(fix), limits=limits, checkpoint_every=every,
        track=track or None,  # left out: the study's
    )  # fmt: skip
    workspace, machine = from_params(Workspace, ctx.params), from_params(Machine, ctx.params)
    result = run_search(
        options=options, workspace=workspace, machine=machine, progress=TrialPrinter
    )
    _print_best(result, workspace)


def _print_best(result, workspace: Workspace) -> None:
    from automl.study.listing import spent
    from automl.study.noise import configs, draw, pick_of
    from automl.study.record import read_partial

    trials = result.get_trials(deepcopy=False)
    record = read_partial(result)
    out.print(f"spent: {spent(trials, record).line()}", highlight=False)
    found = configs(trials)
    best = pick_of(found)
    if best is None:
        out.print(f"study {result.study_name}: no completed trial yet")
        return
    if record.objectives.multi:
        _print_front(result.study_name, trials, found, record.objectives, workspace)
        return
    out.print(f"best: trial #{best.trial}, val_acc {best.describe()}", highlight=False)
    close = draw(found)
    if close:
        out.print(
            f"note: these {len(close)} are indistinguishable on this data (within one sd of "
            f"the best): trials {', '.join(f'#{c.trial}' for c in close)}",
            highlight=False,
        )
    out.print(
        f"next: automl finalize --study {result.study_name}{workspace.options()}",
        highlight=False,
    )


def _print_front(name: str, trials, found, objectives, workspace: Workspace) -> None:
    """The end of a Pareto search: its front, cheapest first, the knee marked."""
    from automl.study.pareto import knee, most_accurate, study_front

    members = study_front(trials, objectives)
    by_trial = {c.trial: c for c in found}
    bend, default = knee(members), most_accurate(members)
    table = Table("trial", "val_acc", objectives.cost or "", "", title="Pareto front")
    for p in members:
        mark = "knee" if bend is not None and p.trial == bend.trial else ""
        if p is default:
            mark = ", ".join(filter(None, [mark, "finalize's default"]))
        shown = by_trial[p.trial].describe() if p.trial in by_trial else f"{p.accuracy:.4f}"
        table.add_row(f"#{p.trial}", shown, objectives.show_cost(p.cost), mark)
    out.print(table)
    out.print(
        f"next: automl finalize --study {name}{workspace.options()} (the most accurate), or "
        "add --trial N for another member",
        highlight=False,
    )


@app.command()
@friendly_errors
@decode_progress
def worker(
    ctx: typer.Context,
    study: Annotated[str, typer.Option(help="Name of the study to work on.")],
    storage: Storage = None,
    data: MovedData = None,
    test_dir: MovedTestDir = None,
    trials: Annotated[
        int | None,
        typer.Option(help="Finished trials the study should reach (default: the study's)."),
    ] = None,
    timeout: Timeout = None,
    device: Device = "auto",
    precision: Precision = "auto",
    threads: Threads = None,
    offline: Offline = False,
    heartbeat_interval: Annotated[
        int | None,
        typer.Option(
            help="Seconds between heartbeats; a trial silent for twice that is failed and "
            "retried (default: the study's, else 10)."
        ),
    ] = None,
    checkpoint_every: CheckpointEvery = None,
    no_checkpoints: NoCheckpoints = False,
    track: Track = None,
    studies_dir: StudiesDir = STUDIES_DIR,
):
    """Join a study made by `automl search` (on this machine or any other) and run its trials;
    what it leaves out comes from the study (as its last search set it)."""
    from automl.display import TrialPrinter
    from automl.settings import WorkerOptions
    from automl.study.worker import join

    workspace = from_params(Workspace, ctx.params)
    every = checkpoint_every_of(checkpoint_every, no_checkpoints)
    run = from_params(
        WorkerOptions, ctx.params, offline=offline or None, checkpoint_every=every,
        track=track or None,
    )  # fmt: skip
    result = join(study, workspace, from_params(Machine, ctx.params), run, TrialPrinter)
    _print_best(result, workspace)


@app.command()
@friendly_errors
@decode_progress
def finalize(
    ctx: typer.Context,
    study: Annotated[str, typer.Option(help="Name of the study to finalize.")],
    storage: Storage = None,
    force: Annotated[bool, typer.Option(help="Re-score a study that was already scored.")] = False,
    data: MovedData = None,
    test_dir: MovedTestDir = None,
    device: Device = "auto",
    precision: Precision = "auto",
    threads: Threads = None,
    trial: Annotated[
        int | None,
        typer.Option(
            help="Retrain this completed trial instead of the best (a Pareto search: instead "
            "of the front's most accurate).",
            metavar="N",
        ),
    ] = None,
    track: Track = None,
    studies_dir: StudiesDir = STUDIES_DIR,
):
    """Retrain the best trial on train+val, score it once on the held-out split."""
    from automl.api import finalize as run_finalize

    result = run_finalize(**{**ctx.params, "track": track or None})
    m = result.metrics
    out.print(
        f"trial #{result.trial} retrained; held-out ({m['n']} images): "
        f"accuracy {m['accuracy']:.4f}, F1 macro {m['f1_macro']:.4f}, "
        f"F1 micro {m['f1_micro']:.4f}" + (" [forced re-score]" if result.forced else "")
    )
    out.print(f"wrote {result.model_path} and {result.metrics_path}", highlight=False)


SpaceFile = Annotated[
    Path | None,
    typer.Option(help="Your space file that defines the model, if it moved since finalize."),
]


@app.command()
@friendly_errors
def predict(
    images: Annotated[
        list[Path],
        typer.Argument(help="Image files, or folders (every image file below them, sorted)."),
    ],
    model: Annotated[
        Path,
        typer.Option(
            help="model.pt or the final/ folder from `automl finalize`, or a .pt2 / .onnx "
            "from `automl export`."
        ),
    ],
    top_k: Annotated[int, typer.Option(min=1, help="Labels to show per image.")] = 3,
    csv: Annotated[
        Path | None,
        typer.Option(help="Also write a row per image (path, top-k labels and probabilities)."),
    ] = None,
    device: Device = "auto",
    space_file: SpaceFile = None,
):
    """Top-k labels with probabilities for each image; unreadable files are reported and
    skipped (exit code 1 when there were any)."""
    from automl.inference import predict as run_predict
    from automl.inference import write_predictions_csv

    found = run_predict(
        model, images, top_k=top_k, device=device, space_file=space_file, skip_unreadable=True
    )
    for p in found:
        if p.error is None:
            labels = ", ".join(f"{name} {prob:.3f}" for name, prob in p.top)
            out.print(f"{p.image}: {labels}", highlight=False)
    failed = [p for p in found if p.error is not None]
    for p in failed:
        err.print(f"skipped: {p.error}", highlight=False, soft_wrap=True)
    if csv is not None:
        write_predictions_csv(csv, found)
        out.print(f"{len(found)} rows written to {csv}", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
@friendly_errors
def export(
    ctx: typer.Context,
    study: Annotated[str, typer.Option(help="Name of a finalized study.")],
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="onnx (any ONNX runtime; needs automl\\[export]) | pt2 (torch.export archive).",
        ),
    ] = "onnx",
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default: model.<format> beside model.pt)."),
    ] = None,
    space_file: SpaceFile = None,
    storage: Storage = None,
    studies_dir: StudiesDir = STUDIES_DIR,
):
    """Write the finalized model as one file that runs without automl: uint8 RGB in,
    probabilities out, class names in its metadata."""
    from automl.exporting import export as run_export

    options = {k: v for k, v in ctx.params.items() if k != "out_path"}
    path = run_export(**options, out=out_path)
    out.print(f"wrote {path}", highlight=False)


@app.command()
@friendly_errors
def studies(storage: Storage = None, studies_dir: StudiesDir = STUDIES_DIR):
    """List studies with their best value and trial counts per state."""
    from automl.study.listing import list_studies
    from automl.study.noise import with_sd

    found = list_studies(storage, studies_dir, before_optuna=_route_optuna_logs)
    if not found:
        out.print(f"no studies in {storage or studies_dir}")
        return
    table = Table("study", "best val_acc", "front", "trials", "test acc", "spent", "storage")
    for s in found:
        table.add_row(
            s.name,
            "-" if s.best_value is None else with_sd(s.best_value, s.best_sd),
            "-" if s.front is None else f"{s.front} (vs {s.objectives.cost})",
            ", ".join(f"{n} {k.lower()}" for k, n in s.counts.items()) or "none",
            "-" if s.test_accuracy is None else f"{s.test_accuracy:.4f}",
            s.spent.line().split("; ", 1)[1] if s.spent else "-",
            s.storage,
        )
    out.print(table)


@app.command()
@friendly_errors
def delete(
    study: Annotated[str, typer.Option(help="Name of the study to delete.")],
    storage: Storage = None,
    studies_dir: StudiesDir = STUDIES_DIR,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
):
    """Delete a study: its trials from the storage and its folder (final model, report)."""
    from automl.study.delete import count_trials, delete_study

    trials = count_trials(study, storage=storage, studies_dir=studies_dir)
    folder = Paths(studies_dir).folder(study)
    what = f"study {study!r} ({trials} trials"
    what += f", and its folder {folder})" if folder.is_dir() else ")"
    if not yes and not typer.confirm(f"Delete {what}?", default=False, err=True):
        err.print("nothing deleted")
        raise typer.Exit(1)
    done = delete_study(study, storage=storage, studies_dir=studies_dir)
    gone = "".join(f"; removed {p}" for p in done.removed)
    out.print(f"deleted study {study!r} ({done.trials} trials) from {done.storage}{gone}")


@app.command("check-data")
@friendly_errors
@decode_progress
def check_data(
    data: Annotated[Path, typer.Option(help="ImageFolder root holding train/<class>/*.")],
    test_dir: Annotated[
        Path | None, typer.Option(help="Held-out folder (default: <data>/test); only hashed.")
    ] = None,
    resolution: Annotated[
        int, typer.Option(min=1, help="Training resolution: smaller images are flagged.")
    ] = 128,
    out_csv: Annotated[
        Path | None,
        typer.Option(
            "--out", help="CSV of duplicate pairs (default: <studies-dir>/check-data/<root>.csv)."
        ),
    ] = None,
    studies_dir: StudiesDir = STUDIES_DIR,
):
    """Check a photo folder: class counts, unreadable and tiny files, exact and near duplicates
    within train/ and across train/ and the held-out folder. Always exits 0: you decide."""
    from automl.data.check import NEAR, SMALL
    from automl.data.check import check_data as run_check

    result = run_check(data, test_dir, resolution)
    held = result.counts("held-out") if result.test_dir else {}
    table = Table("class", "train", "held-out", title=f"{result.train_dir}")
    for name, n in result.counts("train").items():
        table.add_row(name, str(n), str(held.get(name, "-")))
    out.print(table)
    s = result.record()
    findings = Table("check", "train", "across train / held-out", "note")
    findings.add_row("exact duplicates", str(s.exact_train), str(s.exact_across), "same bytes")
    findings.add_row(
        "near-duplicates",
        str(s.near_train),
        str(s.near_across),
        f"perceptual hash within {NEAR} of 64 bits",
    )
    findings.add_row("unreadable files", str(s.unreadable), "", "skipped by training")
    findings.add_row(
        "small images", str(s.small), "", f"shorter side under {SMALL * resolution:.0f} px"
    )
    findings.add_row("class imbalance", f"{result.imbalance:.1f}x", "", "largest / smallest class")
    out.print(findings)
    for photo in result.unreadable[:5]:
        out.print(f"unreadable: {photo.split}/{photo.path}", highlight=False)
    target = out_csv or Paths(studies_dir).check_data_csv(data)
    result.write_pairs(target)
    out.print(f"{len(result.pairs)} pairs written to {target}", highlight=False)
    if s.exact_across or s.near_across:
        err.print(
            Text.assemble(
                ("warning:", "yellow"),
                " the held-out folder shares photos with train/; its accuracy would be "
                "inflated. A new study with `automl search --dedupe` trains without them.",
            )
        )


@app.command()
@friendly_errors
def spaces(
    name: Annotated[
        str | None,
        typer.Argument(help="A space name or .py file: list the parameters it searches."),
    ] = None,
):
    """List the registered search spaces, or what one of them searches."""
    from automl.spaces import get_space, list_spaces

    if name is None:
        for space in map(get_space, list_spaces()):
            summary = (space.description or "(no docstring)").splitlines()[0]
            out.print(f"{space.name}: {summary}", highlight=False)
        return
    space = get_space(name)
    out.print(f"{space.name}: {space.description or '(no docstring)'}", highlight=False)
    table = Table("parameter", "kind", "range or choices", "searched when")
    for p in space.parameters():
        table.add_row(p.name, p.kind, p.values, p.condition)
    out.print(table)


@app.command()
@friendly_errors
def report(
    ctx: typer.Context,
    study: Annotated[str, typer.Option(help="Name of the study to report on.")],
    storage: Storage = None,
    importance: Annotated[
        str, typer.Option(help="Importance evaluator: ped_anova | fanova.")
    ] = "ped_anova",
    upload: Annotated[
        bool, typer.Option(help="Also upload the figures as Optuna artifacts (dashboard).")
    ] = True,
    data: MovedData = None,
    test_dir: MovedTestDir = None,
    studies_dir: StudiesDir = STUDIES_DIR,
):
    """Write studies/<study>/report/index.html: search figures, findings, final model figures."""
    from automl.reporting import report as run_report

    path = run_report(**ctx.params)
    out.print(str(path), highlight=False)


@app.command()
@friendly_errors
def dashboard(
    study: Annotated[str, typer.Option(help="Name of the study to show.")],
    storage: Storage = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8080,
    studies_dir: StudiesDir = STUDIES_DIR,
):
    """Start optuna-dashboard on 127.0.0.1 with the study's storage and artifacts; Ctrl-C stops."""
    from automl.reporting.dashboard import serve

    def started(url: str) -> None:
        out.print(f"optuna-dashboard for {study} at {url} (Ctrl-C to stop)", highlight=False)

    serve(study, storage=storage, studies_dir=studies_dir, port=port, on_start=started)
    out.print("dashboard stopped")


def main() -> None:
    app()
