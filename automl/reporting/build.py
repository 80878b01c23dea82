"""`automl report`: figures and findings of a study, from its database (and final model)."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from optuna.trial import TrialState

from automl.data.check_summary import DataCheckSummary
from automl.errors import AutoMLError, ConfigError, ReportError, StudyError
from automl.io import write_bytes
from automl.paths import STUDIES_DIR, Paths
from automl.reporting.figures import add_figure
from automl.reporting.final_sections import FINAL_SECTIONS, final_sections
from automl.reporting.html import Section, page
from automl.reporting.summary import fmt_value
from automl.study.noise import Config, configs, draw
from automl.study.objectives import Objectives
from automl.study.record import StudyRecord, TrialRecord, read_partial

log = logging.getLogger(__name__)

SECTIONS = {  # id -> title, in page order
    "overview": "Overview",
    "search": "Search",
    "observations": "Observations",
    "model-size": "Model size",
    **FINAL_SECTIONS,
}


def _section(sid: str) -> Section:
    return Section(sid, SECTIONS[sid])


def report(
    study: str,
    *,
    storage: str | None = None,
    studies_dir: str | Path = STUDIES_DIR,
    importance: str = "ped_anova",
    upload: bool = True,
    data: str | Path | None = None,
    test_dir: str | Path | None = None,
) -> Path:
    """Write studies/<study>/report/index.html (self-contained) and return its path; with
    `upload`, its figures also go to the study's artifact store for optuna-dashboard.

    `data`/`test_dir`: where the study's images are now, when they moved since the search
    (as for finalize); only the held-out images shown in the report are read."""
    from automl.reporting.summary import completed, importances, summarize
    from automl.study.storage import default_storage, load_study

    started = time.perf_counter()
    the_study = load_study(study, storage or default_storage(study, studies_dir))
    record = read_partial(the_study)
    objectives = _objectives(study, the_study, record)
    trials = the_study.get_trials(deepcopy=False)
    done = completed(the_study)
    if not done:
        raise StudyError(f"study {study!r} has no completed trial yet; nothing to report")
    imp = importances(the_study, importance)  # validates the evaluator name first
    summaries = summarize(done, imp.values)
    out = Paths(studies_dir).report(study)
    try:  # fail before the work if the folder cannot be made
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(out, exc) from None
    limits = record.limits or {}
    sections = [
        _overview(the_study, record, trials, done),
        _search(trials, len(done), summaries, imp, importance, limits, objectives),
        _observations(summaries, trials, len(done)),
        _model_size(the_study, record),
        *final_sections(the_study, studies_dir, out, data, test_dir),
    ]
    html_text = page(
        f"automl report: {study}",
        f"{len(trials)} trials, storage {storage or default_storage(study, studies_dir)}",
        sections,
    )
    index = out / "index.html"
    try:  # each file atomically: a crash leaves the previous report's file, never half of one
        files = [
            write_bytes(out / "figures" / f"{fig.name}.png", fig.png)
            for s in sections
            for fig in s.figures()
        ]
        write_bytes(index, html_text.encode("utf-8"))
    except OSError as exc:
        raise _unwritable(out, exc) from None
    if upload:  # the report is written by now: a failed upload is a warning, not a failure
        from automl.reporting.artifacts import upload as upload_files

        try:
            upload_files(the_study, [index, *files], studies_dir)
        except Exception as exc:
            log.warning("report written, but its upload for optuna-dashboard failed: %s", exc)
    if record.track:  # the study's trackers keep the figures with the study's own run
        _track(study, record, studies_dir, [index, *files])
    log.info("report of %s written in %.1f s", study, time.perf_counter() - started)
    return index


def _track(study: str, record: StudyRecord, studies_dir: str | Path, files: list[Path]) -> None:
    from automl.track.study import track_report

    try:
        track_report(record.track, study, record, Paths(studies_dir), files)
    except AutoMLError as exc:  # a tracker the study names that is not installed here
        log.warning("report written, but not tracked: %s", exc)


def _objectives(name: str, study, record: StudyRecord) -> Objectives:
    """What the study optimises: validation accuracy, alone or against the cost its record
    names, in the directions automl search gives them; anything else is refused in one line."""
    got = [d.name.lower() for d in study.directions]
    try:
        objectives = record.objectives
    except ConfigError:  # an objective this automl does not know
        objectives = None
    if objectives is not None and got == objectives.directions:
        return objectives
    if got == Objectives("params").directions:
        raise StudyError(
            f"study {name!r} optimises {', '.join(got)} but does not record its cost; automl "
            "report reads two-objective studies as `automl search --objective accuracy,COST` "
            "makes them"
        )
    raise StudyError(
        f"study {name!r} optimises {', '.join(got)}; automl report reads studies that maximise "
        "validation accuracy, alone or against a cost they minimise, as `automl search` "
        "makes them"
    )


def _default_pick(trials, record: StudyRecord) -> Config | None:
    """The configuration `automl finalize` retrains without --trial (pareto.default_pick)."""
    from automl.study.pareto import default_pick

    return default_pick(trials, record.objectives)


def _unwritable(out: Path, exc: OSError) -> ReportError:
    return ReportError(
        f"cannot write the report to {out}: {exc.strerror or exc}; "
        "pass --studies-dir with a writable folder"
    )


def _overview(study, record: StudyRecord, trials, done) -> Section:
    section = _section("overview")
    states = {}
    for t in trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    found = configs(trials)
    best = _default_pick(trials, record)  # what finalize retrains without --trial
    checks = sum(c.runs - 1 for c in found)  # completed re-checks
    objectives = record.objectives
    best_text = f"#{best.trial}: validation accuracy {best.describe()}"
    if objectives.multi:
        from automl.study.pareto import study_front

        members = study_front(trials, objectives)
        cost = next((p.cost for p in members if p.trial == best.trial), None)
        if cost is not None:
            best_text += f", {objectives.show_cost(cost)} (the most accurate of the Pareto front)"
        goal = [
            [
                "objectives",
                f"validation accuracy (maximised) against {objectives.cost} (minimised); "
                f"Pareto front: {len(members)} of {len(found)} configurations",
            ]
        ]
    else:
        goal = []
    section.table(
        ["", ""],
        [
            *goal,
            ["space", _or_dash(record.space)],
            ["data", f"{_or_dash(record.data)} (held out: {record.test_dir or 'default'})"],
            ["classes", ", ".join(map(str, record.classes or [])) or "-"],
            ["epochs per trial", _or_dash(record.epochs)],
            ["data check", _data_check_text(DataCheckSummary.from_dict(record.data_check))],
            ["trials", ", ".join(f"{n} {k}" for k, n in states.items())],
            ["best trial", best_text],
            ["re-checks", f"{checks} runs (--recheck {record.recheck})" if checks else "-"],
            [
                "best params",
                ", ".join(f"{k}={fmt_value(v)}" for k, v in trials[best.trial].params.items()),
            ],
        ],
    )
    return section


def _search(trials, done, summaries, imp, evaluator, limits, objectives=None) -> Section:
    section = _section("search")
    from automl.reporting import search_figures as sf
    from automl.reporting.observations import MIN_TRIALS

    objectives = objectives or Objectives()
    if objectives.multi:
        _front(section, trials, objectives)
    add_figure(
        section,
        "accuracy_over_time",
        "Validation accuracy against start time",
        sf.accuracy_over_time,
        trials,
    )
    add_figure(
        section,
        "parallel_coordinates",
        "Parallel coordinates",
        sf.parallel_coordinates,
        trials,
        summaries,
    )
    if imp.values:
        add_figure(
            section,
            "importance",
            "Hyperparameter importance",
            sf.importance_bars,
            imp.values,
            evaluator,
        )
        top = math.ceil(0.1 * done)  # PED-ANOVA's default target quantile
        if evaluator == "ped_anova" and top < 10:
            section.note(
                f"PED-ANOVA ranks parameters by how the best 10% of completed trials (here "
                f"{top} of {done}) differ from all of them; with so few, chance dominates the "
                "ranking. Compare with --importance fanova, and trust the Observations below, "
                "which state their evidence."
            )
        elif done < MIN_TRIALS:
            section.note(
                f"Importance from {done} completed trials is a rough guide at best; "
                f"it means little under {MIN_TRIALS}."
            )
    else:
        section.note("Hyperparameter importance: too few completed trials to estimate it.")
    if imp.left_out:
        section.text(
            "Not assessed for importance: "
            + "; ".join(f"{name} ({why})" for name, why in imp.left_out.items())
            + "."
        )
    section.text(
        "Correlation: Spearman rank correlation with validation accuracy for numbers; for "
        "choices, the spread (max - min) of the median validation accuracy across levels. "
        "Best level: highest median (choices) or the value in the best trial (numbers)."
    )
    section.table(
        ["hyperparameter", "importance", "correlation / spread", "best level", "trials per level"],
        [
            [
                s.name,
                "-" if s.importance is None else f"{s.importance:.3f}",
                "-"
                if s.correlation is None
                else (
                    f"spread {s.correlation:.3f}" if s.categorical else f"rho {s.correlation:+.2f}"
                ),
                s.best_level,
                s.counts(),
            ]
            for s in summaries
        ],
    )
    add_figure(
        section,
        "intermediate_values",
        "Intermediate values and pruning",
        sf.intermediate_curves,
        trials,
        objectives.multi,  # Optuna takes no per-epoch reports from a two-objective trial
    )
    if limits:
        section.text(_limits_text(trials, limits))
    add_figure(
        section, "pareto", "Accuracy against parameters and FLOPs", sf.pareto, trials, limits
    )
    return section


def _front(section: Section, trials, objectives: Objectives) -> None:
    """A two-objective study: accuracy against its cost, with the Pareto front, its knee and
    finalize's default, drawn and listed."""
    from automl.reporting import search_figures as sf

    data = sf.cost_front(trials, objectives)
    add_figure(
        section,
        "accuracy_against_cost",
        f"Validation accuracy against {objectives.cost}",
        sf.accuracy_against_cost,
        data,
        objectives,
    )
    if not data.front:
        return
    knee = data.knee
    text = (
        f"Each dot is a completed configuration: x its {objectives.cost} ({objectives.unit}, "
        "log scale), y its validation accuracy, the mean over its runs once re-checked, with "
        "± 1 sd bars where it has several runs or folds. The red step line joins the Pareto "
        f"front: the {len(data.front)} of {len(data.points)} configurations no other one "
        "dominates (at least as accurate at no more cost, better in one), listed cheapest "
        "first below. "
    )
    if knee is not None:
        text += (
            f"The knee, #{knee.trial}, is the member farthest from the straight line joining the "
            "front's two ends (accuracy and log cost each scaled to [0, 1]): past it, more "
            f"{objectives.cost} buys little accuracy. "
        )
    else:
        text += (
            "No knee: a front of fewer than 3 members, or one whose middle lies below the line "
            "joining its ends. "
        )
    text += (
        f"automl finalize retrains the most accurate member, #{data.default.trial}, unless "
        "given --trial N (any completed trial)."
    )
    if data.pruned:
        text += (
            f" {data.pruned} pruned trial(s) are not shown: a pruned trial stopped before its "
            "last epoch and has no final accuracy."
        )
    if data.unmeasured:
        text += (
            f" {data.unmeasured} completed configuration(s) have no {objectives.cost} recorded "
            "and are not shown."
        )
    section.text(text)
    rows = []
    for p in data.front:
        roles = ["knee"] if knee is not None and p.trial == knee.trial else []
        if p.trial == data.default.trial:
            roles.append("finalize's default (the most accurate)")
        c = data.configs.get(p.trial)
        accuracy = c.describe() if c is not None else f"{p.accuracy:.4f}"
        rows.append([f"#{p.trial}", accuracy, objectives.show_cost(p.cost), "; ".join(roles)])
    section.table(["trial", "validation accuracy", objectives.cost, ""], rows)


def _listed(items: list[str]) -> str:
    """`#1, #4 and #7`."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _or_dash(value) -> str:
    return "-" if value is None else value


def _data_check_text(check: DataCheckSummary | None) -> str:
    if check is None:
        return "not run (the built-in digits, or a study made before the check existed)"
    text = (
        f"duplicates in train: {check.exact_train} exact, {check.near_train} near; "
        f"across train and held-out: {check.exact_across} exact, {check.near_across} "
        f"near; {check.unreadable} unreadable (checked {check.ran or '?'})"
    )
    if check.dedupe:
        return text + f"; --dedupe left {check.excluded or 0} training photos out"
    if check.exact_across or check.near_across:
        return text + (
            "; WARNING: the held-out folder shares photos with train/, so the held-out "
            "accuracy is inflated (automl check-data lists them; --dedupe avoids them)"
        )
    return text


def _limits_text(trials, limits: dict) -> str:
    from automl.study.limits import LIMITS, Limits

    over = [TrialRecord.of(t).over_limits for t in trials]
    per_limit = [
        f"{sum(lim.field in o for o in over)} over {lim.option}"
        for lim in LIMITS
        if lim.field in limits
    ]
    return (
        f"Deployment limits: {Limits.from_dict(limits).describe()}. "
        f"{sum(bool(o) for o in over)} of {len(trials)} trials were over them and pruned before "
        f"training ({', '.join(per_limit)}); every model is measured right after it is built, "
        "latency as the median of batch-1 forward passes on the search device."
    )


def _observations(summaries, trials, n_complete) -> Section:
    section = _section("observations")
    from automl.reporting.observations import Observation, observe

    n_pruned = sum(t.state == TrialState.PRUNED for t in trials)
    found = observe(summaries, n_complete, n_pruned)
    section.text(
        f"Computed from the {n_complete} completed trials (pruned ones stopped at different "
        "epochs, so their accuracies are not comparable). A finding needs enough trials per "
        "level and a gap larger than the spread; see docs/report.md."
    )
    close = draw(configs(trials))  # from the configuration finalize picks
    if close:
        sd = close[0].sd
        found.insert(
            0,
            Observation(
                None,
                f"These {len(close)} are indistinguishable on this data: trials "
                f"{_listed([f'#{c.trial}' for c in close])}; which is best is down to the seed.",
                f"Their values ({', '.join(f'{c.value:.4f}' for c in close)}) lie within one "
                f"sd ({sd:.4f}) of the best's; more re-checks (--recheck) or --cv narrow it.",
                True,
            ),
        )
    supported = [o for o in found if o.supported]
    notes = [o for o in found if not o.supported]
    if supported:
        section.bullets([(o.finding, o.evidence) for o in supported])
    else:
        section.note("No finding is supported by the data yet.")
    if notes:
        section.text("Not enough evidence:", muted=True)
        section.bullets([(o.finding, o.evidence) for o in notes], bold=False, muted=True)
    return section


def _model_size(study, record: StudyRecord | None = None) -> Section:
    section = _section("model-size")
    from automl.config import with_model_options
    from automl.models import create_model
    from automl.models.interface import without_weights
    from automl.reporting.modelsize import model_size
    from automl.spaces import get_space

    record = record or read_partial(study)
    trials = study.get_trials(deepcopy=False)
    best = trials[_default_pick(trials, record).trial]
    try:
        for name in ("space", "classes", "channels"):
            if getattr(record, name) is None:
                raise KeyError(name)  # not stored: a study automl search did not make
        space = get_space(record.space_file or record.space)
        space = space.with_choices(record.choices or {})  # as its trials drew them
        cfg = with_model_options(space.rebuild(best.params), record.model_options or {})
        model_cfg = without_weights(cfg.model)  # size only: no weights are loaded
        classes, chans = len(record.classes), int(record.channels)
        model = create_model(
            model_cfg, num_classes=classes, in_chans=chans, resolution=cfg.data.resolution
        )
        size = model_size(model_cfg, model, chans, cfg.data.resolution, classes)
    except (AutoMLError, KeyError) as exc:
        section.note(f"The best config cannot be rebuilt here: {exc}")
        return section
    closed = size.closed_flops is not None
    section.text(
        f"Best trial #{best.number} ({size.arch}, {cfg.data.resolution}px, {chans} channel(s), "
        f"{classes} classes). FLOPs: forward pass of one image, a multiply-add counts 2."
    )
    section.table(
        ["", "counted (torch FlopCounterMode)", f"closed form ({size.arch})", "agree"],
        [
            [
                "parameters",
                f"{size.params:,}",
                f"{size.closed_params:,}" if closed else "-",
                "yes" if size.params == size.closed_params else ("-" if not closed else "NO"),
            ],
            [
                "forward FLOPs",
                f"{size.flops:,}",
                f"{size.closed_flops:,}" if closed else "-",
                "yes" if size.flops == size.closed_flops else ("-" if not closed else "NO"),
            ],
        ],
    )
    if closed:
        section.text(f"Closed form: {model_cfg.closed_form}")
    else:
        section.note(f"No closed form for {size.arch}; only the counted values are shown.")
    return section
