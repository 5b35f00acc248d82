"""Received fax TIFFs as black-and-white PDF or TIFF: pages, pixels, resolution, refusals."""

import io
import re

import pytest
from PIL import Image, ImageChops, ImageDraw, TiffImagePlugin

from mailbasic.errors import InvalidInput
from mailbasic.fax.convert import ConvertedFax, FaxFormat, UnreadableFax, convert

FINE = (204, 196)
NORMAL = (204, 98)
A4_FINE = (1728, 2200)
# Where page 2 (and only page 2) has a black rectangle.
PAGE_2_MARK = (400, 600, 800, 900)


def fax_pages() -> list[Image.Image]:
    pages = []
    for number in (1, 2, 3):
        page = Image.new("1", A4_FINE, 255)
        draw = ImageDraw.Draw(page)
        draw.text((100, 100 * number), f"page {number} of 3", fill=0)
        draw.line((0, 300 * number, 1727, 300 * number + 50), fill=0, width=3)
        if number == 2:
            draw.rectangle(PAGE_2_MARK, fill=0)
        pages.append(page)
    return pages


def save_tiff(path, pages, dpi=FINE, **options):
    pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:], dpi=dpi, **options)
    return path


@pytest.fixture
def fax_tiff(tmp_path):
    return save_tiff(tmp_path / "fax000000123.tif", fax_pages(), compression="group4")


def reopened_frames(converted: ConvertedFax) -> list[tuple[Image.Image, dict]]:
    with Image.open(io.BytesIO(converted.content)) as tiff:
        frames = []
        for number in range(tiff.n_frames):
            tiff.seek(number)
            frames.append((tiff.copy(), dict(tiff.info)))
        return frames


def pdf_page_sizes(content: bytes) -> list[tuple[float, float]]:
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", content)
    return [(float(width), float(height)) for width, height in boxes]


def test_a_multi_page_fax_becomes_a_pdf_with_one_page_per_fax_page(fax_tiff):
    converted = convert(fax_tiff, FaxFormat.PDF)
    assert (converted.pages, converted.media_type, converted.filename_extension) == (
        3, "application/pdf", "pdf")
    assert converted.content.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", converted.content)) == 3
    assert b"/CCITTFaxDecode" in converted.content  # kept one bit deep, not re-encoded as JPEG
    # 1728x2200 pixels at 204x196 dpi is 8.47x11.22 inches: the page keeps its paper size.
    sizes = pdf_page_sizes(converted.content)
    assert len(sizes) == 3
    for width, height in sizes:
        assert width == pytest.approx(1728 * 72 / 204) and height == pytest.approx(2200 * 72 / 196)


def test_a_multi_page_fax_becomes_a_group4_tiff_with_its_resolution(fax_tiff):
    converted = convert(fax_tiff, FaxFormat.TIFF)
    assert (converted.pages, converted.media_type, converted.filename_extension) == (
        3, "image/tiff", "tif")
    frames = reopened_frames(converted)
    assert len(frames) == 3
    for frame, info in frames:
        assert frame.mode == "1" and frame.size == A4_FINE
        assert info.get("compression") == "group4"
        assert info.get("dpi") == pytest.approx(FINE)


def test_every_pixel_of_every_page_survives(fax_tiff):
    frames = reopened_frames(convert(fax_tiff, FaxFormat.TIFF))
    for original, (frame, _) in zip(fax_pages(), frames, strict=True):
        assert ImageChops.difference(original, frame).getbbox() is None
    inside_mark = (PAGE_2_MARK[0] + 10, PAGE_2_MARK[1] + 10)
    assert [frame.getpixel(inside_mark) for frame, _ in frames] == [255, 0, 255]


def test_the_input_file_is_left_alone(fax_tiff):
    before, stat = fax_tiff.read_bytes(), fax_tiff.stat()
    convert(fax_tiff, FaxFormat.PDF)
    convert(fax_tiff, FaxFormat.TIFF)
    assert fax_tiff.read_bytes() == before and fax_tiff.stat().st_mtime_ns == stat.st_mtime_ns


@pytest.mark.parametrize("mode, paper, ink", [
    ("L", 200, 60),
    ("RGB", (235, 235, 250), (20, 20, 120)),
    ("I;16", 50000, 9000),
    ("RGBA", (0, 0, 0, 0), (30, 30, 30, 255)),  # transparent paper is white, not black
])
def test_grey_and_colour_pages_become_pure_black_and_white(tmp_path, mode, paper, ink):
    page = Image.new(mode, (800, 600), paper)
    ImageDraw.Draw(page).rectangle((100, 100, 300, 200), fill=ink)
    path = save_tiff(tmp_path / "scan.tif", [page])

    assert convert(path, FaxFormat.PDF).pages == 1
    [(frame, _)] = reopened_frames(convert(path, FaxFormat.TIFF))
    assert frame.mode == "1" and frame.size == (800, 600)
    ink = 201 * 101
    assert sorted(frame.convert("L").getcolors()) == [(ink, 0), (800 * 600 - ink, 255)]


def test_a_grey_gradient_is_thresholded_not_dithered(tmp_path):
    page = Image.new("L", (256, 16))
    page.putdata([grey for _ in range(16) for grey in range(256)])  # darkest at the left
    path = save_tiff(tmp_path / "gradient.tif", [page])
    [(frame, _)] = reopened_frames(convert(path, FaxFormat.TIFF))
    for column in range(frame.width):
        expected = 255 if page.getpixel((column, 0)) >= 128 else 0
        assert {frame.getpixel((column, row)) for row in range(frame.height)} == {expected}


def test_a_fax_without_a_resolution_gets_fax_fine_resolution(tmp_path):
    path = tmp_path / "nodpi.tif"
    fax_pages()[0].save(path, "TIFF", compression="group4")  # Pillow writes no resolution tags
    [(_, info)] = reopened_frames(convert(path, FaxFormat.TIFF))
    assert info["dpi"] == pytest.approx(FINE)


def test_pages_of_different_resolutions_keep_their_paper_size(tmp_path):
    cover = Image.new("1", (1728, 1100), 255)  # A4 at "normal" resolution: half as many rows
    ImageDraw.Draw(cover).rectangle((0, 0, 99, 99), fill=0)
    path = tmp_path / "mixed.tif"
    # One resolution per page needs the writer Pillow's save_all uses internally.
    with TiffImagePlugin.AppendingTiffWriter(str(path), new=True) as tiff:
        for page, dpi in ((cover, NORMAL), (fax_pages()[1], FINE)):
            page.save(tiff, "TIFF", compression="group4", dpi=dpi)
            tiff.newFrame()

    frames = reopened_frames(convert(path, FaxFormat.TIFF))
    assert [(frame.size, info["dpi"]) for frame, info in frames] == [(A4_FINE, FINE)] * 2
    cover_out = frames[0][0]
    assert cover_out.getpixel((50, 199)) == 0 and cover_out.getpixel((50, 200)) == 255
    assert len(set(pdf_page_sizes(convert(path, FaxFormat.PDF).content))) == 1


def make_truncated(path):
    whole = io.BytesIO()
    pages = fax_pages()
    pages[0].save(whole, "TIFF", save_all=True, append_images=pages[1:], compression="group4")
    path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])


def make_png(path):
    fax_pages()[0].save(path, "PNG")


@pytest.mark.parametrize("make", [
    pytest.param(None, id="missing"),
    pytest.param(lambda path: path.write_bytes(b""), id="empty"),
    pytest.param(lambda path: path.write_text("Dear customer,\nthis is not a fax.\n"), id="text"),
    pytest.param(make_truncated, id="truncated"),
    pytest.param(make_png, id="png"),
])
@pytest.mark.parametrize("target", list(FaxFormat))
def test_an_unreadable_file_is_refused_naming_it(tmp_path, make, target):
    path = tmp_path / "fax000000124.tif"
    if make is not None:
        make(path)
    before = path.read_bytes() if make is not None else None

    with pytest.raises(UnreadableFax) as refused:
        convert(path, target)

    message = str(refused.value)
    assert str(path) in message and "\n" not in message
    assert isinstance(refused.value, InvalidInput) and refused.value.exit_code == 7
    assert (path.read_bytes() if path.exists() else None) == before


def test_up_to_200_pages_are_accepted(tmp_path):
    path = save_tiff(tmp_path / "long.tif", [Image.new("1", (64, 64), 255)] * 200)
    assert convert(path, FaxFormat.TIFF).pages == 200


def test_more_than_200_pages_are_refused(tmp_path):
    path = save_tiff(tmp_path / "endless.tif", [Image.new("1", (64, 64), 255)] * 201)
    with pytest.raises(UnreadableFax, match="more than 200 pages"):
        convert(path, FaxFormat.PDF)


def test_a_page_far_larger_than_any_fax_is_refused(tmp_path):
    path = save_tiff(tmp_path / "poster.tif", [Image.new("1", (7000, 6000), 255)],
                     compression="group4")
    with pytest.raises(UnreadableFax, match="page 1 is too large"):
        convert(path, FaxFormat.TIFF)
