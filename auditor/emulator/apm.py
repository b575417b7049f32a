"""The APM service's key listing, `GET /v1/apm2/access-keys` (ShowAkSks), as the emulator
serves it.

APM access keys are made in the APM console, at most two per account; tracing is configured
with one of them (UpdateTracing). The answer is

    {"access_ak_sk_models": [{"id", "ak", "sk", "status", "descp", "gmt_create", "gmt_modify",
      "gmt_create_timestamp", "gmt_modify_timestamp", "inner_domain_id"}, ...]}

with `status` "enable", as in Huawei's example. The keys are account-wide, so any credential
FunctionGraph accepts may list them (`CredentialCheck.check_account`). The SK is shown in full
unless the config asks for it masked, as the docs' example shows it (`ktns******6iq6t9m`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from auditor.emulator.faults import Answer

CREATED = "2024-01-01 00:00:00"
CREATED_MS = 1704038400000  # CREATED in UTC+8, as milliseconds since the epoch
INNER_DOMAIN_ID = 1


def mask_sk(sk: str) -> str:
    """`sk` with all but its first and last four characters hidden; all of a short one."""
    return f"{sk[:4]}******{sk[-4:]}" if len(sk) >= 16 else "******"


def access_keys_answer(apm_keys: Mapping[str, str], *, mask_sks: bool = False) -> Answer:
    """200 with the listing of `apm_keys` (AK -> SK), in their order, ids from 1."""
    models = [
        {
            "id": number,
            "ak": ak,
            "sk": mask_sk(sk) if mask_sks else sk,
            "status": "enable",
            "descp": "emulator APM key",
            "gmt_create": CREATED,
            "gmt_modify": CREATED,
            "gmt_create_timestamp": CREATED_MS,
            "gmt_modify_timestamp": CREATED_MS,
            "inner_domain_id": INNER_DOMAIN_ID,
        }
        for number, (ak, sk) in enumerate(apm_keys.items(), start=1)
    ]
    return 200, json.dumps({"access_ak_sk_models": models}).encode()
