"""The chapter's form: what a student reads, checked on the notebooks' text.

- No cell explains the project's test machinery (nbval, pytest, stored or
  compared outputs, "when the notebook is re-run to check it"): that is
  notebooks/README.md's business, not the student's.
- The notebooks name the standard ``python3`` kernel, which every Jupyter
  has (``python3 tasks.py lab`` starts its own versioned kernel by default).
- Numbers in markdown prose (outside code spans, code blocks and link
  targets) follow the d2l-vn convention: a decimal comma (``0,07``) and a
  thousands dot (``7.946``); code and its output keep Python's form.
- Vietnamese tone marks sit as in d2l-vn (``hóa``, ``khóa``, ``tùy``,
  ``hòa``) everywhere, code comments and strings included.
- The glossary terms of the design (shared/DESIGN.md) are used, not their
  look-alikes.

These read files only; no MXNet code runs.
"""
import json
import re
import unicodedata
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

pytestmark = pytest.mark.parametrize("mode", ["np"], indirect=True)

#: Words that explain how the notebooks are tested (any cell, any case).
MACHINERY = re.compile(
    r"nbval|pytest|NBVAL|kiểm thử|regression|stored output|tasks\.py"
    r"|test_chapter|chạy lại để kiểm tra|được so sánh|so sánh kết quả"
    r"|kết quả đã lưu|đầu ra đã lưu|outputs? (?:are|is) compared",
    re.IGNORECASE)

#: Tone marks on the second vowel of an open "oa", "oe", "uy" syllable
#: (hoá, khoá, tuỳ, hoà, xoá, luỹ): d2l-vn writes hóa, khóa, tùy, hòa.
#: "qu" is a consonant, so "quý" is right as it is.
OLD_TONE = re.compile(r"(?<![qQ])(?:o[áàảãạ]|o[éèẻẽẹ]|u[ýỳỷỹỵ])(?![^\W\d_])")
#: In a closed syllable the mark stays on the second vowel (hoành, toàn,
#: khoảng, đoạn, thuyết): a mark on the first one (hòanh) is a typo.
CLOSED_TONE = re.compile(r"(?<![qQ])(?:[òóỏõọ][ae]|[ùúủũụ]y)(?=[^\W\d_])")

#: Look-alikes of the glossary's terms (DESIGN.md), with the term to use.
GLOSSARY = {
    "lan truyền xuôi": "lượt truyền xuôi",
    "khởi tạo lười": "khởi tạo trễ",
    "khởi tạo trì hoãn": "khởi tạo trễ",
    "tham số bị ràng buộc": "tham số bị trói buộc",
    "tham số ràng buộc": "tham số bị trói buộc",
    "độ chệch": "hệ số điều chỉnh",
    "trọng lượng": "trọng số",
    "biểu thức chính qui": "biểu thức chính quy",
    "hàm kích hoạt tuyến tính chỉnh lưu": "ReLU",
}

#: Two-part numbers that are versions, not decimals: MXNet 1.6 to 2.0,
#: Python 3.11, the Apache License 2.0.  (Three parts, as 1.9.1, are
#: versions too, unless they group thousands, as 4.294.967.296.)
VERSIONS = {"1.6", "1.7", "1.8", "1.9", "2.0", "3.11"}


def cells(path: Path, kind: str | None = None) -> list[tuple[int, str]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(i, unicodedata.normalize("NFC", "".join(c["source"])))
            for i, c in enumerate(nb["cells"])
            if kind is None or c["cell_type"] == kind]


def prose(markdown: str) -> str:
    """The markdown without fenced code, inline code, link targets, HTML."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "] ", text)
    return re.sub(r"<[^>\n]+>", " ", text)


def number_problems(text: str) -> list[str]:
    """Numbers written the English way in prose."""
    problems = []
    for m in re.finditer(r"(?<![\w.,{}])\d+(?:\.\d+)+(?!\w|\.\d|\{)", text):
        number = m.group()
        thousands = re.fullmatch(r"[1-9]\d{0,2}(?:\.\d{3})+", number)
        version = number in VERSIONS or number.count(".") > 1  # 1.9.1
        if not (thousands or version):
            problems.append(f"decimal point in {number!r} (write a comma)")
    for m in re.finditer(r"(?<![\w.,{}])\d{4,}(?!\w|[.,]\d|\})", text):
        year = (re.fullmatch(r"(?:19|20)\d\d", m.group())
                and text[m.start() - 2:m.start()] == ", "
                and text[m.end():m.end() + 1] == ")")
        if not year:
            problems.append(f"{m.group()!r} without a thousands dot")
    for m in re.finditer(r"(?<![\w.,])\d{1,3}(?:,\d{3}){2,}(?![\w])", text):
        problems.append(f"{m.group()!r}: thousands separated by commas")
    return problems


def context(text: str, start: int, end: int) -> str:
    return text[max(0, start - 40):end + 40].replace("\n", " ")


def test_the_rules_themselves():
    assert number_problems("đoạn $[-0{,}07; 0{,}07]$ và 7.946 phần tử, 0,02") == []
    assert number_problems("các tầng 1, 2 và 10, 11") == []
    assert number_problems("MXNet 1.6 đến 2.0, Python 3.11") == []
    assert number_problems("(He và cộng sự, 2015)") == []
    assert number_problems("a = 0.25.") == ["decimal point in '0.25' (write a comma)"]
    assert number_problems("MXNet 1.9.1 và 2.0.0b1") == []
    assert number_problems("5120 trọng số") == ["'5120' without a thousands dot"]
    assert number_problems("2048 phần tử") == ["'2048' without a thousands dot"]
    assert number_problems("4,294,967,296 trọng số") == [
        "'4,294,967,296': thousands separated by commas"]
    assert prose("ta viết `0.07` trong mã") == "ta viết   trong mã"
    assert [m.group() for m in OLD_TONE.finditer("hoá khoá tuỳ hoà hoàn toán quý khoảng")] \
        == ["oá", "oá", "uỳ", "oà"]
    assert [m.group() for m in CLOSED_TONE.finditer("hòanh hoành hòa khỏe thủy đoạn")] == ["òa"]


def test_the_chapter_is_there():
    assert len(NOTEBOOKS) == 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_explains_the_test_machinery(path):
    found = [f"cell {i}: ...{context(src, m.start(), m.end())}..."
             for i, src in cells(path) for m in MACHINERY.finditer(src)]
    assert not found, (f"{path.name} tells the student about the project's tests "
                       "(move it to notebooks/README.md):\n" + "\n".join(found))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_kernelspec_is_the_standard_python3(path):
    spec = json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]
    assert spec["name"] == "python3", spec
    assert spec["language"] == "python", spec


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_numbers_in_prose_use_the_vietnamese_separators(path):
    found = [f"cell {i}: {problem}" for i, src in cells(path, "markdown")
             for problem in number_problems(prose(src))]
    assert not found, f"{path.name}:\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tone_marks_are_placed_as_in_d2l_vn(path):
    found = [f"cell {i}: ...{context(src, m.start(), m.end())}..."
             for i, src in cells(path) for rule in (OLD_TONE, CLOSED_TONE)
             for m in rule.finditer(src)]
    assert not found, (f"{path.name}: write hóa, khóa, tùy, hòa, xóa, lũy (open "
                       "syllables) but hoành, toàn (closed ones):\n" + "\n".join(found))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_glossary_terms(path):
    found = [f"cell {i}: {wrong!r}, write {right!r}"
             for i, src in cells(path) for wrong, right in GLOSSARY.items()
             if wrong in src.lower()]
    assert not found, f"{path.name}:\n" + "\n".join(found)
