"""`auditor/cli/estate.py` without a server: which credentials an estate's projects get."""

from __future__ import annotations

import pytest

from auditor.accounts import Account
from auditor.cli.estate import estate_source
from auditor.config import Settings
from auditor.errors import UsageError
from auditor.service.auth import StaticToken
from auditor.service.credential_sources import CredentialSource

TOKENS_FILE = CredentialSource("per-project tokens (creds.toml)", lambda s, r: StaticToken("t"))
TEAM_B = Account("emulator-agency", domain_name="emulator-domain-2", name="team-b")


def test_without_other_accounts_the_source_is_kept() -> None:
    assert estate_source(TOKENS_FILE, Settings(), {}) is TOKENS_FILE


def test_other_accounts_need_credentials_that_can_ask_iam() -> None:
    with pytest.raises(UsageError, match="through IAM agencies: that needs AUDITOR_TOKEN"):
        estate_source(TOKENS_FILE, Settings(), {"p" * 32: TEAM_B})
