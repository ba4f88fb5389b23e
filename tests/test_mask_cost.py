"""scripts/mask_cost.py: the model's own mask, the true silhouette and the item itself, on the same renderings."""

import importlib.util
from pathlib import Path

import numpy as np

from edge_app.classifier import Classifier

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mask_cost.py"


def _script():
    spec = importlib.util.spec_from_file_location("mask_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mask_cost_scores_the_same_renderings_three_ways(fmnist_dir):  # the fixture skips without the data set
    mc = _script()
    result = mc.mask_cost(Classifier(), n=30, seed=11)
    assert set(result) == {"label", "own mask", "true mask", "item"}
    assert all(len(v) == 30 for v in result.values())
    assert result["item"].mean() >= 0.8  # the shipped model on Fashion-MNIST test items themselves
    again = mc.mask_cost(Classifier(), n=30, seed=11)
    assert all(np.array_equal(result[k], again[k]) for k in result)  # each rendering is seeded by its item
    text = mc.table(result)
    assert text.count("\n") == 12 and "**all** | 30" in text
