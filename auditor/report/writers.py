"""The only module that writes report files: each through a temp file and `os.replace`."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from auditor.report.csv_render import render_csv
from auditor.report.json_render import render_json
from auditor.report.tables import ReportDocument


def render_xlsx(document: ReportDocument, stream: BinaryIO) -> None:
    """`auditor.report.xlsx_render.render_xlsx`, imported when first used: xlsxwriter and
    pandas load only for runs that write an XLSX."""
    from auditor.report.xlsx_render import render_xlsx as render

    render(document, stream)


Renderer = Callable[[ReportDocument, BinaryIO], None]
RENDERERS: dict[str, Renderer] = {"json": render_json, "csv": render_csv, "xlsx": render_xlsx}


def write_atomically(path: Path, render: Callable[[BinaryIO], None]) -> Path:
    """Render into a temp file beside `path`, sync it, then rename it over `path`.

    A reader never sees half a report: either the old file or the whole new one.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("wb") as stream:
            render(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
        _sync_directory(path.parent)
    finally:
        temp.unlink(missing_ok=True)
    return path


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry lives in the directory)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_reports(
    document: ReportDocument, out_dir: Path, name: str, formats: Sequence[str]
) -> list[Path]:
    """Write `<out_dir>/<name>.<format>` for each format; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        render = functools.partial(RENDERERS[fmt], document)
        written.append(write_atomically(out_dir / f"{name}.{fmt}", render))
    return written
