"""Still images (a photo file, a folder): the mask computed several ways, the model's answers averaged."""

import json
import shutil
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from edge_app.classifier import Classifier
from edge_app.cli import app
from edge_app.images import load_image
from edge_app.preprocess import STILL_VIEWS, PhotoParams, PreprocessSpec, preprocess, preprocess_views
from export.evalsets import RealSet

GOLDEN = Path(__file__).parent / "golden"
CASUAL = sorted(GOLDEN.glob("casual_*.png"))
EMPTY = sorted((Path(__file__).parent / "empty_scenes").glob("*.jpg"))


def test_the_first_view_is_the_camera_frames_and_the_others_follow_the_still_changes():
    image = load_image(CASUAL[0])
    spec = PreprocessSpec()
    views = preprocess_views(image, spec)
    assert len(views) == 1 + len(STILL_VIEWS)
    assert np.array_equal(views[0].image, preprocess(image, spec).image)
    for view, params in zip(views[1:], spec.views()[1:]):
        assert np.array_equal(view.image, preprocess(image, PreprocessSpec(photo=params)).image)
    assert spec.views()[1] == PhotoParams(work_size=96, iterations=3)


def test_still_views_travel_in_the_contract_and_an_older_contract_has_none():
    spec = PreprocessSpec()
    block = json.loads(json.dumps(spec.to_dict(), sort_keys=True))  # as a contract stores it
    assert PreprocessSpec.from_dict(block) == spec
    old = {k: v for k, v in block.items() if k != "still"}
    assert PreprocessSpec.from_dict(old).still == ()
    assert len(preprocess_views(load_image(CASUAL[0]), PreprocessSpec.from_dict(old))) == 1
    assert len(preprocess_views(load_image(CASUAL[0]), PreprocessSpec("seed"))) == 1


def test_a_still_view_out_of_range_is_refused():
    import pytest

    with pytest.raises(ValueError, match="work_size 2"):
        PreprocessSpec(still=((("work_size", 2),),))


def test_still_scores_are_the_mean_over_the_views_that_found_an_item(exported):
    clf = Classifier(exported["int8"])
    assert clf.spec.still  # the export wrote the registry's still views into the contract
    for path in CASUAL:
        image = load_image(path)
        views = [v for v in preprocess_views(image, clf.spec) if v.has_item]
        expected = clf.probabilities(np.stack([v.image for v in views])).mean(axis=0)
        assert np.allclose(clf.scores(image, still=True).probs, expected)
        assert np.allclose(clf.scores(image).probs, clf.probabilities(views[0].image)[0])


def test_an_empty_scene_is_no_item_when_no_view_finds_one(exported):
    clf = Classifier(exported["int8"])
    for path in EMPTY[:10]:
        image = load_image(path)
        none_found = not any(v.has_item for v in preprocess_views(image, clf.spec))
        assert (clf.scores(image, still=True).probs is None) == none_found
        assert clf.classify(image, still=True).label == "no item" or not none_found


def test_the_evaluation_sets_still_mode_is_what_the_classifier_answers(exported):
    clf = Classifier(exported["int8"])
    images = [load_image(p) for p in CASUAL + EMPTY[:3]]
    rs = RealSet.of("t", images, np.zeros(len(images), int), [p.name for p in CASUAL + EMPTY[:3]], ("photo", "still"))
    probs = rs.combine("still", clf.probabilities(rs.pixels["still"]))
    for i, image in enumerate(images):
        scores = clf.scores(image, still=True)
        assert rs.found["still"][i] == (scores.probs is not None)
        if scores.probs is not None:
            assert np.allclose(probs[i], scores.probs, atol=1e-6)


def test_run_on_a_folder_uses_the_still_views_and_no_still_one_mask(exported, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in CASUAL:
        shutil.copy(path, folder / path.name)
    clf = Classifier(exported["int8"])
    for flag, still in (([], True), (["--no-still"], False)):
        out = tmp_path / f"{still}.jsonl"
        result = CliRunner().invoke(app, ["run", "--source", str(folder), "--model", str(exported["int8"]),
                                          "--top-k", "10", "--quiet", "--jsonl", str(out), *flag])
        assert result.exit_code == 0, result.output
        for row in map(json.loads, out.read_text().splitlines()):
            probs = clf.scores(load_image(row["source"]), still=still).probs
            got = {k["label"]: k["score"] for k in row["top_k"]}
            assert np.allclose([got[label] for label in clf.labels], probs, atol=1e-6)


def test_empty_scenes_stay_no_item_as_photo_files():
    # "no item" needs every view to find nothing, so a still photo says it less often than a frame: ≥ 90 % still
    still_no_item = [not any(v.has_item for v in preprocess_views(load_image(p))) for p in EMPTY]
    assert len(EMPTY) == 60 and sum(still_no_item) >= 54
