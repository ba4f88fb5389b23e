"""The one preprocessing module: golden arrays, the study's pipeline, photo-mode behaviour, properties."""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from edge_app.images import load_image
from edge_app.preprocess import VERSION, PhotoParams, PreprocessSpec, preprocess, preprocess_batch, to_gray, to_input

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
# A handful of committed unseen/ images; UPDATE_GOLDEN=1 rewrites the expected arrays after a
# deliberate change to the pipeline (and the diff then shows in review).
GOLDEN_IMAGES = sorted((ROOT / "unseen").glob("*/*.png"))[::12][:6] + sorted(GOLDEN.glob("casual_*.png"))
PHOTO, SEED = PreprocessSpec("photo"), PreprocessSpec("seed")


def shirt_on(background: int, item: int, size=(480, 640), rgb=True) -> np.ndarray:
    """A T-shirt-ish block of one grey level on another."""
    h, w = size
    img = np.full((h, w), background, np.uint8)
    img[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = item
    img[h // 4 : h // 3, w // 5 : 4 * w // 5] = item  # sleeves: wider than tall at the top
    return np.dstack([img] * 3) if rgb else img


LIFTED = PreprocessSpec(photo=PhotoParams(lift=120.0))  # the shipped edge model's (train.models)


@pytest.mark.parametrize("path", GOLDEN_IMAGES, ids=lambda p: p.name)
@pytest.mark.parametrize("mode", ["photo", "seed", "lift"])
def test_golden(path, mode):
    out = preprocess(load_image(path), LIFTED if mode == "lift" else PreprocessSpec(mode)).image
    golden = GOLDEN / f"{path.stem}.{mode}.npy"
    if os.environ.get("UPDATE_GOLDEN"):
        np.save(golden, out)
    np.testing.assert_array_equal(out, np.load(golden))


def test_golden_set_is_present():
    assert len(GOLDEN_IMAGES) >= 4
    assert any(p.name.startswith("casual_") for p in GOLDEN_IMAGES)  # a garment on wood, with shadow and hanger


def colour_shirt_on(background, item, size=(240, 320), edge=False) -> np.ndarray:
    """A T-shirt-ish block of one RGB colour on another; `edge`: its hem runs out of the frame."""
    h, w = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = background
    bottom = h if edge else 3 * h // 4
    img[h // 4 : bottom, w // 3 : 2 * w // 3] = item
    img[h // 4 : h // 3, w // 5 : 4 * w // 5] = item
    return img


def test_colour_finds_a_garment_as_bright_as_its_background():
    # orange on grey: the same luma (143), so a gray-level mask sees nothing; colour sees a shirt
    orange, grey = (230, 120, 30), (143, 143, 143)
    assert to_gray(np.array([[orange]], np.uint8))[0, 0] == 143
    out = preprocess(colour_shirt_on(grey, orange), PHOTO)
    assert out.has_item
    ys, xs = np.nonzero(out.image > 0)
    assert max(np.ptp(ys), np.ptp(xs)) >= 24  # the whole shirt, fitted to 28 px
    assert (out.image > 0).mean() > 0.3  # a solid silhouette (sleeves and body), not an outline


def test_an_item_running_out_of_the_frame_is_kept_to_the_edge():
    wall, blue = (235, 235, 230), (40, 60, 140)
    inside, cut = (preprocess(colour_shirt_on(wall, blue, edge=e), PHOTO) for e in (False, True))
    assert cut.has_item
    height = lambda img: np.ptp(np.nonzero(img.max(axis=1) > 0)[0])  # noqa: E731
    # the hem runs to the frame's bottom: the item is half again as tall, not cut off at the ring
    assert height(cut.image) >= height(inside.image) + 6


def test_stripes_and_prints_stay_one_item():
    img = colour_shirt_on((200, 190, 180), (30, 30, 120))
    img[60:180:12, 100:220] = (250, 250, 250)  # white stripes across the body
    img[100:130, 130:190] = (220, 30, 30)  # a red logo
    out = preprocess(img, PHOTO)
    assert out.has_item and (out.image > 0).mean() > 0.3
    assert (out.image[10:20, 10:18] > 0).all()  # stripes and the logo are inside the mask, not holes


def test_a_wall_above_a_floor_is_an_empty_scene():
    img = np.empty((240, 320, 3), np.uint8)
    img[:60] = (200, 190, 170)  # a narrow strip of wall…
    img[60:] = (110, 80, 50)  # …above a wooden floor
    img[58:62] = (240, 240, 240)  # and a skirting board between
    assert not preprocess(img, PHOTO).has_item


def test_empty_scenes_read_as_no_item():
    scenes = sorted((Path(__file__).parent / "empty_scenes").glob("*.jpg"))
    assert len(scenes) >= 50
    found = [preprocess(load_image(p), PHOTO).has_item for p in scenes]
    assert 1 - np.mean(found) >= 0.9, [p.name for p, f in zip(scenes, found) if f]


def test_spec_carries_its_version_and_old_contracts_read_as_v1():
    d = PHOTO.to_dict()
    assert d["version"] == VERSION and d["mode"] == "photo"
    assert PreprocessSpec.from_dict(d) == PHOTO and PHOTO.mismatch() is None
    old = PreprocessSpec.from_dict({"mode": "photo", "params": {}})  # a contract from before versions
    assert old.version == 1 and "v1" in old.mismatch()
    with pytest.raises(ValueError, match="out of range"):
        PhotoParams(work_size=4)


def test_seed_is_the_study_pipeline_exactly():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    study = np.asarray(Image.fromarray(255 - np.asarray(Image.fromarray(rgb).convert("L"))).resize((28, 28), Image.LANCZOS))
    np.testing.assert_array_equal(preprocess(rgb, SEED).image, study)


def test_mnist_mode_is_identity_and_to_input_scales():
    x = np.arange(784, dtype=np.uint32).reshape(28, 28).astype(np.uint8)
    np.testing.assert_array_equal(preprocess(x, PreprocessSpec("mnist")).image, x)
    inp = to_input(x[None])
    assert inp.shape == (1, 28, 28, 1) and inp.dtype == np.float32
    assert inp.max() == pytest.approx(x.max() / 255)
    with pytest.raises(ValueError, match="28×28"):
        preprocess(np.zeros((30, 30), np.uint8), PreprocessSpec("mnist"))


def test_dark_item_on_white_becomes_bright_on_black_centred_full_size():
    out = preprocess(shirt_on(240, 40), PHOTO)
    assert out.has_item
    img = out.image
    assert img[0, 0] == 0 and img[-1, -1] == 0  # background black
    ys, xs = np.nonzero(img > 64)
    assert max(np.ptp(ys), np.ptp(xs)) >= 25  # longest edge fills ~28 px
    assert abs((ys.min() + ys.max()) / 2 - 13.5) <= 1.5 and abs((xs.min() + xs.max()) / 2 - 13.5) <= 1.5
    assert img.max() == 255  # contrast stretched


def white_tee_with_a_logo() -> np.ndarray:
    """A white T-shirt on a light wall with a dark print: the case `lift` is for."""
    img = shirt_on(236, 216)
    img[200:260, 280:360] = 30  # the print
    return img


def test_lift_makes_a_garment_as_light_as_its_wall_a_bright_silhouette():
    plain, out = preprocess(white_tee_with_a_logo(), PHOTO).image, preprocess(white_tee_with_a_logo(), LIFTED).image
    inside = preprocess(shirt_on(236, 20), PHOTO).image > 128  # where the shirt lies in the 28×28 input
    assert np.median(plain[inside]) < 60  # without it only the print shows
    assert 110 <= np.median(out[inside]) <= 140  # with it the shirt's median reaches the level
    assert (out.astype(int) >= plain.astype(int) - 1).all()  # nothing gets darker (sharpening: ±1)
    assert out.max() == 255 and (out[~inside & (plain == 0)] == 0).mean() > 0.95  # print kept, background black


def test_lift_leaves_an_item_that_is_already_bright_alone():
    for img in (shirt_on(240, 40), shirt_on(30, 230)):
        np.testing.assert_array_equal(preprocess(img, LIFTED).image, preprocess(img, PHOTO).image)


def test_v2_contracts_run_unchanged_and_lift_needs_v3():
    v2 = PreprocessSpec.from_dict({"mode": "photo", "version": 2, "params": {"work_size": 64}})
    assert v2.photo.lift == 0 and v2.mismatch() is None  # v3 with lift 0 makes v2's pixels (golden tests)
    odd = PreprocessSpec.from_dict({"mode": "photo", "version": 2, "params": {"lift": 120.0}})
    assert odd.photo.lift == 0 and odd.mismatch() is None  # v2 had no lift: its pixels were made without one
    assert PreprocessSpec.from_dict({"mode": "photo", "version": 3, "params": {"lift": 120.0}}).photo.lift == 120
    assert PreprocessSpec(photo=PhotoParams(lift=120.0)).to_dict()["version"] == VERSION == 3
    with pytest.raises(ValueError, match="lift"):
        PhotoParams(lift=255)


def test_inversion_only_when_background_is_lighter():
    dark_on_light = preprocess(shirt_on(230, 30), PHOTO).image
    light_on_dark = preprocess(shirt_on(30, 230), PHOTO).image
    # Both end up as a bright item on black: the same picture.
    assert np.abs(dark_on_light.astype(int) - light_on_dark.astype(int)).mean() < 8


def test_empty_frame_is_no_item():
    assert not preprocess(np.full((480, 640, 3), 128, np.uint8), PHOTO).has_item
    noisy = np.random.default_rng(1).normal(128, 3, (240, 320)).clip(0, 255).astype(np.uint8)
    assert not preprocess(noisy, PHOTO).has_item


def test_tiny_speck_is_no_item():
    img = np.full((480, 640), 200, np.uint8)
    img[100:103, 100:103] = 0
    assert not preprocess(img, PHOTO).has_item


def test_rgba_is_composited_on_white():
    rgba = np.zeros((100, 100, 4), np.uint8)  # transparent everywhere…
    rgba[30:70, 30:70] = (20, 20, 20, 255)  # …but an opaque dark square
    out = preprocess(rgba, PHOTO)
    assert out.has_item and out.image[14, 14] > 200 and out.image[0, 0] == 0
    assert np.array_equal(to_gray(rgba)[0, 0], 255)


def test_pil_and_array_inputs_agree():
    rgb = shirt_on(220, 60, size=(120, 160))
    a = preprocess(rgb, PHOTO).image
    b = preprocess(Image.fromarray(rgb), PHOTO).image
    np.testing.assert_array_equal(a, b)


def test_sixteen_bit_gray_is_scaled_not_clipped():
    img16 = (shirt_on(240, 40, rgb=False).astype(np.uint16) * 257)
    np.testing.assert_array_equal(to_gray(img16), shirt_on(240, 40, rgb=False))


def test_params_change_the_output_and_round_trip_through_the_contract():
    spec = PreprocessSpec("photo", PhotoParams(fit=20))
    img = preprocess(shirt_on(240, 40), spec).image
    ys, xs = np.nonzero(img > 64)
    assert max(np.ptp(ys), np.ptp(xs)) <= 21
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown preprocessing mode"):
        PreprocessSpec("magic")


def test_batch():
    pixels, has = preprocess_batch([shirt_on(240, 40), np.full((50, 50), 9, np.uint8)], PHOTO)
    assert pixels.shape == (2, 28, 28) and has.tolist() == [True, False]


@st.composite
def images(draw):
    h = draw(st.integers(1, 90))
    w = draw(st.integers(1, 90))
    kind = draw(st.sampled_from(["L", "RGB", "RGBA", "u16", "f32", "PIL-P", "PIL-LA", "PIL-I;16"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    pattern = draw(st.sampled_from(["noise", "flat", "block"]))
    base = rng.integers(0, 256, (h, w), dtype=np.uint8) if pattern == "noise" else np.full((h, w), rng.integers(0, 256), np.uint8)
    if pattern == "block":
        base[h // 4 : max(h // 4 + 1, 3 * h // 4), w // 4 : max(w // 4 + 1, 3 * w // 4)] = 255 - base[0, 0]
    if kind == "L":
        return base
    if kind == "RGB":
        return np.dstack([base, base[::-1], base])
    if kind == "RGBA":
        return np.dstack([base, base, base, rng.integers(0, 256, (h, w), dtype=np.uint8)])
    if kind == "u16":
        return base.astype(np.uint16) * 257
    if kind == "f32":
        return base.astype(np.float32) / 255.0
    if kind == "PIL-P":
        return Image.fromarray(np.dstack([base] * 3)).convert("P")
    if kind == "PIL-LA":
        return Image.fromarray(np.dstack([base, base])  , "LA")
    return Image.fromarray(base.astype(np.uint16) * 257).convert("I;16")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=images(), mode=st.sampled_from(["photo", "seed"]))
def test_any_image_gives_a_finite_28x28_input(image, mode):
    out = preprocess(image, PreprocessSpec(mode))
    assert out.image.shape == (28, 28) and out.image.dtype == np.uint8
    x = to_input(out.image)
    assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0


def test_photo_from_mask_with_photo_modes_own_mask_gives_its_pixels():
    """The same pipeline after the mask; a soft mask counts where it is over ½; a mask of another size is an error."""
    from edge_app.preprocess import item_mask, photo_from_mask, working_copy

    img = load_image(sorted(GOLDEN.glob("casual_*.png"))[0])
    _, small, _ = working_copy(img, PHOTO.photo.work_size)
    mask = item_mask(small, PHOTO.photo)
    h, w = img.shape[:2]
    full = mask[(np.arange(h) * mask.shape[0]) // h][:, (np.arange(w) * mask.shape[1]) // w]  # nearest upscale to the image's size
    np.testing.assert_array_equal(photo_from_mask(img, full, PHOTO.photo).image, preprocess(img, PHOTO).image)
    assert not photo_from_mask(img, np.zeros((h, w), bool)).has_item
    np.testing.assert_array_equal(photo_from_mask(img, full * 0.9, PHOTO.photo).image, preprocess(img, PHOTO).image)
    with pytest.raises(ValueError, match="mask is"):
        photo_from_mask(img, full[:-1])


# The mask's helpers are written for speed; each must give, bit for bit, what its plain NumPy definition gives.

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(2, 70), w=st.integers(2, 70), k=st.integers(1, 8))
def test_nearest_distance_is_the_broadcast_definition_bit_for_bit(seed, h, w, k):
    from edge_app.preprocess import _nearest_distance

    rng = np.random.default_rng(seed)
    lab = (rng.random((h, w, 3)) * 255).astype(np.float32)
    centres = (rng.random((k, 3)) * 255).astype(np.float32)
    plain = np.sqrt(((lab.reshape(-1, 1, 3) - centres[None]) ** 2).sum(2).min(1)).reshape(h, w)
    fast = _nearest_distance(lab, centres)
    assert fast.dtype == plain.dtype and np.array_equal(fast, plain)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(1, 52), w=st.integers(1, 52), density=st.floats(0.0, 0.95),
       keep=st.sampled_from([0.0, 0.2, 0.5, 1.0]))
def test_main_components_and_hole_filling_match_their_definitions(seed, h, w, density, keep):
    import cv2

    from edge_app.preprocess import _fill_holes, _main_components

    mask = np.random.default_rng(seed).random((h, w)) < density
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    plain = np.isin(labels, 1 + np.flatnonzero(areas >= keep * areas.max())) if n > 1 else np.zeros(mask.shape, bool)
    assert np.array_equal(_main_components(mask, keep), plain)
    padded = np.pad(mask.astype(np.uint8), 1)
    cv2.floodFill(padded, None, (0, 0), 2)
    assert np.array_equal(_fill_holes(mask), mask | (padded[1:-1, 1:-1] == 0))


def test_corner_ring_is_cached_read_only():
    from edge_app.preprocess import _corner_ring

    a = _corner_ring(48, 64, 4, 0.15)
    assert a is _corner_ring(48, 64, 4, 0.15) and not a.flags.writeable
    with pytest.raises(ValueError):
        a[0] = not a[0]
