"""The decoding budget: hostile files are refused from their headers, before any decode.

Each hostile file (see :mod:`tests.core.io.hostile`) is small on disk and would need
gigabytes once decoded. The readers must refuse each one with an
:class:`~ankle_core.errors.InvalidInputError` that names the reason, and a subprocess reading
all of them under a 3 GB address-space limit shows that none gets near that much memory.
"""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ankle_core.config import ReadLimits, Settings
from ankle_core.errors import InvalidInputError
from ankle_core.io import read_radiograph, read_volume
from ankle_core.io.codestream import jpeg2000_size, jpeg_size, rle_segments
from tests.core.io import hostile
from tests.core.io.hostile import HOSTILE, SIDE

REPO_ROOT = Path(__file__).resolve().parents[3]
READERS = {"radiograph": read_radiograph, "volume": read_volume}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_refused_with_its_reason(name: str) -> None:
    reader, builder, words = HOSTILE[name]
    data = builder()
    with pytest.raises(InvalidInputError, match=words):
        READERS[reader](data)


@pytest.mark.parametrize(
    "builder",
    [
        lambda: hostile.jpeg_dicom(junk_markers=True),
        hostile.jpegls_dicom,
        hostile.jpeg2000_dicom,
        lambda: hostile.jpeg2000_dicom(jp2=True),
        hostile.rle_dicom,
    ],
    ids=["jpeg", "jpeg-ls", "j2k", "jp2", "rle"],
)
def test_honest_codestreams_still_decode(builder: object) -> None:
    image = read_radiograph(builder())  # type: ignore[operator]
    assert image.pixels.shape == (SIDE, SIDE)
    assert float(image.pixels.max()) > float(image.pixels.min())


def test_an_honest_deflated_file_still_reads() -> None:
    image = read_radiograph(hostile.deflated_dicom(padding=1000))
    assert image.pixels.shape == (SIDE, SIDE)
    from tests.core.io.conftest import pydicom_file

    assert read_radiograph(pydicom_file("image_dfl.dcm")).pixels.ndim == 2


def test_jpeg_size_skips_markers_and_fill_bytes() -> None:
    sof = b"\xff\xc0\x00\x0b\x08\x01\x00\x02\x00\x01\x01\x11\x00"
    frame = b"\xff\xd8" + b"\xff\xe0\x00\x04\xff\xc0" + b"\xff\xff\xd0" + b"\xff\xfe\x00\x02" + sof
    size = jpeg_size(frame)
    assert (size.rows, size.cols, size.components) == (256, 512, 1)


def test_jpeg_without_frame_header_or_with_deferred_lines_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="damaged"):
        jpeg_size(b"\xff\xd8\xff\xda\x00\x02")
    dnl = b"\xff\xd8\xff\xc0\x00\x0b\x08\x00\x00\x00\x10\x01\x01\x11\x00"
    with pytest.raises(InvalidInputError, match="does not state its size"):
        jpeg_size(dnl)


def test_jpeg2000_size_reads_siz_with_image_offsets() -> None:
    siz = (
        b"\xff\x4f\xff\x51\x00\x29\x00\x00"
        + np.array([110, 70, 10, 20, 110, 70, 0, 0], dtype=">u4").tobytes()
        + b"\x00\x01\x0f\x01\x01"
    )
    size = jpeg2000_size(siz)
    assert (size.rows, size.cols, size.components) == (50, 100, 1)
    assert jpeg2000_size(hostile.jp2_wrap(siz)).cols == 100


def test_rle_offsets_must_increase_inside_the_frame() -> None:
    header = np.zeros(16, dtype="<u4")
    header[:3] = [2, 64, 40]  # second segment starts before the first
    with pytest.raises(InvalidInputError, match="damaged"):
        rle_segments(header.tobytes() + bytes(100), 4, 4, 2)
    header[:3] = [2, 64, 80]
    assert rle_segments(header.tobytes() + bytes(40), 4, 4, 2) == [16, 24]


def test_budget_comes_from_settings_and_refuses_a_plain_series(
    series_bytes: list[bytes],
) -> None:
    limits = Settings.from_env({"ANKLE_MAX_DECODED_MB": "0.001"}).limits
    assert limits.max_decoded_bytes == 1048
    with pytest.raises(InvalidInputError, match="memory"):
        read_volume(series_bytes, limits=limits)
    assert read_volume(series_bytes).array.shape == (5, 8, 6)


def test_series_reading_frees_each_files_bytes(series_bytes: list[bytes]) -> None:
    from ankle_core.io.series import read_dicom_stack
    from ankle_core.io.sources import Member

    members = [Member(name=f"f{k}", data=b) for k, b in enumerate(series_bytes)]
    volume = read_dicom_stack(members, ReadLimits())
    assert members == []  # consumed: no file's bytes outlive its parsing
    assert volume.array.dtype == np.float32


def test_a_zip_of_small_but_bomb_like_members_is_refused() -> None:
    # 200 members of 256 KiB each: every one below the old 1 MiB threshold.
    with pytest.raises(InvalidInputError, match="zip bomb"):
        read_volume(hostile.many_member_zip(members=200, member_bytes=256 * 1024))


_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))
    from ankle_core.errors import InvalidInputError
    from ankle_core.io import read_radiograph, read_volume
    from tests.core.io import hostile
    readers = {"radiograph": read_radiograph, "volume": read_volume}
    out = {}
    built = {name: spec[1]() for name, spec in hostile.HOSTILE.items()}
    for name, (reader, builder, words) in hostile.HOSTILE.items():
        data = built.pop(name)
        try:
            readers[reader](data)
            out[name] = "accepted"
        except InvalidInputError as exc:
            out[name] = "refused: " + str(exc)
        except BaseException as exc:
            out[name] = type(exc).__name__
        del data
    print(json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_no_hostile_file_needs_3_gb_of_address_space() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(results) == set(HOSTILE)
    for name, (_, _, words) in HOSTILE.items():
        # Refused by the header checks, not by running out of memory ("too large to read
        # in the memory available" is what a MemoryError inside a decoder turns into).
        assert results[name].startswith("refused: "), (name, results[name])
        assert words in results[name], (name, results[name])
        assert "memory available" not in results[name], (name, results[name])


def test_png_and_dicom_radiographs_are_held_to_the_budget() -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (200, 200)).save(buf, format="PNG")
    small = ReadLimits(max_decoded_bytes=1_000_000)
    with pytest.raises(InvalidInputError, match="memory"):
        read_radiograph(buf.getvalue(), limits=small)
    with pytest.raises(InvalidInputError, match="memory"):
        read_radiograph(hostile.rle_dicom(), limits=ReadLimits(max_decoded_bytes=10_000))
    assert read_radiograph(buf.getvalue()).pixels.shape == (200, 200)


def test_frames_behind_an_extended_offset_table_are_each_checked() -> None:
    import pydicom
    from pydicom.encaps import encapsulate_extended, generate_frames

    from ankle_core.io.codestream import check_encapsulated_frames

    honest = pydicom.dcmread(io.BytesIO(hostile.jpeg2000_dicom()))
    frame = next(iter(generate_frames(honest.PixelData, number_of_frames=1)))
    liar = next(iter(generate_frames(
        pydicom.dcmread(io.BytesIO(hostile.jpeg2000_dicom(50000, 50000))).PixelData,
        number_of_frames=1,
    )))  # fmt: skip
    for frames, refused in (([frame, frame], False), ([frame, liar], True)):
        ds = copy.deepcopy(honest)
        ds.NumberOfFrames = 2
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(
            frames
        )
        if refused:
            with pytest.raises(InvalidInputError, match="declares"):
                check_encapsulated_frames(ds, ReadLimits())
        else:
            check_encapsulated_frames(ds, ReadLimits())
