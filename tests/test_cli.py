"""The `automl` command through typer's CliRunner: the user's path and every refusal."""

import json
import re

import optuna
import pytest
from typer.testing import CliRunner

from automl.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_search_finalize_predict_end_to_end(tmp_path, digit_png):
    common = ["--studies-dir", tmp_path]
    r = run(
        "search", "--study", "cli", "--trials", "2", "--epochs", "2", "--pruner", "none",
        "--recheck", "0", "--fix", "optimizer=adamw", "--fix", "lr=0.003", *common,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "best: trial #" in r.output and "next: automl finalize --study cli" in r.output
    r = run("finalize", "--study", "cli", *common)
    assert r.exit_code == 0, r.output
    assert "held-out (360 images): accuracy" in r.output
    metrics = json.loads((tmp_path / "cli" / "final" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.5
    r = run("finalize", "--study", "cli", *common)
    assert r.exit_code == 2 and "pass --force to re-score" in r.output
    assert "Traceback" not in r.output
    r = run(
        "predict", "--model", tmp_path / "cli" / "final" / "model.pt", "--top-k", "2", digit_png
    )
    assert r.exit_code == 0, r.output
    assert str(digit_png) in r.output and r.output.count(".") >= 2
    r = run("studies", *common)
    assert r.exit_code == 0 and "cli" in r.output and "2 complete" in r.output

    r = runner.invoke(
        app, ["delete", "--study", "cli", "--studies-dir", str(tmp_path)], input="n\n"
    )
    assert r.exit_code == 1 and "Delete study 'cli' (2 trials" in r.output
    assert "nothing deleted" in r.output and (tmp_path / "cli" / "final").is_dir()
    (tmp_path / "cache" / "keep").mkdir(parents=True, exist_ok=True)
    r = run("delete", "--study", "cli", "--yes", *common)
    assert r.exit_code == 0, r.output
    assert "deleted study 'cli' (2 trials)" in r.output
    assert not (tmp_path / "cli").exists() and not (tmp_path / "cli.db").exists()
    assert (tmp_path / "cache" / "keep").is_dir()  # nothing else touched
    r = run("delete", "--study", "cli", "--yes", *common)
    assert r.exit_code == 2 and "no study named 'cli'" in r.output and "Traceback" not in r.output


def test_studies_with_none(tmp_path):
    r = run("studies", "--studies-dir", tmp_path)
    assert r.exit_code == 0 and "no studies" in r.output


def test_spaces_lists_builtin():
    r = run("spaces")
    assert r.exit_code == 0 and "scratch_cnn:" in r.output
    # descriptions verbatim: the brackets are text, not markup
    assert "5 x [conv -> (BN) -> activation -> max-pool], dense" in r.output


def test_spaces_name_lists_what_it_searches():
    r = run("spaces", "scratch_cnn")
    assert r.exit_code == 0, r.output
    rows = {line.split("│")[1].strip(): line for line in r.output.splitlines() if "│" in line}
    assert "filter_org" in rows and "same, double, half" in rows["filter_org"]
    assert "always" in rows["filter_org"]
    assert "0.0001 .. 0.03, log" in rows["lr"]
    assert "optimizer = sgd" in rows["momentum"]  # derived by sampling the space
    r = run("spaces", "finetune")
    assert "freeze = last_k" in r.output
    r = run("spaces", "nope")
    assert r.exit_code == 2 and "unknown space 'nope'; choose one of:" in r.output


def test_version_and_short_help():
    from automl import __version__

    for flag in ("--version", "-V"):
        r = run(flag)
        assert r.exit_code == 0 and r.output.strip() == f"automl {__version__}"
    for command in ("search", "finalize", "predict", "delete", "spaces"):
        r = run(command, "-h")
        assert r.exit_code == 0 and "Usage: " in r.output, command


def _folder(tmp_path, classes=("a", "b"), split="train"):
    from PIL import Image

    for c in classes:
        (tmp_path / split / c).mkdir(parents=True, exist_ok=True)
        for i in range(3):
            Image.new("RGB", (12, 12), (i * 40, 10, 200)).save(tmp_path / split / c / f"{i}.png")
    return tmp_path


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_root", "does not exist; pass --data DIR"),
        ("no_classes", "no class folders in"),
        ("one_class", "holds one class \\(a\\); a classifier needs at least 2 classes"),
        ("no_heldout", "held-out folder .* does not exist; pass --test-dir"),
        ("classes_differ", "held-out classes in .* differ from training classes"),
        ("unknown_space", "unknown space 'nope'; choose one of: .*scratch_cnn"),
        ("broken_space_file", "failed to import"),
        ("space_returns_nothing", "returned NoneType; it must return"),
        ("bad_storage", "bad storage URL"),
        ("bad_sampler", "unknown sampler 'bogus'; choose one of"),
        ("bad_threads", "--threads must be a whole number of at least 1, got 0"),
        ("bad_precision", "unknown precision 'fp64'; choose one of: auto, bf16, fp16, fp32"),
    ],
)
def test_search_errors_are_one_line(tmp_path, case, message):
    args = ["search", "--studies-dir", tmp_path / "s", "--trials", "1", "--epochs", "1"]
    if case == "missing_root":
        args += ["--data", tmp_path / "nowhere"]
    elif case == "no_classes":
        (tmp_path / "train").mkdir()
        args += ["--data", tmp_path]
    elif case == "one_class":
        _folder(tmp_path, ("a",))
        _folder(tmp_path, ("a",), "test")
        args += ["--data", tmp_path]
    elif case == "no_heldout":
        args += ["--data", _folder(tmp_path)]
    elif case == "classes_differ":
        _folder(tmp_path)
        _folder(tmp_path, ("a", "c"), "test")
        args += ["--data", tmp_path]
    elif case == "unknown_space":
        args += ["--space", "nope"]
    elif case == "broken_space_file":
        (tmp_path / "broken.py").write_text("import nowhere_module\n")
        args += ["--space", tmp_path / "broken.py"]
    elif case == "space_returns_nothing":
        (tmp_path / "empty.py").write_text("def space(trial):\n    return None\n")
        args += ["--space", tmp_path / "empty.py"]
    elif case == "bad_storage":
        args += ["--storage", "sqlite//oops"]
    elif case == "bad_sampler":
        args += ["--sampler", "bogus"]
    elif case == "bad_threads":
        args += ["--threads", "0"]
    elif case == "bad_precision":
        args += ["--precision", "fp64"]
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert re.search(message, r.output), r.output


def test_finalize_and_predict_errors(tmp_path):
    r = run("finalize", "--study", "ghost", "--studies-dir", tmp_path)
    assert r.exit_code == 2 and r.output.startswith("error: no study database at")
    junk = tmp_path / "model.pt"
    junk.write_text("junk")
    r = run("predict", "--model", junk, junk)
    assert r.exit_code == 2 and "is not an automl model file" in r.output
    r = run("predict", "--model", tmp_path / "none.pt", junk)
    assert r.exit_code == 2 and "does not exist" in r.output


def test_finetune_flow_with_pins(tmp_path, digit_png):
    common = ["--studies-dir", tmp_path]
    r = run(
        "search",
        "--space",
        "finetune",
        "--study",
        "ft",
        "--trials",
        "1",
        "--epochs",
        "1",
        "--recheck",
        "0",
        "--fix",
        "backbone=efficientnet_lite0",
        "--fix",
        "freeze=head",
        "--fix",
        "augment=none",
        *common,
    )
    assert r.exit_code == 0, r.output
    r = run("finalize", "--study", "ft", *common)
    assert r.exit_code == 0, r.output
    r = run("predict", "--model", tmp_path / "ft" / "final" / "model.pt", digit_png)
    assert r.exit_code == 0 and str(digit_png) in r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fix", "novalue"], "--fix takes NAME=VALUE, got 'novalue'"),
        (["--fix", "nope=1"], "has no param 'nope' to fix"),
        (["--fix", "lr=abc"], "lr='abc' does not fit space 'scratch_cnn': lr is a float"),
        (["--fix", "activation=swish"], "unknown activation 'swish'; choose one of: elu"),
        (
            ["--space", "finetune", "--fix", "backbone=resnet_18", "--no-pretrained"],
            "unknown timm backbone 'resnet_18'",  # outside the choices, and not in timm either
        ),
        (["--weights", "w.pt"], "has no pretrained backbone; drop --weights"),
        (
            ["--space", "finetune", "--fix", "backbone=resnet50", "--fix", "freeze=head"],
            "no ImageNet weights for resnet50",
        ),
    ],
)
def test_pin_and_weight_errors(tmp_path, args, message):
    r = run("search", "--studies-dir", tmp_path, "--trials", "1", "--epochs", "1", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_fix_outside_the_choices_is_used_with_one_warning(tmp_path):
    # docs/search_spaces.md: any timm backbone works, not only the space's own list
    args = ["search", "--space", "finetune", "--study", "r34", "--studies-dir", tmp_path]
    pins = ["--fix", "backbone=resnet34", "--fix", "freeze=head", "--fix", "augment=none"]
    r = run(*args, *pins, "--no-pretrained", "--trials", "1", "--epochs", "1", "--recheck", "0")
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    warned = [line for line in r.output.splitlines() if line.startswith("WARNING")]
    assert len(warned) == 1 and "backbone='resnet34' is outside what space finetune" in warned[0]
    study = optuna.load_study(study_name="r34", storage=f"sqlite:///{tmp_path}/r34.db")
    assert [t.params["backbone"] for t in study.trials] == ["resnet34"]
    r = run(*args, "--fix", "backbone=resnet26", "--trials", "2")  # not among the study's
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.output.startswith("error: study 'r34' searches backbone among efficientnet_lite0")
    assert "resnet34 (its choices when it was made), not 'resnet26'" in r.output


def test_new_options_have_help_text():
    def words(r) -> str:  # the help text with rich's box and line wrapping taken out
        return " ".join(r.output.replace("│", " ").split())

    r = run("search", "--help")
    assert r.exit_code == 0
    for text in ("--workers", "--threads", "--precision", "Worker processes on the study"):
        assert text in words(r)
    assert "--offline" in words(r) and "Never download pretrained weights" in words(r)
    assert "--no-portfolio" in words(r) and "known-good configurations" in words(r)
    r = run("worker", "--help")
    assert r.exit_code == 0 and "Join a study made by `automl search`" in words(r)
    for option in ("--study", "--storage", "--data", "--trials", "--heartbeat-interval"):
        assert option in words(r)
    assert "--offline" in words(r)
    r = run("search", "--timeout", "0", "--studies-dir", "unused")
    assert r.exit_code == 2 and "--timeout must be a positive number of seconds" in r.output
    assert "Traceback" not in r.output
    r = run("export", "--help")
    assert r.exit_code == 0 and "runs without automl" in words(r)
    for text in ("--format", "onnx", "pt2", "--out", "--space-file"):
        assert text in words(r)
    r = run("predict", "--help")
    assert r.exit_code == 0 and "--space-file" in words(r) and ".onnx" in words(r)


def test_sampler_and_pruner_help_come_from_their_tables():
    from automl.study.samplers import PRUNERS, SAMPLERS, TWO_OBJECTIVE_PRUNERS

    words = " ".join(run("search", "--help").output.replace("│", " ").split())
    assert "--sampler <str> " + " | ".join(SAMPLERS) + "." in words
    one = " | ".join(p for p in PRUNERS if p not in TWO_OBJECTIVE_PRUNERS)
    assert f"--pruner <str> {one} | none (default hyperband); with --objective" in words
    assert "accuracy,COST: pareto (default) | none." in words


def test_bad_workers_is_one_line(tmp_path):
    r = run("search", "--workers", "0", "--studies-dir", tmp_path)
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert "--workers must be a whole number of at least 1, got 0" in lines[0]


@pytest.mark.parametrize(
    "command",
    ["search", "worker", "finalize", "report", "export", "dashboard", "delete", "studies"],
)
def test_every_study_command_takes_the_workspace_options(tmp_path, command):
    """--storage and --studies-dir on every command that reads a study; the storage given is
    the one used (here a database under a file, which no command can open or make)."""
    (tmp_path / "afile").write_text("not a folder")
    url = f"sqlite:///{tmp_path / 'afile' / 'w.db'}"
    args = [command, "--storage", url, "--studies-dir", tmp_path / "studies"]
    args += {"studies": [], "delete": ["--study", "w", "--yes"]}.get(command, ["--study", "w"])
    r = run(*args)
    assert "No such option" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert str(tmp_path / "afile") in r.output, r.output
