"""Parse and validate FunctionGraph function URNs.

`urn:fss:{region}:{project_id}:function:{package}:{name}[:{version}|:!{alias}]`
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from auditor.errors import InvalidUrn

_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+\Z")
_PROJECT_ID = re.compile(r"[A-Za-z0-9]{32}\Z")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")
_VERSION = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_ALIAS = re.compile(r"![A-Za-z0-9_-]{1,64}\Z")
_MAX_LENGTH = 512
# The whole grammar above as one expression: one `match` (~0.5 µs) tells a valid URN and gives
# its parts, where the checks of `parse_urn` one by one (~3 µs) say what is wrong with the rest.
# Tests check that both accept exactly the same strings.
VALID_URN = re.compile(
    r"urn:fss:(?P<region>[a-z]{2,}(?:-[a-z0-9]+)+):(?P<project>[A-Za-z0-9]{32}):function:"
    r"(?P<package>[A-Za-z0-9_-]{1,128}):(?P<name>[A-Za-z0-9_-]{1,128})"
    r"(?::(?P<qualifier>![A-Za-z0-9_-]{1,64}|[A-Za-z0-9_.-]{1,64}))?\Z"
)


@dataclass(frozen=True, slots=True)
class FunctionUrn:
    """A parsed function URN. `qualifier` is a version, `!alias`, or empty."""

    region: str
    project_id: str
    package: str
    name: str
    qualifier: str = ""

    @property
    def unqualified(self) -> str:
        """The URN without version or alias: the form the tracing API is asked about."""
        return f"urn:fss:{self.region}:{self.project_id}:function:{self.package}:{self.name}"

    def __str__(self) -> str:
        base = self.unqualified
        return f"{base}:{self.qualifier}" if self.qualifier else base


def parse_urn(text: str) -> FunctionUrn:
    """Parse `text` as a function URN, or raise `InvalidUrn` saying what is wrong with it."""
    valid = VALID_URN.match(text) if len(text) <= _MAX_LENGTH else None
    if valid is not None:
        region, project_id, package, name, qualifier = valid.groups("")
        # A fleet has few regions, projects and packages: a million URNs share one string each.
        return FunctionUrn(
            sys.intern(region), sys.intern(project_id), sys.intern(package), name, qualifier
        )
    return parse_urn_by_parts(text)


def parse_urn_by_parts(text: str) -> FunctionUrn:
    """`parse_urn` checking one part at a time: the reference grammar, and the reason an entry
    is not a URN."""
    if not text:
        raise InvalidUrn("empty entry")
    if len(text) > _MAX_LENGTH:
        raise InvalidUrn(f"longer than {_MAX_LENGTH} characters")
    parts = text.split(":")
    if len(parts) < 7 or parts[0] != "urn" or parts[1] != "fss":
        raise InvalidUrn(
            "not a function URN: expected "
            "urn:fss:{region}:{project_id}:function:{package}:{name}[:{version}|:!{alias}]"
        )
    if len(parts) > 8:
        raise InvalidUrn(f"too many ':'-separated parts ({len(parts)}, at most 8)")
    _, _, region, project_id, kind, package, name, *rest = parts
    if kind != "function":
        raise InvalidUrn(f"resource type is {kind!r}, expected 'function'")
    if not _REGION.match(region):
        raise InvalidUrn(f"region {region!r} is not a region name like 'cn-north-4'")
    if not _PROJECT_ID.match(project_id):
        raise InvalidUrn(f"project id {project_id!r} is not 32 letters or digits")
    if not _NAME.match(package):
        raise InvalidUrn(f"package {package!r} may hold only letters, digits, '_' and '-'")
    if not _NAME.match(name):
        raise InvalidUrn(f"function name {name!r} may hold only letters, digits, '_' and '-'")
    qualifier = rest[0] if rest else ""
    if rest and not (_ALIAS.match(qualifier) or _VERSION.match(qualifier)):
        raise InvalidUrn(f"qualifier {qualifier!r} is neither a version nor '!alias'")
    # A fleet has few regions, projects and packages: a million URNs share one string each.
    return FunctionUrn(
        sys.intern(region), sys.intern(project_id), sys.intern(package), name, qualifier
    )
