"""The settings objects: built once at the edge, passed whole, each default in one place."""

import sys

import pytest

import automl
from automl.errors import ConfigError, flag, python_spelling
from automl.settings import (
    STUDIES_DIR,
    Machine,
    SearchOptions,
    WorkerOptions,
    Workspace,
    settings_from,
)
from automl.study.pool import worker_argv


def test_workspace_default_storage_is_one_file_a_study(tmp_path):
    assert Workspace().studies_dir == STUDIES_DIR
    assert Workspace(tmp_path).storage_for("s") == f"sqlite:///{tmp_path / 's.db'}"
    assert Workspace(tmp_path, "sqlite:///x.db").storage_for("s") == "sqlite:///x.db"
    assert Workspace().options() == ""
    assert Workspace("d", "sqlite:///x.db").options() == " --storage sqlite:///x.db --studies-dir d"


def test_keywords_become_the_three_objects():
    options, workspace, machine = settings_from(
        {"space": "scratch_cnn", "trials": 3, "studies_dir": "d", "threads": 2}, None, None
    )
    assert options == SearchOptions(space="scratch_cnn", trials=3)
    assert workspace == Workspace("d") and machine == Machine(threads=2)


def test_an_unknown_search_keyword_names_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="unknown option 'epoch'; it takes: .*epochs") as caught:
        automl.search(epoch=3, studies_dir=tmp_path)
    assert "studies_dir" in str(caught.value) and "threads" in str(caught.value)
    with pytest.raises(ConfigError, match="pass threads inside machine=, not beside it"):
        automl.search(machine=Machine(), threads=2, studies_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before anything was made


def test_option_values_are_checked_where_they_are_made():
    with pytest.raises(ConfigError, match="^trials must be at least 1, got 0"):
        SearchOptions(trials=0)
    with pytest.raises(ConfigError, match="^threads must be a whole number of at least 1"):
        Machine(threads=0)
    with pytest.raises(ConfigError, match="^heartbeat_interval must be at least 1 s, got 0"):
        WorkerOptions(heartbeat_interval=0)
    assert SearchOptions().target == 20 and SearchOptions(timeout=5).target is None


def test_a_worker_takes_the_study_s_options_unless_given():
    stored = WorkerOptions(timeout=60, heartbeat_interval=3, offline=True).to_dict()
    run = WorkerOptions(trials=5, offline=False).over(stored)
    assert (run.trials, run.timeout, run.heartbeat, run.offline) == (5, 60, 3, False)
    assert WorkerOptions().over({}).heartbeat == 10


def test_a_worker_process_gets_the_study_its_workspace_and_its_machine(tmp_path):
    argv = worker_argv("s", Workspace(tmp_path), Machine("cpu", "fp32", 2))
    assert argv == [
        sys.executable, "-m", "automl", "worker", "--study", "s",
        "--storage", f"sqlite:///{(tmp_path / 's.db').resolve()}",
        "--studies-dir", str(tmp_path.resolve()),
        "--device", "cpu", "--precision", "fp32", "--threads", "2",
    ]  # fmt: skip


def test_one_table_from_option_to_flag():
    assert flag("test_dir") == "--test-dir" and flag("force") == "--force"
    assert flag("pretrained") == "--no-pretrained" and flag("upload") == "--no-upload"
    assert python_spelling("pass --no-portfolio or --offline") == (
        "pass portfolio=False or offline=True"
    )
    assert python_spelling("--pretrained") == "pretrained"  # not a flag the CLI has
