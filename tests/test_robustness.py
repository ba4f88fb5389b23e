"""`fashion-export robustness` and `pick-default` on the tiny exported model."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from edge_app.contract import read_contract
from edge_app.labels import LABELS
from export.cli import app

ROOT = Path(__file__).resolve().parents[1]

runner = CliRunner()


def test_robustness_table_json_and_confusion(export_run, exported, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(exported["int8"], models / "baseline-int8.tflite")
    out = tmp_path / "reports"
    result = runner.invoke(app, ["robustness", str(export_run.parent), str(models), "--out", str(out),
                                 "--limit", "50", "--real-dir", "unseen", "--modes", "photo,seed", "--rendered", "0"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "robustness.json").read_text())
    rows = {(r["model"], r["variant"]): r for r in data["rows"]}
    assert set(rows) == {("baseline", "keras"), ("baseline", "int8")}
    trained = json.loads((export_run / "metrics.json").read_text())
    assert rows[("baseline", "keras")]["test_acc"] == trained["test_accuracy"]  # the same model on the same 10,000 images
    n_unseen = len(list((ROOT / "unseen").glob("*/*.png")))
    for r in rows.values():
        assert len(r["corruption"]) == 18
        assert r["corruption_mean"] == pytest.approx(np.mean(list(r["corruption"].values())))
        assert set(r["real"]["unseen"]) == {"photo", "seed"}
        confusion = np.array(r["confusion"]["unseen"])  # true class × predicted, photo mode
        assert confusion.shape == (10, 10) and confusion.sum() == n_unseen
        assert set(r["per_class"]["unseen"]) <= set(LABELS)
        for c, name in enumerate(LABELS):  # per-class accuracy is the confusion matrix's row, read off its diagonal
            if confusion[c].sum():
                assert r["per_class"]["unseen"][name] == confusion[c, c] / confusion[c].sum()
    md = (out / "robustness.md").read_text()
    assert "| baseline | int8 |" in md and "Per-class accuracy" in md
    with Image.open(out / "confusion-baseline.png") as im:
        assert im.size[0] > 200


def test_robustness_by_source_failure_gallery_and_empty_scenes(export_run, exported, tmp_path):
    # a labelled folder of two "sources": casual photos (closet_*) and product shots (shop_*)
    real = tmp_path / "real"
    for i, src in enumerate(sorted((ROOT / "unseen").glob("*/*.png"))[:12]):
        (real / src.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(src, real / src.parent.name / f"{'closet' if i % 3 == 0 else 'shop'}_{i}.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    for p in sorted((ROOT / "tests" / "empty_scenes").glob("*.jpg"))[:5]:
        shutil.copy(p, empty / p.name)
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(exported["int8"], models / "baseline-int8.tflite")
    out = tmp_path / "reports"
    result = runner.invoke(app, ["robustness", str(export_run.parent), str(models), "--out", str(out), "--limit", "20",
                                 "--real-dir", str(real), "--modes", "photo", "--casual", "closet", "--empty-dir", str(empty), "--rendered", "30"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "robustness.json").read_text())
    from edge_app.images import load_image
    from edge_app.preprocess import preprocess, preprocess_views

    answered_no_item = sum(not preprocess(load_image(p)).has_item for p in sorted(empty.iterdir()))
    still_no_item = sum(not any(v.has_item for v in preprocess_views(load_image(p))) for p in sorted(empty.iterdir()))
    assert data["empty_scenes"] == {"folder": "empty", "n": 5, "no_item": answered_no_item, "no_item_still": still_no_item}
    assert still_no_item <= answered_no_item  # a photo file is "no item" only when every view says so
    row = next(r for r in data["rows"] if r["variant"] == "int8")
    src = row["sources"]["real"]
    assert src["casual"]["n"] == 4 and src["product"]["n"] == 8
    assert src["closet"]["n"] == 4 and src["shop"]["n"] == 8
    # overall accuracy is the count-weighted mean of the two kinds
    overall = (src["casual"]["acc"] * 4 + src["product"]["acc"] * 8) / 12
    assert abs(overall - row["real"]["real"]["photo"]) < 1e-9
    assert set(row["real"]) == {"unseen", "real", "rendered"}  # 30 test items rendered as casual photos
    assert "rendered (photo)" in (out / "robustness.md").read_text()
    md = (out / "robustness.md").read_text()
    assert "by kind of photo" in md and "Empty scenes" in md
    wrong = round((1 - row["real"]["real"]["photo"]) * 12)
    assert {p.name for p in out.glob("failures-*.png")} == {f"failures-baseline-{s}.png" for s in ("unseen", "real", "rendered")}
    with Image.open(out / "failures-baseline-real.png") as im:
        assert im.size[0] == 6 * 200 and im.size[1] == 24 + max(1, -(-wrong // 6)) * 150  # one tile per failure


def test_robustness_bad_flags(export_run, tmp_path):
    result = runner.invoke(app, ["robustness", str(export_run.parent), str(tmp_path), "--modes", "magic"])
    assert result.exit_code == 1 and "--modes" in result.output
    result = runner.invoke(app, ["robustness", str(export_run.parent), str(tmp_path), "--real-dir", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no such folder" in result.output


def test_pick_default_takes_a_checked_int8_model(export_run, exported, tmp_path):
    from export.check import check, write_report
    from export.config import EvalConfig
    from export.evalsets import EvalData

    models = tmp_path / "models"
    models.mkdir()
    candidate = models / "baseline-int8.tflite"
    shutil.copy(exported["int8"], candidate)
    out = tmp_path / "default.tflite"
    result = runner.invoke(app, ["pick-default", str(models), "--out", str(out)])
    assert result.exit_code == 1 and "passed its drift check" in result.output  # not checked yet
    write_report(check(candidate, export_run, EvalData.load(EvalConfig(unseen="unseen", test_limit=500)), max_drift=5.0))
    result = runner.invoke(app, ["pick-default", str(models), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_contract(out).variant == "int8" and read_contract(out).checks["drift"]["test"]["n"] == 500


def test_each_model_is_scored_on_pixels_made_its_own_way(export_run):
    from dataclasses import replace

    from edge_app.preprocess import PhotoParams, PreprocessSpec
    from export.evalsets import RealSet, SuiteSets
    from export.runs import KerasPredictor

    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((ROOT / "unseen").glob("*/*.png"))[:6]]
    rs = RealSet.of("unseen", images, np.zeros(6, int), [f"{i}" for i in range(6)], ("photo", "still", "seed"))
    small = PreprocessSpec("photo", PhotoParams(fit=16))
    other = rs.with_spec(small)
    assert rs.with_spec(PreprocessSpec()) is rs and other.spec == small
    np.testing.assert_array_equal(other.pixels["seed"], rs.pixels["seed"])  # the study's pipeline has no parameters
    assert not np.array_equal(other.pixels["photo"], rs.pixels["photo"])
    assert other.pixels["photo"][:, :6].max() == 0 and other.pixels["still"].shape == rs.pixels["still"].shape  # fitted to 16 px
    sets = SuiteSets(None, [], [rs])
    assert sets.with_spec(small) is sets.with_spec(small) and sets.with_spec(small).real[0].spec == small

    # a run records its preprocessing; robustness and bench score its Keras model with it, as its exports' contracts do
    metrics_path = export_run / "metrics.json"
    original = metrics_path.read_text()
    assert KerasPredictor.from_run(export_run).spec == PreprocessSpec.from_dict(json.loads(original)["preprocess"])
    try:
        metrics_path.write_text(json.dumps({**json.loads(original), "preprocess": replace(PreprocessSpec(), photo=PhotoParams(fit=16)).to_dict()}))
        assert KerasPredictor.from_run(export_run).spec == small
    finally:
        metrics_path.write_text(original)
