"""edge_app.Classifier: the Pi's code path — batching, quantization, contract checks, decisions."""

import numpy as np
import pytest

from edge_app.classifier import NO_ITEM, UNCERTAIN, Classifier, decide
from edge_app.contract import Contract, ContractError, read_model, write_model
from edge_app.runtime import dequantize, pixels_to_input, quantize


def test_batched_equals_one_by_one(exported):
    clf = Classifier(exported["int8"], max_batch=7)
    x = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    batched = clf.probabilities(x)
    single = np.concatenate([clf.probabilities(x[i]) for i in range(20)])
    np.testing.assert_array_equal(batched, single)
    assert batched.shape == (20, 10)
    assert np.allclose(batched.sum(1), 1.0, atol=0.05)


def test_classify_photo_and_no_item(exported):
    clf = Classifier(exported["int8"])
    frame = np.full((240, 320, 3), 230, np.uint8)
    frame[60:200, 110:210] = 30
    pred = clf.classify(frame, top_k=3)
    assert pred.index in range(10) and len(pred.top_k) == 3
    assert pred.top_k[0][1] >= pred.top_k[1][1] >= pred.top_k[2][1]
    assert pred.ms_preprocess > 0 and pred.ms_inference > 0
    blank = clf.classify(np.full((240, 320, 3), 128, np.uint8))
    assert blank.label == NO_ITEM and blank.index == -1


def test_threshold_gives_uncertain():
    labels = [f"class {i}" for i in range(10)]
    probs = np.full(10, 0.1, np.float32)
    probs[3] = 0.2
    uncertain = decide(probs, labels, threshold=0.5)
    assert uncertain.label == UNCERTAIN and uncertain.index == 3 and uncertain.score == pytest.approx(0.2)
    assert decide(probs, labels, threshold=0.2).label == "class 3"  # the threshold itself is enough


def test_classify_is_scores_then_decide(exported):
    """`classify` = `scores` + the pure `decide`; a smoother in between sees the very same probabilities."""
    clf = Classifier(exported["int8"])
    frame = np.full((240, 320, 3), 230, np.uint8)
    frame[60:200, 110:210] = 30
    scores = clf.scores(frame)
    np.testing.assert_array_equal(scores.probs, clf.probabilities(clf_input(clf, frame))[0])
    direct, via = clf.classify(frame, top_k=2), scores.decide(clf.labels, top_k=2)
    assert (direct.label, direct.index, direct.top_k) == (via.label, via.index, via.top_k)
    assert clf.scores(np.full((240, 320, 3), 128, np.uint8)).decide(clf.labels).label == NO_ITEM


def clf_input(clf, frame):
    from edge_app.preprocess import preprocess

    return preprocess(frame, clf.spec).image


def test_uint8_input_is_fed_without_float_math():
    detail = {"dtype": np.uint8, "quantization": (1 / 255, 0)}
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    np.testing.assert_array_equal(pixels_to_input(x, detail)[..., 0], x)
    int8 = {"dtype": np.int8, "quantization": (1 / 255, -128)}
    np.testing.assert_array_equal(pixels_to_input(x, int8)[..., 0].astype(int), x.astype(int) - 128)


def test_quantization_uses_the_tensors_own_parameters():
    detail = {"dtype": np.int8, "quantization": (0.5, 3)}
    q = quantize(np.array([0.0, 1.0, -1.0, 100.0]), detail)
    assert q.tolist() == [3, 5, 1, 127]
    np.testing.assert_allclose(dequantize(q, detail), [0.0, 1.0, -1.0, 62.0])


def test_model_without_contract_is_refused(exported, tmp_path):
    flat, _ = read_model(exported["float32"])
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(flat)
    with pytest.raises(ContractError, match="no contract"):
        Classifier(bare)


def test_wrong_input_shape_is_refused(exported, tmp_path):
    flat, c = read_model(exported["float32"])
    wrong = write_model(tmp_path / "wrong.tflite", flat, Contract.from_dict({**c.__dict__, "input_shape": [1, 32, 32, 3]}))
    with pytest.raises(ContractError, match="not \\[N, 28, 28, 1\\]"):
        Classifier(wrong)


def test_foreign_flatbuffer_is_refused(tmp_path):
    junk = write_model(tmp_path / "junk.tflite", b"\x00\x00\x00\x00TFL3" + b"\x00" * 64, Contract())
    with pytest.raises(ValueError, match="rejected the model"):
        Classifier(junk)
