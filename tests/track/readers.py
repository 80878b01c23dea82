"""Each tracker's runs read back through its own library, never the network."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ReadRun:
    """One run as a tracker stored it: its name, params, the scalars per step, the values
    logged once, and tags (MLflow) or summary words."""

    name: str
    params: dict[str, str] = field(default_factory=dict)
    scalars: dict[str, dict[int, float]] = field(default_factory=dict)  # name -> step -> value
    summary: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    status: str = ""


def mlflow_runs(folder: Path) -> list[ReadRun]:
    """Every run of the study's MLflow store (studies/<study>/mlflow.db), parents included."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    out = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            read = ReadRun(run.info.run_name, dict(run.data.params), tags=dict(run.data.tags))
            read.status = run.info.status
            for key in run.data.metrics:
                history = client.get_metric_history(run.info.run_id, key)
                read.scalars[key] = {m.step: m.value for m in history}
            out.append(read)
    return out


def tensorboard_runs(folder: Path) -> dict[str, ReadRun]:
    """Every run folder under studies/<study>/tensorboard, by folder name."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for run_dir in sorted(p for p in (folder / "tensorboard").iterdir() if p.is_dir()):
        events = EventAccumulator(str(run_dir))
        events.Reload()
        read = ReadRun(run_dir.name)
        for tag in events.Tags()["scalars"]:
            read.scalars[tag] = {e.step: e.value for e in events.Scalars(tag)}
        for tag in events.Tags()["tensors"]:
            text = events.Tensors(tag)[-1].tensor_proto.string_val
            read.summary[tag.removesuffix("/text_summary")] = text[0].decode() if text else ""
        out[run_dir.name] = read
    return out


BLOCK = 32768  # the .wandb file: W&B's LevelDB-style log of protobuf records


def _records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, buffer = 7, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, size, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        buffer += data[pos : pos + size]
        pos += size
        if kind in (1, 4):  # a whole record, or the last part of one
            record = pb.Record()
            record.ParseFromString(buffer)
            buffer = b""
            yield record


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def wandb_runs(folder: Path) -> list[ReadRun]:
    """Every offline run under studies/<study>/wandb, parsed from its .wandb file."""
    out = []
    for path in sorted((folder / "wandb").glob("offline-run-*/run-*.wandb")):
        read = ReadRun("")
        for record in _records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                read.name = record.run.display_name
                read.tags = {"group": record.run.run_group, "job_type": record.run.job_type}
                for item in record.run.config.update:
                    if item.key != "_wandb":
                        read.params[item.key] = json.loads(item.value_json)
            elif kind == "history":
                row = {_key(i): json.loads(i.value_json) for i in record.history.item}
                step = int(row.pop("_step"))
                for key, value in row.items():
                    if not key.startswith("_") and isinstance(value, int | float):
                        read.scalars.setdefault(key, {})[step] = float(value)
            elif kind == "summary":
                for item in record.summary.update:
                    if not _key(item).startswith("_"):
                        read.summary[_key(item)] = json.loads(item.value_json)
            elif kind == "exit":
                read.status = str(record.exit.exit_code)
        out.append(read)
    return out
