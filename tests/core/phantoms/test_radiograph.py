"""The radiograph phantom: determinism, shapes, boxes and the drawn signs."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from ankle_core.phantoms import PhantomKnobs, make_case
from ankle_core.phantoms.radiograph import render_radiograph, sample_radiograph_params
from ankle_core.types import Radiograph


@pytest.mark.parametrize("kind", ["lmaf", "sfo", "none"])
def test_same_seed_same_case(kind: str) -> None:
    a = make_case(7, kind, size=128)
    b = make_case(7, kind, size=128)
    np.testing.assert_array_equal(a.radiograph.pixels, b.radiograph.pixels)
    assert a.boxes == b.boxes
    assert dict(a.params) == dict(b.params)


def test_different_seeds_differ() -> None:
    a = make_case(1, "sfo", size=128).radiograph.pixels
    b = make_case(2, "sfo", size=128).radiograph.pixels
    assert float(np.abs(a - b).mean()) > 0.01


def test_global_rng_untouched() -> None:
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    make_case(3, "lmaf", size=96)
    assert np.random.random() == expected


@pytest.mark.parametrize("kind", ["lmaf", "sfo", "none"])
@pytest.mark.parametrize("size", [96, 256])
def test_image_contract(kind: str, size: int) -> None:
    case = make_case(11, kind, size=size)
    rg = case.radiograph
    assert isinstance(rg, Radiograph)
    assert rg.pixels.shape == (size, size)
    assert rg.pixels.dtype == np.float32
    assert float(rg.pixels.min()) >= 0.0 and float(rg.pixels.max()) <= 1.0
    assert rg.pixel_spacing_mm is not None and rg.pixel_spacing_mm[0] == pytest.approx(110.0 / size)
    assert rg.source_format == "array"
    meta = rg.metadata
    assert meta["modality"] == "DX" and meta["body_part"] == "ANKLE" and meta["synthetic"] is True
    assert meta["view_position"] in ("AP", "MORTISE") and meta["laterality"] in ("L", "R")
    assert case.label == kind and case.view in ("ap", "mortise") and case.seed == 11


def test_none_has_no_box_and_fragments_one() -> None:
    for seed in range(5):
        assert make_case(seed, "none", size=128).boxes == ()
        assert len(make_case(seed, "lmaf", size=128).boxes) == 1
        assert len(make_case(seed, "sfo", size=128).boxes) == 1


@pytest.mark.parametrize("kind", ["lmaf", "sfo"])
def test_box_holds_the_fragment(kind: str) -> None:
    for seed in range(6):
        params = sample_radiograph_params(seed, kind, size=256)
        with_frag, mask = render_radiograph(params)
        without, _ = render_radiograph(params, draw_fragment=False)
        case = make_case(seed, kind, size=256)
        np.testing.assert_array_equal(case.radiograph.pixels, with_frag)
        (box,) = case.boxes
        x0, y0, x1, y1 = (int(v) for v in box.as_xyxy())
        assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
        # Exact: the box is the mask's bounding box.
        rows, cols = np.nonzero(mask)
        assert (x0, y0, x1, y1) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        diff = np.abs(with_frag - without)
        assert float(diff[y0:y1, x0:x1].max()) > 0.05
        # Outside the box, blurred by at most a few pixels, nothing changed.
        far = np.ones_like(diff, dtype=bool)
        far[max(y0 - 6, 0) : y1 + 6, max(x0 - 6, 0) : x1 + 6] = False
        assert float(diff[far].max()) < 1e-6


def test_mirror_and_views_vary() -> None:
    cases = [make_case(s, "none", size=96) for s in range(40)]
    assert {c.params["laterality"] for c in cases} == {"L", "R"}
    assert {c.view for c in cases} == {"ap", "mortise"}
    rotations = [c.params["rotation_deg"] for c in cases]
    assert max(rotations) > 2.0 and min(rotations) < -2.0


def test_same_seed_same_ankle_across_kinds() -> None:
    a = sample_radiograph_params(5, "lmaf")
    b = sample_radiograph_params(5, "none")
    assert replace(a, fragment=None, kind="none") == b


def test_lmaf_has_a_donor_defect() -> None:
    """The LMAF tip misses bone where the fragment came from; SFO tips are intact."""
    for seed in range(8):
        params = sample_radiograph_params(seed, "lmaf", size=256, difficulty=0.0)
        cut, _ = render_radiograph(params, draw_fragment=False)
        intact, _ = render_radiograph(params, draw_fragment=False, draw_defect=False)
        missing = intact - cut
        assert float(missing.min()) > -1e-6
        assert int((missing > 0.03).sum()) >= 4, seed
        sfo = sample_radiograph_params(seed, "sfo", size=256)
        a, _ = render_radiograph(sfo, draw_fragment=False)
        b, _ = render_radiograph(sfo, draw_fragment=False, draw_defect=False)
        np.testing.assert_array_equal(a, b)


def test_difficulty_raises_noise_and_blending() -> None:
    easy = [sample_radiograph_params(s, "sfo", difficulty=0.0) for s in range(60)]
    hard = [sample_radiograph_params(s, "sfo", difficulty=1.0) for s in range(60)]
    assert np.mean([p.noise_sd for p in hard]) > 2 * np.mean([p.noise_sd for p in easy])
    blended_easy = sum(p.fragment is not None and p.fragment.blended for p in easy)
    blended_hard = sum(p.fragment is not None and p.fragment.blended for p in hard)
    assert blended_hard > blended_easy + 15


def test_knobs_are_used() -> None:
    knobs = PhantomKnobs(fov_mm=60.0, blend_probability=(1.0, 1.0))
    case = make_case(0, "sfo", size=128, knobs=knobs)
    assert case.radiograph.pixel_spacing_mm == pytest.approx((60.0 / 128, 60.0 / 128))
    assert case.params["blended"] is True


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "fracture"}, "kind"),
        ({"kind": "sfo", "size": 32}, "size"),
        ({"kind": "sfo", "difficulty": 2.0}, "difficulty"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_case(0, **kwargs)  # type: ignore[arg-type]


def test_fast_enough() -> None:
    make_case(0, "lmaf")
    start = time.perf_counter()
    for seed in range(5):
        make_case(seed, "lmaf")
    per_case = (time.perf_counter() - start) / 5
    # 40-60 ms on a busy 2-core machine; a generous bound keeps CI stable.
    assert per_case < 0.5
