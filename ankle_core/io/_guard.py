"""The readers' single error boundary, and the size checks made before reading or decoding.

Third-party decoders (pydicom, nibabel, Pillow, zlib) raise many built-in exception types on
malformed input, and the Rust-based decoders (pylibjpeg-rle) even raise pyo3's
``PanicException``, which derives from ``BaseException``. :func:`input_boundary` turns every
one of them into :class:`~ankle_core.errors.InvalidInputError` at the public entry points,
chains the original exception, and logs only its class name: never file contents, paths or
header values. While a reader runs, records of the ``pydicom`` logger (whose warnings quote
header values, e.g. an invalid UID or name) are redacted to their first words.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.logs import install_log_redaction

__all__ = [
    "check_byte_size",
    "check_decoded_bytes",
    "check_pixel_count",
    "check_voxel_count",
    "input_boundary",
    "suppress_identifying_warnings",
]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_DAMAGED = (
    "The {what} could not be read: the file is damaged, truncated or not in a supported "
    "format. Export it again from the PACS or the modality and retry."
)


_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


class _RedactHeaderValues(logging.Filter):
    """Keep a pydicom log record but drop anything after its first colon or quote."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cut = min((i for i in (message.find(":"), message.find("'")) if i >= 0), default=-1)
        if cut >= 0 or len(message) > 80:
            record.msg = message[: cut if cut >= 0 else 80] + " [value withheld]"
            record.args = ()
        return True


# pydicom's UserWarnings that quote a header value (an invalid UID, name, decimal string...).
_VALUE_QUOTING = (r"Invalid value for VR", r'Value ".*" is not valid', r"The \w+ exception '")


def suppress_identifying_warnings() -> None:
    """Hide pydicom's Python warnings that quote header values; call once, at the edge.

    Python's warning filters are process-wide (and not thread-safe to swap per call in
    Python 3.11), so the readers do not touch them; a CLI or ``app.py`` calls this when it
    starts. Only the value-quoting message families are filtered; other warnings still show.
    It also installs :func:`ankle_core.logs.install_log_redaction`, which keeps UIDs and
    quoted header values out of every log record, third-party loggers included.
    """
    install_log_redaction()
    for pattern in _VALUE_QUOTING:
        warnings.filterwarnings("ignore", message=pattern, category=UserWarning)


def input_boundary(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a public reader so that only :class:`InvalidInputError` escapes it.

    Args:
        what: plain words for the kind of input, used in messages ("radiograph", "volume").

    Returns:
        A decorator. The wrapped function re-raises :class:`InvalidInputError` unchanged and
        converts any other :class:`Exception` into one, chained with ``from``.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            redact = _RedactHeaderValues()
            pydicom_logger = logging.getLogger("pydicom")
            pydicom_logger.addFilter(redact)
            try:
                return func(*args, **kwargs)
            except InvalidInputError:
                raise
            except RecursionError as exc:
                logger.info("%s rejected: %s", what, type(exc).__name__)
                raise InvalidInputError(
                    f"The {what} is nested too deeply (DICOM sequences within sequences) to be "
                    "read safely."
                ) from exc
            except MemoryError as exc:
                logger.info("%s rejected: %s", what, type(exc).__name__)
                raise InvalidInputError(
                    f"The {what} is too large to read in the memory available."
                ) from exc
            except _PASS_THROUGH:
                raise
            except BaseException as exc:
                # Decoders raise ValueError, TypeError, KeyError, struct.error, OSError,
                # EOFError, zlib.error, NotImplementedError, RuntimeError, PanicException...
                logger.info("%s rejected: %s", what, type(exc).__name__)
                raise InvalidInputError(_DAMAGED.format(what=what)) from exc
            finally:
                pydicom_logger.removeFilter(redact)

        return wrapper

    return decorate


def check_byte_size(n_bytes: int, limits: ReadLimits) -> None:
    """Refuse a file larger than ``limits.max_file_bytes`` (checked before reading it).

    Args:
        n_bytes: size of the file or upload, in bytes.
        limits: reader limits.

    Raises:
        InvalidInputError: when the file is empty or too large.
    """
    if n_bytes <= 0:
        raise InvalidInputError("The file is empty.")
    if n_bytes > limits.max_file_bytes:
        raise InvalidInputError(
            f"The file is {n_bytes / 1e6:.1f} MB, above the limit of "
            f"{limits.max_file_bytes / 1e6:.1f} MB set for this workbench."
        )


def check_pixel_count(rows: int, cols: int, frames: int, limits: ReadLimits) -> None:
    """Refuse an image whose decoded size would exceed ``limits.max_pixels``.

    Args:
        rows: image height in pixels.
        cols: image width in pixels.
        frames: number of frames (1 for a single image).
        limits: reader limits.

    Raises:
        InvalidInputError: when a dimension is not positive or the pixel count is too large.
    """
    if rows <= 0 or cols <= 0 or frames <= 0:
        raise InvalidInputError("The image header gives no valid size (rows, columns, frames).")
    if rows * cols * frames > limits.max_pixels:
        raise InvalidInputError(
            f"The image has {rows * cols * frames:,} pixels, above the limit of "
            f"{limits.max_pixels:,} set for this workbench."
        )


def check_voxel_count(shape: tuple[int, ...], limits: ReadLimits) -> None:
    """Refuse a volume whose decoded size would exceed ``limits.max_voxels``.

    Args:
        shape: the volume's dimensions, in voxels (any order).
        limits: reader limits.

    Raises:
        InvalidInputError: when a dimension is not positive or the voxel count is too large.
    """
    count = 1
    for n in shape:
        if n <= 0:
            raise InvalidInputError("The volume header gives an empty dimension.")
        count *= int(n)
    if count > limits.max_voxels:
        raise InvalidInputError(
            f"The volume has {count:,} voxels, above the limit of {limits.max_voxels:,} set "
            "for this workbench."
        )


def check_decoded_bytes(n_bytes: int, limits: ReadLimits, what: str) -> None:
    """Refuse a read whose decoded data would exceed the memory budget of one read.

    Callers estimate, from the headers and before decoding, every array held at once (raw
    voxels, the float32 result and per-slice working copies).

    Args:
        n_bytes: the estimated peak of decoded data, in bytes.
        limits: reader limits (``max_decoded_bytes``).
        what: plain words for the input ("volume", "image").

    Raises:
        InvalidInputError: when ``n_bytes`` is above the budget.
    """
    if n_bytes > limits.max_decoded_bytes:
        raise InvalidInputError(
            f"The {what} would need about {n_bytes / 1e9:.1f} GB of memory once decoded, above "
            f"the {limits.max_decoded_bytes / 1e9:.1f} GB allowed for one file in this "
            "workbench. Open a smaller crop or a downsampled series."
        )
