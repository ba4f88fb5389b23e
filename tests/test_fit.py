"""train.fit: one tiny real run writes every artifact; resume continues; every write is atomic."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_app.atomic import atomic_save, atomic_write
from train.config import TrainConfig

ARTIFACTS = ("model.keras", "best.keras", "last.keras", "state.json", "history.json", "metrics.json", "curves.png")


def _temp_leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if ".tmp" in name or name.startswith(".")]


# ---------------------------------------------------------------- the run folder


def test_every_artifact_written(tiny_run):
    for name in ARTIFACTS:
        assert (tiny_run.path / name).is_file(), name
        assert (tiny_run.path / name).stat().st_size > 0, name
    assert tiny_run.path.name == "robust"


def test_no_temp_files_left(tiny_run):
    assert _temp_leftovers(tiny_run.path) == []
    assert _temp_leftovers(tiny_run.path.parent) == []


def test_metrics_json(tiny_run, fmnist_dir):
    metrics = json.loads((tiny_run.path / "metrics.json").read_text())
    assert metrics == tiny_run.metrics
    for key in ("test_accuracy", "test_loss", "params", "seconds_per_epoch", "epochs", "config", "data", "versions"):
        assert key in metrics, key
    assert metrics["model"] == "robust"
    assert metrics["params"] == 56_778
    assert metrics["epochs"] == 1 and metrics["best_epoch"] == 1
    assert 0.1 < metrics["test_accuracy"] <= 1.0  # better than chance after one epoch on 1,800 images
    assert 0.0 < metrics["test_loss"] < 10.0
    assert metrics["seconds_per_epoch"] > 0
    assert metrics["train_images"] == 1800  # 2,000 less the stratified 10 % validation
    assert metrics["replicas"] == 1
    config = metrics["config"]
    assert config["seed"] == 0 and config["limit"] == 2000 and config["model"] == "robust" and config["epochs"] == 1
    assert metrics["data"]["source"] == str(fmnist_dir)
    sums = metrics["data"]["sha256"]
    assert set(sums) == {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in sums.values())
    versions = metrics["versions"]
    assert {"python", "tensorflow", "keras", "numpy"} <= set(versions)


def test_history_json(tiny_run):
    history = json.loads((tiny_run.path / "history.json").read_text())
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history[key]) == 1 and np.isfinite(history[key][0]), key


def test_state_json(tiny_run):
    state = json.loads((tiny_run.path / "state.json").read_text())
    assert state["epoch"] == 1
    assert state["best_val_loss"] == pytest.approx(state["history"]["val_loss"][0])
    assert len(state["epoch_seconds"]) == 1


def test_curves_png(tiny_run):
    with Image.open(tiny_run.path / "curves.png") as img:
        img.verify()
    with Image.open(tiny_run.path / "curves.png") as img:
        assert img.format == "PNG" and img.size[0] > 300 and img.size[1] > 200


def test_model_loads_safely_and_matches_metrics(tiny_run, fmnist_dir):
    import keras

    from edge_app.preprocess import to_input
    from train.data import load_from

    model = keras.models.load_model(tiny_run.path / "model.keras", safe_mode=True)
    assert model.count_params() == 56_778
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    data = load_from(fmnist_dir)
    probs = model.predict(to_input(data.x_test), batch_size=1000, verbose=0)
    assert probs.shape == (10000, 10)
    assert float((probs.argmax(1) == data.y_test).mean()) == pytest.approx(tiny_run.metrics["test_accuracy"], abs=1e-4)


# ---------------------------------------------------------------- resume


def test_resume_continues_without_retraining(tiny_run, fmnist_dir, tmp_path):
    shutil.copytree(tiny_run.path, tmp_path / "robust")
    before = json.loads((tmp_path / "robust" / "history.json").read_text())

    from train.fit import fit

    config = TrainConfig(model="robust", epochs=2, limit=2000, out=str(tmp_path), data_dir=str(fmnist_dir), resume=True)
    result = fit(config, progress=False)

    history = json.loads((result.path / "history.json").read_text())
    state = json.loads((result.path / "state.json").read_text())
    assert state["epoch"] == 2
    assert len(state["epoch_seconds"]) == 2
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history[key]) == 2, key
        assert history[key][0] == before[key][0], key  # epoch 1 was not retrained
    assert result.metrics["epochs"] == 2
    assert result.metrics["best_epoch"] == int(np.argmin(history["val_loss"])) + 1
    assert _temp_leftovers(result.path) == []


def test_resume_when_already_done_trains_nothing(tiny_run, fmnist_dir, tmp_path):
    shutil.copytree(tiny_run.path, tmp_path / "robust")
    last = (tmp_path / "robust" / "last.keras").read_bytes()

    from train.fit import fit

    config = TrainConfig(model="robust", epochs=1, limit=2000, out=str(tmp_path), data_dir=str(fmnist_dir), resume=True)
    result = fit(config, progress=False)
    assert (result.path / "last.keras").read_bytes() == last
    assert json.loads((result.path / "state.json").read_text())["epoch"] == 1
    assert result.metrics["test_accuracy"] == pytest.approx(tiny_run.metrics["test_accuracy"])


def test_resume_refuses_other_data_and_cleans_leftovers(tiny_run, fmnist_dir, tmp_path):
    from train.fit import fit

    shutil.copytree(tiny_run.path, tmp_path / "robust")
    leftover = tmp_path / "robust" / ".last.abc123.tmp.keras"  # what an interrupted atomic save leaves
    leftover.write_bytes(b"half a model")
    config = TrainConfig(model="robust", epochs=2, limit=1000, out=str(tmp_path), data_dir=str(fmnist_dir), resume=True)
    with pytest.raises(ValueError, match="--limit 2000 \\(now 1000\\)"):
        fit(config, progress=False)
    assert not leftover.exists()
    assert json.loads((tmp_path / "robust" / "state.json").read_text())["epoch"] == 1  # nothing was touched


def test_resume_with_nothing_to_resume_says_so(fmnist_dir, tmp_path, capsys):
    from train.fit import fit

    config = TrainConfig(model="baseline", epochs=1, limit=200, out=str(tmp_path), data_dir=str(fmnist_dir), resume=True)
    result = fit(config, progress=True)
    assert "nothing to resume" in capsys.readouterr().err
    assert result.metrics["epochs"] == 1


# ---------------------------------------------------------------- reproducibility


def test_same_seed_same_weights(fmnist_dir, tmp_path):
    """Two runs of `edge` (photo copies rendered in worker processes, per-epoch re-lighting, dropout,
    BatchNorm) with one seed on one machine give identical weights and test accuracy."""
    import keras

    from train.fit import fit

    runs = [fit(TrainConfig(model="edge", epochs=1, limit=200, out=str(tmp_path / f"r{i}"), data_dir=str(fmnist_dir)), progress=False)
            for i in range(2)]
    assert runs[0].metrics["test_accuracy"] == runs[1].metrics["test_accuracy"]
    a, b = (keras.models.load_model(r.path / "model.keras", safe_mode=True).get_weights() for r in runs)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert runs[0].metrics["preprocess"] == runs[1].metrics["preprocess"]


# ---------------------------------------------------------------- atomic writes


def _half_then_fail(exc: BaseException):
    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise exc

    return save


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_keeps_previous_file(tmp_path, exc):
    target = tmp_path / "model.keras"
    target.write_bytes(b"the previous, complete model")
    with pytest.raises(type(exc)):
        atomic_save(target, _half_then_fail(exc))
    assert target.read_bytes() == b"the previous, complete model"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_interrupted_first_save_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        atomic_save(tmp_path / "model.keras", _half_then_fail(RuntimeError("boom")))
    assert os.listdir(tmp_path) == []


def test_atomic_save_replaces_and_reads_like_any_file(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    atomic_write(target, '{"a": 1}')
    atomic_write(target, b'{"a": 2}')
    assert json.loads(target.read_text()) == {"a": 2}
    assert os.listdir(target.parent) == ["metrics.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_interrupted_keras_save_keeps_previous_model(tmp_path):
    """With a real Keras save: a crash mid-write of model.keras leaves the last good model loadable."""
    import keras

    from train.models import build_model

    target = tmp_path / "model.keras"
    model = build_model("baseline")
    atomic_save(target, model.save)
    good = target.read_bytes()

    def crash_mid_save(tmp: str) -> None:
        model.save(tmp)
        with open(tmp, "r+b") as f:
            f.truncate(os.path.getsize(tmp) // 2)
        raise OSError("no space left on device")

    with pytest.raises(OSError):
        atomic_save(target, crash_mid_save)
    assert target.read_bytes() == good
    assert keras.models.load_model(target, safe_mode=True).count_params() == 50_394
    assert os.listdir(tmp_path) == ["model.keras"]


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "--epochs must be ≥ 1"),
        ({"batch_size": 0}, "--batch-size"),
        ({"limit": 5}, "--limit must be ≥ 20"),
        ({"val_fraction": 0.0}, "validation fraction"),
        ({"val_fraction": 0.5}, "validation fraction"),
        ({"strategy": "tpu"}, "default or mirrored"),
        ({"early_stopping": -1}, "--early-stopping"),
    ],
)
def test_config_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_config_defaults_are_the_study():
    from train.models import MODELS, STUDY_MODELS

    c = TrainConfig()
    assert (c.model, c.seed, c.val_fraction, c.strategy) == ("baseline", 0, 0.1, "default")
    for name in STUDY_MODELS:  # epochs and batch size come from the model: the study's 10 and 32
        resolved = c.for_model(MODELS[name])
        assert (resolved.epochs, resolved.batch_size) == (10, 32)
    with pytest.raises(AttributeError):
        c.epochs = 3  # frozen


def test_unknown_model_fails_before_training(tmp_path):
    from train.fit import fit

    with pytest.raises(KeyError, match="valid: baseline"):
        fit(TrainConfig(model="nope", out=str(tmp_path)), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_bad_data_dir_fails_with_data_error(corrupt_dir, tmp_path):
    from train.data import DataError
    from train.fit import fit

    with pytest.raises(DataError, match="checksum"):
        fit(TrainConfig(model="baseline", epochs=1, limit=100, out=str(tmp_path), data_dir=str(corrupt_dir)), progress=False)


def test_batch_norm_trains_fused(fmnist_dir, tmp_path, monkeypatch):
    """fit sends the model it trains through train.batchnorm (robust: one BatchNormalization layer)."""
    import train.fit as fit_module

    seen = []

    def spy(model):
        seen.append((model, fit_module_fuse(model)))
        return seen[-1][1]

    fit_module_fuse = fit_module.fuse_batch_norm
    monkeypatch.setattr(fit_module, "fuse_batch_norm", spy)
    fit_module.fit(TrainConfig(model="robust", epochs=1, limit=200, out=str(tmp_path), data_dir=str(fmnist_dir)), progress=False)
    (model, fused), = seen
    assert fused == 1 and model.optimizer.iterations.numpy() > 0  # the fused model is the one that trained
    config = TrainConfig(model="robust", epochs=1, limit=200, out=str(tmp_path / "k"), data_dir=str(fmnist_dir), batch_norm="keras")
    result = fit_module.fit(config, progress=False)
    assert len(seen) == 1 and result.metrics["config"]["batch_norm"] == "keras"  # Keras's own ops, and recorded
