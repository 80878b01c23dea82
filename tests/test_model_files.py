"""Model files travel: a model a user's space file defines predicts from anywhere, and says in
one line what is missing when that file moved or changed."""

import shutil
import subprocess
import sys
import textwrap

import pytest

import automl

SPACE = textwrap.dedent(
    '''
    """A user's own model, registered next to the space that searches it."""
    from dataclasses import dataclass
    from typing import ClassVar

    from torch import nn

    import automl


    @dataclass(frozen=True)
    class TinyVGGConfig:
        arch: ClassVar[str] = "tiny_vgg"
        width: int = 8


    @automl.register_model("tiny_vgg", TinyVGGConfig)
    def tiny_vgg(cfg, num_classes, in_chans=3, resolution=32):
        return nn.Sequential(
            nn.Conv2d(in_chans, cfg.width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(cfg.width, cfg.width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cfg.width, num_classes),
        )


    def space(trial):
        return automl.TrialConfig(
            model=TinyVGGConfig(width=trial.suggest_categorical("width", [8, 16])),
            optim=automl.OptimConfig(lr=trial.suggest_float("lr", 3e-3, 1e-2, log=True)),
            data=automl.DataConfig(resolution=16, batch_size=128),
        )
    '''
)


def run(*args, cwd=None):
    """`automl ARGS` in a fresh process: only what the files themselves register exists."""
    argv = [sys.executable, "-m", "automl", *map(str, args)]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """(space file, model.pt) of a finalized study of the user's own model."""
    root = tmp_path_factory.mktemp("user")
    space_file = root / "code" / "tiny_vgg_space.py"
    space_file.parent.mkdir()
    space_file.write_text(SPACE)
    studies = root / "studies"
    automl.search(str(space_file), study="vgg", trials=2, epochs=1, studies_dir=studies, recheck=0)
    result = automl.finalize("vgg", studies_dir=studies)
    return space_file, result.model_path


def test_the_model_file_alone_predicts_from_another_folder(user_model, tmp_path, digit_png):
    _, model_path = user_model
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(model_path, elsewhere / "model.pt")  # no model.pt2 beside it
    code, output = run("predict", "--model", "model.pt", digit_png, cwd=elsewhere)
    assert code == 0, output
    assert str(digit_png) in output


def test_a_moved_space_file_is_named_in_one_line(user_model, tmp_path, digit_png):
    space_file, model_path = user_model
    alone = tmp_path / "model.pt"
    shutil.copy(model_path, alone)
    moved = tmp_path / "moved_space.py"
    space_file.rename(moved)
    try:
        code, output = run("predict", "--model", alone, digit_png)
        assert code == 2 and "Traceback" not in output
        assert len(output.strip().splitlines()) == 1, output
        assert "tiny_vgg_space.py, which is not there any more" in output
        assert "--space-file" in output
        code, output = run("predict", "--model", alone, "--space-file", moved, digit_png)
        assert code == 0, output
        assert str(digit_png) in output
        # beside its model.pt2 (as finalize leaves it), prediction needs no code at all
        code, output = run("predict", "--model", model_path, digit_png)
        assert code == 0, output
        assert "using the standalone model.pt2" in " ".join(output.split())
        assert str(digit_png) in output
    finally:
        moved.rename(space_file)


def test_a_changed_space_file_is_refused_unless_pointed_at(user_model, tmp_path, digit_png):
    space_file, model_path = user_model
    alone = tmp_path / "model.pt"
    shutil.copy(model_path, alone)
    original = space_file.read_text()
    try:
        space_file.write_text(original + "\n# edited\n")
        code, output = run("predict", "--model", alone, digit_png)
        assert code == 2 and "changed since the model was saved" in output
        assert "--space-file" in output
    finally:
        space_file.write_text(original)
