"""`auditor report --merge`: the shards of one estate (`--shard K/N`, each a process or a
Kubernetes Indexed Job's pod) into one consolidated report, without the API.

The shards' rows are concatenated in shard order (a URN two shards both audited is kept once,
from the first); the summary is counted afresh; `run` is the first shard's, with the times
spanning every shard, the request counts added up, each account's audited projects joined, and
`merged_from` naming the sources. A set of shards that is not whole (`2/3` missing) is merged
all the same, and `run.complete` says it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.errors import UsageError
from auditor.model import Row
from auditor.report.rebuild import RebuildSource, load_source
from auditor.report.tables import ReportDocument, summarize


def merge_sources(paths: Sequence[Path]) -> tuple[ReportDocument, list[str]]:
    """One report from the shards' JSON reports or journals; and warnings for the reader
    (missing shards, URNs audited twice)."""
    if len(paths) < 2:
        raise UsageError("--merge needs two or more reports (one per shard)")
    sources = sorted((load_source(path) for path in paths), key=_shard_order)
    warnings = []
    rows: list[Row] = []
    seen: set[str] = set()
    twice = 0
    for source in sources:
        for row in source.document.rows:
            if row.urn in seen:
                twice += 1
                continue
            seen.add(row.urn)
            rows.append(row)
    if twice:
        warnings.append(f"{twice} URNs were in more than one report: each is kept once")
    shards = [source.document.run.get("shard") for source in sources]
    missing = _missing_shards(shards)
    if missing:
        warnings.append(f"shards {', '.join(missing)} are missing: the merged report is partial")
    run = _merged_run(sources, missing)
    return ReportDocument(rows, summarize(rows), run), warnings


def _shard_order(source: RebuildSource) -> tuple[int, str]:
    shard = source.document.run.get("shard")
    if isinstance(shard, str) and "/" in shard:
        index = shard.split("/", 1)[0]
        if index.isdigit():
            return int(index), str(source.path)
    return 0, str(source.path)


def _missing_shards(shards: Sequence[Any]) -> list[str]:
    """The `K/N` shares absent from a set of shards (none when no source names a shard)."""
    named = [shard for shard in shards if isinstance(shard, str) and "/" in shard]
    if not named:
        return []
    count = max(int(shard.split("/", 1)[1]) for shard in named)
    present = {int(shard.split("/", 1)[0]) for shard in named}
    return [f"{k}/{count}" for k in range(1, count + 1) if k not in present]


def _merged_run(sources: Sequence[RebuildSource], missing: list[str]) -> dict[str, Any]:
    runs = [source.document.run for source in sources]
    run = dict(runs[0])
    run.pop("rebuilt_from", None)
    starts = [r["started_at"] for r in runs if r.get("started_at")]
    ends = [r["finished_at"] for r in runs if r.get("finished_at")]
    if starts:
        run["started_at"] = min(starts)
    if ends:
        run["finished_at"] = max(ends)
    run["complete"] = all(r.get("complete", False) for r in runs) and not missing
    run["not_audited"] = [urn for r in runs for urn in r.get("not_audited") or []]
    for counted in ("requests", "duplicates_merged", "skipped_for_credentials"):
        if all(isinstance(r.get(counted), int) for r in runs):
            run[counted] = sum(r[counted] for r in runs)
    if "duration_s" in run:
        run["duration_s"] = max(float(r.get("duration_s") or 0) for r in runs)
    accounts = _merged_accounts(runs)
    if accounts is not None:
        run["accounts"] = accounts
    discovery: list[dict[str, Any]] = [
        r["discovery"] for r in runs if isinstance(r.get("discovery"), dict)
    ]
    if discovery:
        merged = {
            **discovery[0],
            "projects": [p for d in discovery for p in d.get("projects", [])],
            "complete": all(d.get("complete", True) for d in discovery),
        }
        merged.pop("inventory", None)
        run["discovery"] = merged
    run["shard"] = None
    run["merged_from"] = [str(source.path) for source in sources]
    return run


def _merged_accounts(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Each account once: listed by every shard alike, its audited projects joined."""
    merged: dict[str, dict[str, Any]] = {}
    for run in runs:
        for account in run.get("accounts") or []:
            name = account.get("name", "")
            if name not in merged:
                merged[name] = {**account, "projects_audited": list(account["projects_audited"])}
            else:
                merged[name]["projects_audited"] += account.get("projects_audited", [])
    return list(merged.values()) if merged else None
