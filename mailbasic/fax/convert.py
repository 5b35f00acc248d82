"""Turn a fax the gateway received (a TIFF) into the black-and-white PDF or TIFF a customer wants.

Every page is reduced to one bit per pixel without dithering, so scanned grey or colour pages
come out as crisp black and white like a fax. Pages keep their physical size: the output
carries the input's resolution (faxes are often 204x196 or 204x98 dpi, not square).
"""

from __future__ import annotations

import io
import pathlib
import struct
from dataclasses import dataclass

from PIL import Image, ImageSequence, UnidentifiedImageError

from mailbasic.errors import InvalidInput
from mailbasic.schema.fax import FaxFormat

MAX_PAGES = 200
# A3 at 408 dpi (fax "ultra fine") is about 32 million pixels; anything larger is not a fax
# page, and Pillow's own decompression-bomb limit only warns below 179 million.
MAX_PAGE_PIXELS = 40_000_000
# 200 pages of A4 at 204x196 dpi come to about 800 million pixels (100 MB at one bit each).
MAX_TOTAL_PIXELS = 1_000_000_000
# Fax "fine" resolution, for files that do not say theirs.
DEFAULT_DPI = (204.0, 196.0)
# Pillow reports a TIFF without resolution tags as 1x1 dpi; values outside this range are
# missing or garbage, not a real fax resolution.
MIN_DPI, MAX_DPI = 50.0, 1200.0

# Pillow signals damaged input with many exception types and documents no complete list;
# each of these means the file cannot be decoded. Warning is among them because Pillow
# reports some damage only as a warning, which a strict warnings filter turns into an error.
_DECODE_ERRORS = (
    OSError, EOFError, ValueError, SyntaxError, struct.error, IndexError, KeyError, TypeError,
    ZeroDivisionError, Image.DecompressionBombError, Warning,
)

Dpi = tuple[float, float]




@dataclass(frozen=True)
class ConvertedFax:
    content: bytes  # the document in the requested format
    pages: int  # number of pages
    media_type: str  # "application/pdf" or "image/tiff"
    filename_extension: str  # "pdf" or "tif"


class UnreadableFax(InvalidInput):
    """The file is not a fax mailbasic can read (not a TIFF, truncated, empty, no pages)."""


_MEDIA = {FaxFormat.PDF: ("application/pdf", "pdf"), FaxFormat.TIFF: ("image/tiff", "tif")}


def convert(path: pathlib.Path, target: FaxFormat) -> ConvertedFax:
    """The fax in `path` as a black-and-white document in `target` format; `path` is only read."""
    pages = _read_pages(path)
    dpi = (max(x for _, (x, _) in pages), max(y for _, (_, y) in pages))
    images = [_at_resolution(path, number, page, page_dpi, dpi)
              for number, (page, page_dpi) in enumerate(pages, 1)]
    media_type, extension = _MEDIA[target]
    return ConvertedFax(_encode(images, dpi, target), len(images), media_type, extension)


def _read_pages(path: pathlib.Path) -> list[tuple[Image.Image, Dpi]]:
    """Each page of the TIFF in black and white, with its resolution."""
    try:
        with Image.open(path, formats=["TIFF"]) as tiff:
            pages = _decode_pages(path, tiff)
    except FileNotFoundError as exc:
        raise UnreadableFax(f"{path}: no such file") from exc
    except UnidentifiedImageError as exc:
        raise UnreadableFax(f"{path}: not a TIFF image") from exc
    except _DECODE_ERRORS as exc:
        raise UnreadableFax(f"{path}: cannot be read as a fax ({_one_line(exc)})") from exc
    if not pages:
        raise UnreadableFax(f"{path}: the TIFF has no pages")
    return pages


def _decode_pages(path: pathlib.Path, tiff: Image.Image) -> list[tuple[Image.Image, Dpi]]:
    pages: list[tuple[Image.Image, Dpi]] = []
    total_pixels = 0
    for frame in ImageSequence.Iterator(tiff):
        # Checked before decoding, so an absurd file costs no memory.
        if len(pages) == MAX_PAGES:
            raise UnreadableFax(f"{path}: more than {MAX_PAGES} pages")
        _check_page_size(path, len(pages) + 1, frame.size)
        total_pixels += frame.width * frame.height
        if total_pixels > MAX_TOTAL_PIXELS:
            raise UnreadableFax(f"{path}: too many pixels in all (over {MAX_TOTAL_PIXELS})")
        pages.append((_black_and_white(frame), _resolution(frame)))
    return pages


def _black_and_white(page: Image.Image) -> Image.Image:
    if any(band in ("A", "a") for band in page.getbands()):
        # Transparent areas are paper, not ink (converting would make them black).
        white = Image.new("RGBA", page.size, "white")
        page = Image.alpha_composite(white, page.convert("RGBA"))
    elif page.mode == "LAB":
        page = page.getchannel("L")  # Pillow cannot convert LAB to grey; L is its lightness
    elif page.mode.startswith("I;16"):
        # Pillow clips 16-bit grey to 8 bits rather than scaling it, which would turn all
        # but the darkest greys white.
        page = page.convert("I").point(lambda value: value / 257)
    # Dithering would turn grey areas into speckle, which faxes and their readers do not expect.
    return page.convert("L").convert("1", dither=Image.Dither.NONE)


def _resolution(page: Image.Image) -> Dpi:
    try:
        x, y = (float(value) for value in page.info["dpi"])
    except (KeyError, TypeError, ValueError):
        return DEFAULT_DPI
    if MIN_DPI <= x <= MAX_DPI and MIN_DPI <= y <= MAX_DPI:  # also False for NaN
        return (x, y)
    return DEFAULT_DPI


def _at_resolution(path: pathlib.Path, number: int, page: Image.Image,
                   page_dpi: Dpi, dpi: Dpi) -> Image.Image:
    """`page` rescaled to `dpi`: PDF and TIFF output take one resolution for all pages."""
    if page_dpi == dpi:
        return page
    # A fax may change resolution between pages (e.g. a 204x98 cover page, then 204x196);
    # repeating pixels keeps every page at its physical size without blurring.
    size = (round(page.width * dpi[0] / page_dpi[0]), round(page.height * dpi[1] / page_dpi[1]))
    _check_page_size(path, number, size)
    return page.resize(size, Image.Resampling.NEAREST)


def _check_page_size(path: pathlib.Path, number: int, size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PAGE_PIXELS:
        raise UnreadableFax(f"{path}: page {number} is too large for a fax ({width}x{height})")


def _encode(pages: list[Image.Image], dpi: Dpi, target: FaxFormat) -> bytes:
    buffer = io.BytesIO()
    first, rest = pages[0], pages[1:]
    if target is FaxFormat.PDF:
        # `dpi` rather than `resolution`, which would make non-square fax pixels square.
        first.save(buffer, "PDF", save_all=True, append_images=rest, dpi=dpi)
    else:
        first.save(buffer, "TIFF", save_all=True, append_images=rest, compression="group4", dpi=dpi)
    return buffer.getvalue()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
