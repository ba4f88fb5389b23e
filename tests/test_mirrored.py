"""`--strategy mirrored`: tf.distribute.MirroredStrategy on two logical CPUs trains the same model.

TensorFlow's logical devices must be configured before it initialises, so the fit runs in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from train.config import TrainConfig
    from train.fit import fit, make_strategy

    replicas = make_strategy("mirrored").num_replicas_in_sync
    result = fit(TrainConfig(model="baseline", epochs=1, limit=1000, strategy="mirrored",
                             out=sys.argv[1], data_dir=sys.argv[2]), progress=False)
    print("RESULT " + json.dumps({"replicas": replicas, "path": str(result.path), "metrics": result.metrics}))
    """
)


@pytest.fixture(scope="module")
def mirrored_run(fmnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out), str(fmnist_dir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_mirrored_completes_on_two_replicas(mirrored_run):
    assert mirrored_run["replicas"] == 2
    metrics = mirrored_run["metrics"]
    assert metrics["replicas"] == 2  # what the fit itself trained on
    assert metrics["config"]["strategy"] == "mirrored"
    assert metrics["epochs"] == 1 and metrics["best_epoch"] == 1


def test_mirrored_metrics_on_disk(mirrored_run):
    run = Path(mirrored_run["path"])
    assert json.loads((run / "metrics.json").read_text())["replicas"] == 2
    for name in ("model.keras", "history.json", "curves.png", "state.json"):
        assert (run / name).is_file()
    assert not [n for n in run.iterdir() if ".tmp" in n.name]


def test_mirrored_model_matches_default_strategy(mirrored_run, fmnist_dir):
    import keras
    import numpy as np

    from edge_app.preprocess import to_input
    from train.data import load_dataset
    from train.models import build_model

    saved = keras.models.load_model(Path(mirrored_run["path"]) / "model.keras", safe_mode=True)
    reference = build_model("baseline")  # built under the default strategy
    assert saved.count_params() == reference.count_params() == 50_394
    assert mirrored_run["metrics"]["params"] == 50_394
    assert [type(layer).__name__ for layer in saved.layers] == [type(layer).__name__ for layer in reference.layers]
    assert [w.shape for w in saved.get_weights()] == [w.shape for w in reference.get_weights()]
    probs = saved.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0)
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    data = load_dataset(fmnist_dir)  # the saved model is the one the metrics describe
    accuracy = float((saved.predict(to_input(data.x_test), batch_size=512, verbose=0).argmax(1) == data.y_test).mean())
    assert accuracy == mirrored_run["metrics"]["test_accuracy"]
