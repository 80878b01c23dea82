"""Export: every built-in model runs outside automl (ONNX through onnxruntime, pt2 through
torch.export) and gives the probabilities automl's own model gives."""

import json

import pytest
import torch
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.errors import ConfigError, ModelFileError, StorageError
from automl.exporting import export, load_exported, write_standalone
from automl.exporting.graph import example_input
from automl.inference import LoadedModel, load_model, open_model, read_image
from automl.models import create_model
from automl.models.finetune import FinetuneConfig
from automl.models.resnet import ResNetConfig
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.nn import NORMS

FORMATS = ["onnx", "pt2"]
TOLERANCE = 1e-4  # max abs probability difference, fp32

RESNETS = [
    ResNetConfig(n=1, width=0.5, norm=norm, norm_impl=impl, groups=2)
    for norm in NORMS
    for impl in ("torch", "automl")
    if impl in NORMS[norm]
] + [ResNetConfig(n=1, width=0.5, norm="batch", norm_impl="automl", conv_impl="automl")]
MODELS = [
    ScratchCNNConfig(base_filters=8, filter_org="double", batch_norm=True, dropout=0.2),
    ScratchCNNConfig(base_filters=8, activation="mish", batch_norm=False, kernel_size=5),
    *RESNETS,
    FinetuneConfig(backbone="efficientnet_lite0", freeze="last_k", trainable_stages=1),
]


def _loaded(cfg, in_chans=3, resolution=32, classes=3) -> LoadedModel:
    """A model with trained-looking statistics: a few training-mode passes, then eval."""
    torch.manual_seed(0)
    model = create_model(cfg, num_classes=classes, in_chans=in_chans, resolution=resolution)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, in_chans, resolution, resolution) * 2 + 0.5)
    model.eval()
    shape = (1, -1, 1, 1)
    mean, std = torch.full((in_chans,), 0.4).view(shape), torch.full((in_chans,), 0.3).view(shape)
    names = [f"class {i}" for i in range(classes)]
    info = {"study": "s", "trial": 0}
    return LoadedModel(model, names, resolution, in_chans, mean, std, torch.device("cpu"), info)


def _check_matches(loaded, path, batch=5):
    exported = load_exported(path)
    assert exported.classes == loaded.classes and exported.resolution == loaded.resolution
    rgb = example_input(loaded.resolution, batch)  # (N, R, R, 3)
    nchw = rgb.permute(0, 3, 1, 2)
    if loaded.in_chans == 1:  # automl's own gray conversion, as read_image does
        luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        mine = (nchw.float() * luma).sum(1, keepdim=True).round().clamp(0, 255).byte()
    else:
        mine = nchw
    want = loaded.probabilities(mine)
    got = exported.probabilities(nchw.contiguous())
    assert got.shape == (batch, len(loaded.classes))
    assert (got - want).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("cfg", MODELS, ids=lambda c: f"{c.arch}-{getattr(c, 'norm', '')}")
def test_every_builtin_model_exports_to_onnx(cfg, tmp_path):
    pytest.importorskip("onnxruntime")
    loaded = _loaded(cfg)
    _check_matches(loaded, write_standalone(loaded, tmp_path / "m.onnx", "onnx"))


@pytest.mark.parametrize("cfg", [MODELS[0], RESNETS[-1], MODELS[-1]], ids=["cnn", "conv", "ft"])
def test_pt2_archives_need_torch_only(cfg, tmp_path):
    loaded = _loaded(cfg)
    path = write_standalone(loaded, tmp_path / "m.pt2", "pt2")
    program = torch.export.load(path)  # no automl involved
    probs = program.module()(example_input(32, 3))
    assert probs.shape == (3, 3) and torch.allclose(probs.sum(1), torch.ones(3))
    _check_matches(loaded, path)


def test_gray_models_take_rgb_and_convert_inside(tmp_path):
    pytest.importorskip("onnxruntime")
    loaded = _loaded(ScratchCNNConfig(base_filters=8), in_chans=1, resolution=16)
    _check_matches(loaded, write_standalone(loaded, tmp_path / "g.onnx", "onnx"))


def test_onnx_metadata_says_how_to_use_it(tmp_path):
    onnx = pytest.importorskip("onnx")
    loaded = _loaded(MODELS[0])
    proto = onnx.load(str(write_standalone(loaded, tmp_path / "m.onnx", "onnx")))
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert meta["classes"] == ["class 0", "class 1", "class 2"] and meta["resolution"] == 32
    assert meta["input"] == "uint8 RGB (N, 32, 32, 3)" and meta["study"] == "s"
    (inp,) = proto.graph.input
    assert inp.name == "images" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8


def test_finalize_writes_a_standalone_pt2_and_export_an_onnx(finalized, tmp_path, digit_png):
    studies_dir, result = finalized
    pt2 = result.model_path.with_suffix(".pt2")
    assert pt2.is_file()
    loaded = load_model(result.model_path, "cpu")
    _check_matches(loaded, pt2)
    out = str(tmp_path / "digits.onnx")
    args = ["export", "--study", "fin", "--studies-dir", str(studies_dir), "--out", out]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output
    for model in (result.model_path, pt2, tmp_path / "digits.onnx"):
        r = CliRunner().invoke(app, ["predict", "--model", str(model), str(digit_png)])
        assert r.exit_code == 0, r.output
        assert f"{digit_png}: {digit_png.stem.split('_')[1]} " in r.output  # the true digit first
    image = read_image(digit_png, loaded.resolution, 1)[None]
    via_onnx = open_model(tmp_path / "digits.onnx")
    rgb = read_image(digit_png, loaded.resolution, 3)[None]
    diff = (via_onnx.probabilities(rgb) - loaded.probabilities(image)).abs().max().item()
    assert diff <= TOLERANCE


def test_a_graph_the_exporter_refuses_is_one_error(tmp_path):
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x  # a branch on values: torch.export cannot trace

    loaded = _loaded(MODELS[0])
    loaded.model = DataDependent()
    with pytest.raises(ModelFileError, match="cannot export DataDependent as pt2: "):
        write_standalone(loaded, tmp_path / "m.pt2", "pt2")
    assert list(tmp_path.iterdir()) == []  # no half-written file


def test_export_takes_the_workspace_options(finalized, tmp_path):
    """`automl export --study S --storage URL --studies-dir D`, as every study command; the
    study must be in the storage given."""
    studies_dir, _ = finalized
    out = tmp_path / "m.pt2"
    args = ["export", "--study", "fin", "--storage", f"sqlite:///{studies_dir / 'fin.db'}"]
    args += ["--studies-dir", str(studies_dir), "--format", "pt2", "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and out.is_file(), r.output
    with pytest.raises(StorageError, match="no study database at .*other.db"):
        export("fin", studies_dir=studies_dir, storage=f"sqlite:///{tmp_path / 'other.db'}")


def test_export_errors_are_one_line(finalized, tmp_path):
    studies_dir, _ = finalized
    with pytest.raises(ConfigError, match="unknown export format 'torchscript'; choose one of"):
        export("fin", format="torchscript", studies_dir=studies_dir)
    first = "has no finalized model .*; run `automl finalize --study nope` first"
    with pytest.raises(ModelFileError, match=first):
        export("nope", studies_dir=studies_dir)
    r = CliRunner().invoke(app, ["export", "--study", "nope", "--studies-dir", str(tmp_path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"nope")
    with pytest.raises(ModelFileError, match="not a readable ONNX file"):
        automl.predict(junk, [tmp_path])
