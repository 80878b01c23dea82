"""`automl report` on the finalized digits study and on synthetic studies made with optuna."""

from __future__ import annotations

import json
import re
import time

import optuna
import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.errors import ConfigError, StorageError, StudyError
from automl.reporting import SECTIONS, SHOWN, report
from automl.reporting.summary import importances

from .synthetic import ATTRS, scratch_study


def images(html: str) -> dict[str, str]:
    return dict(re.findall(r'<img id="fig-([a-z0-9_]+)" alt="[^"]*" src="(data:[^"]{0,30})', html))


def test_report_of_a_finalized_study_has_every_section_and_figure(reported):
    studies_dir, index = reported
    html = index.read_text()
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html
    figs = images(html)
    expected = {
        "accuracy_over_time", "parallel_coordinates", "importance", "intermediate_values",
        "pareto", "confusion_matrix", "per_class_f1", "final_training_curves",
        "prediction_grid", "first_layer_filters", "first_layer_activations",
        "guided_backprop", "grad_cam",
    }  # fmt: skip
    assert set(figs) == expected
    assert all(src.startswith("data:image/png;base64,") for src in figs.values())
    assert "could not be drawn" not in html and "not finalized" not in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from a network
    for name in expected:
        assert (index.parent / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "too small to say anything" in html  # 3 trials
    # counted and closed-form size of the best config agree
    assert html.count("<td>yes</td>") == 2


def test_report_records_the_shown_held_out_images(reported):
    _, index = reported
    shown = json.loads((index.parent / "shown_images.json").read_text())
    assert len(shown["indices"]) == SHOWN == len(set(shown["indices"]))
    assert len(shown["true"]) == len(shown["predicted"]) == SHOWN
    assert set(shown["true"]) <= {str(d) for d in range(10)}
    assert ", ".join(map(str, shown["indices"])) in index.read_text()


@pytest.mark.slow
def test_report_on_30_and_1000_trial_studies(tmp_path, capsys):
    timings = {}
    for n in (30, 1000):
        storage = f"sqlite:///{tmp_path}/s{n}.db"
        scratch_study(storage, f"s{n}", n)
        started = time.perf_counter()
        index = report(f"s{n}", storage=storage, studies_dir=tmp_path)
        timings[n] = time.perf_counter() - started
        html = index.read_text()
        figs = images(html)
        assert {"accuracy_over_time", "importance", "pareto", "intermediate_values"} <= set(figs)
        assert "not finalized yet" in html  # the final sections say why they are empty
        # batch_norm adds 0.2 in the synthetic study; it is the one categorical finding
        assert "<b>batch_norm: True does better than False.</b>" in html
        assert "too small to say anything" not in html
    with capsys.disabled():
        print(
            f"\nreport wall time: 30 trials {timings[30]:.1f} s, 1000 trials {timings[1000]:.1f} s"
        )


def test_fanova_importance_and_unknown_evaluator(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    scratch_study(storage, "s", 30)
    figure = tmp_path / "s" / "report" / "figures" / "importance.png"
    pngs, html = {}, {}
    for evaluator in ("ped_anova", "fanova"):
        index = report(
            "s", storage=storage, studies_dir=tmp_path, importance=evaluator, upload=False
        )
        html[evaluator] = index.read_text()
        assert 'id="fig-importance"' in html[evaluator]
        pngs[evaluator] = figure.read_bytes()
    assert pngs["ped_anova"] != pngs["fanova"]  # the option reaches the evaluator
    # ~23 completed trials: PED-ANOVA's top 10% is 3 trials, and the report says so ...
    assert "best 10% of completed trials (here 3 of" in html["ped_anova"]
    assert "best 10% of completed" not in html["fanova"]
    # ... while fANOVA already finds the parameter that matters (batch_norm adds 0.2)
    study = optuna.load_study(study_name="s", storage=storage)
    assert next(iter(importances(study, "fanova").values)) == "batch_norm"
    with pytest.raises(ConfigError, match="unknown importance 'shap'"):
        report("s", storage=storage, studies_dir=tmp_path, importance="shap")


def test_report_errors(tmp_path):
    with pytest.raises(StorageError):
        report("nope", studies_dir=tmp_path)
    storage = f"sqlite:///{tmp_path}/empty.db"
    study = optuna.create_study(study_name="empty", storage=storage, direction="maximize")
    for key, value in ATTRS.items():
        study.set_user_attr(key, value)
    with pytest.raises(StudyError, match="no completed trial yet"):
        report("empty", storage=storage, studies_dir=tmp_path)


def test_cli_report_prints_the_path_and_errors_in_one_line(tmp_path):
    storage = f"sqlite:///{tmp_path}/c.db"
    scratch_study(storage, "c", 12)
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--study", "c", "--storage", storage,
                              "--studies-dir", str(tmp_path), "--no-upload"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(tmp_path / "c" / "report" / "index.html")
    html = (tmp_path / "c" / "report" / "index.html").read_text()
    assert 'id="fig-accuracy_against_cost"' not in html  # a single-objective study
    assert "Pareto front:" not in html and 'id="fig-intermediate_values"' in html
    res = runner.invoke(app, ["report", "--study", "nope", "--studies-dir", str(tmp_path)])
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output


def test_report_on_a_folder_study_reads_only_the_shown_held_out_files(tmp_path, monkeypatch):
    from PIL import Image

    import automl
    from automl.data import clear_memo, decode

    root = tmp_path / "photos"
    for split, n in (("train", 8), ("test", 15)):
        for k, rgb in enumerate(((220, 30, 30), (30, 200, 40), (30, 40, 210))):
            (root / split / f"c{k}").mkdir(parents=True)
            for i in range(n):
                shade = tuple(max(0, c - 9 * i) for c in rgb)
                Image.new("RGB", (20, 16), shade).save(root / split / f"c{k}" / f"{i:02d}.png")
    studies = tmp_path / "s"
    automl.search(
        data=root,
        study="f",
        studies_dir=studies,
        trials=1,
        resolution=32,
        epochs=1,
        pruner="none",
        recheck=0,
    )
    automl.finalize("f", studies_dir=studies)
    clear_memo()
    decoded = []
    original = decode.decode_file
    monkeypatch.setattr(decode, "decode_file", lambda p, *a: decoded.append(p) or original(p, *a))
    index = report("f", studies_dir=studies, upload=False)
    shown = json.loads((index.parent / "shown_images.json").read_text())
    assert len(decoded) == SHOWN == len(shown["names"])  # 30 of the 45 held-out files
    assert sorted(p.relative_to(root / "test").as_posix() for p in decoded) == shown["names"]
    assert "could not be drawn" not in index.read_text()


def test_bad_input_is_a_one_line_error_through_the_cli(tmp_path):
    runner = CliRunner()
    storage = f"sqlite:///{tmp_path}/m.db"
    study = optuna.create_study(study_name="m", storage=storage, direction="minimize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    res = runner.invoke(app, ["report", "--study", "m", "--storage", storage])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "optimises minimize; automl report reads studies that maximise" in res.output

    storage = f"sqlite:///{tmp_path}/w.db"
    scratch_study(storage, "w", 12)
    (tmp_path / "w").write_text("a file where the study's folder should be")
    args = ["report", "--study", "w", "--storage", storage, "--studies-dir", str(tmp_path)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "cannot write the report to" in res.output and "pass --studies-dir" in res.output


def test_broken_final_outputs_and_foreign_data_leave_notes_not_tracebacks(
    finalized, tmp_path, caplog
):
    import shutil

    from PIL import Image

    studies_dir, _ = finalized
    copy = tmp_path / "copy"
    shutil.copytree(studies_dir, copy, ignore=shutil.ignore_patterns("cache", "artifacts"))
    (copy / "fin" / "artifacts").write_text("not a folder: uploads fail")
    photos = tmp_path / "photos"  # RGB, two classes: not what the digits model knows
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (photos / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (9, 9), (i * 90, 20, 30)).save(photos / split / cls / f"{i}.png")

    index = report("fin", studies_dir=copy, data=photos)
    html = index.read_text()
    assert "is not what" in html and "2 classes, 3 channel(s)" in html
    assert 'id="fig-confusion_matrix"' in html  # metrics.json still read
    assert "upload for optuna-dashboard failed" in caplog.text

    (copy / "fin" / "final" / "metrics.json").write_text('{"accuracy": 0.9')  # truncated
    html = report("fin", studies_dir=copy, upload=False).read_text()
    assert "cannot be read (JSONDecodeError" in html and "automl finalize --force" in html
    assert 'id="fig-confusion_matrix"' not in html and 'id="fig-importance"' in html


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("report", ["--study", "--storage", "--importance", "--no-upload", "--data",
                    "--test-dir", "--studies-dir"]),
        ("dashboard", ["--study", "--storage", "--port", "--studies-dir"]),
    ],
)  # fmt: skip
def test_new_commands_have_help_for_every_option(command, options):
    import re

    res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", res.output)
    for option in options:
        line = next(line for line in text.splitlines() if option in line)
        assert re.search(r"[A-Za-z]{4,}", line.split(option, 1)[1]), line  # has words after it


def test_cli_bad_options_are_one_line_errors(tmp_path):
    storage = f"sqlite:///{tmp_path}/c.db"
    scratch_study(storage, "c", 12)
    runner = CliRunner()
    cases = [
        (["report", "--study", "c", "--storage", storage, "--importance", "shap"],
         "unknown importance 'shap'; choose one of: ped_anova, fanova"),
        (["dashboard", "--study", "nope", "--studies-dir", str(tmp_path)], "nope"),
        (["dashboard", "--study", "c", "--storage", storage, "--port", "0"], "--port"),
    ]  # fmt: skip
    for args, expected in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert expected in res.output and "Traceback" not in res.output, res.output
