"""The XLSX report as a reader sees it: `scripts/render_report.sh` turns a demo report into a PDF
with headless LibreOffice and into PNG pages with pdftoppm.

Slow, and skipped where LibreOffice (Debian: libreoffice-calc) or pdftoppm (poppler-utils) is
not installed. It proves the workbook opens and converts without errors and that every sheet
reaches paper; whether the pages read well is for a person to look at (the PNGs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.model import COLUMNS
from tests.conftest import run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("soffice") is None or shutil.which("pdftoppm") is None,
        reason="needs soffice (libreoffice-calc) and pdftoppm (poppler-utils)",
    ),
]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "render_report.sh"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_demo_report_converts_to_pdf_and_png_pages(tmp_path: Path) -> None:
    demo = run_cli("demo", "--functions", "200", "-o", str(tmp_path / "reports"), "-q")
    assert demo.returncode == 0, demo.stderr
    (xlsx,) = (tmp_path / "reports").glob("*.xlsx")

    pages_dir = tmp_path / "pages"
    done = subprocess.run(
        ["bash", str(SCRIPT), str(xlsx), str(pages_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    pdf = pages_dir / f"{xlsx.stem}.pdf"
    assert pdf.stat().st_size > 20_000
    head = pdf.read_bytes()
    assert head.startswith(b"%PDF-")
    pngs = sorted(pages_dir.glob(f"{xlsx.stem}-*.png"))
    # Summary, the Results halves side by side, and one sheet per non-configured status:
    # well over a handful of pages, each a real image of some size.
    assert len(pngs) >= 6
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 5_000, png.name
    if shutil.which("pdftotext"):  # poppler-utils, beside pdftoppm
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        for expected in ("FunctionGraph tracing audit", "Functions by status", "urn", "status"):
            assert expected in text
        # Footers name the sheet and the page; the header row repeats on every Results page.
        assert f"Page {len(pngs)} of {len(pngs)}" in text
        pages = [
            [line.split() for line in p.splitlines() if line.strip()] for p in text.split("\f")
        ]
        sheet_pages = [p for p in pages if p and "Summary" not in p[-1]]
        assert sheet_pages
        for page in sheet_pages:
            assert page[0][0] in COLUMNS and set(page[0]) <= set(COLUMNS), page[0]
    # The script reports what it wrote; LibreOffice logged no error.
    assert f"{len(pngs)} pages" in done.stdout
    log = (pages_dir / f"{xlsx.stem}.soffice.log").read_text(errors="replace")
    assert not re.search(r"\berror\b", log, re.IGNORECASE), log


def test_the_script_refuses_a_missing_file(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "absent.xlsx"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no such file" in done.stderr
