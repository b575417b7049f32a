"""Stage 2, asking the API: the only code that speaks HTTP to the cloud, and the credentials.

client.py              `TracingClient`: one tracing GET or ListFunctions page -> a `Probe`
auth.py                the kinds of `Credentials` (token, per-project tokens, AK/SK, IAM, estate),
                       the `Outgoing` request they authenticate, the `KeyPair` that signs
credential_sources.py  which credentials a run uses (environment, credentials file)
expiring.py            `ExpiringCache`: tokens and keys kept until shortly before they expire
signer.py              AK/SK `SDK-HMAC-SHA256` signing and verification (pure)
answers.py             what the API's error codes mean (refused, throttled, not found...)

The estate (`--all-projects`, `[[accounts]]`):

iam.py                 `IamClient` (a password's project or domain token) and `IamApi` (the
                       estate's IAM calls: retries, renewal, `IamError`s that say what to do)
identity.py            who asks IAM: a token, a password's domain token, AK/SK + X-Domain-Id
projects.py            `list_projects` of an account; `select_projects` (pure) picks the ones
                       to audit: no MOS, no disabled ones, regions and exclusions applied
agency.py              other accounts reached: `reach_account` -> agency tokens or temporary
                       keys, for listing and for FunctionGraph; `AgencyRefused`
"""

from auditor.service.agency import (
    AccountAccess,
    AgencyKeys,
    AgencyTokens,
    reach_account,
)
from auditor.service.auth import (
    AkSkCredentials,
    Credentials,
    CredentialsByProject,
    IamPasswordTokens,
    KeyPair,
    Outgoing,
    ProjectTokens,
    StaticToken,
)
from auditor.service.client import TracingClient
from auditor.service.iam import IamApi, IamClient
from auditor.service.identity import Identity, KeyIdentity, PasswordIdentity, TokenIdentity
from auditor.service.projects import (
    Project,
    ProjectSelection,
    SkippedProject,
    SkipReason,
    list_projects,
    region_of,
    select_projects,
)

__all__ = [
    "AccountAccess",
    "AgencyKeys",
    "AgencyTokens",
    "AkSkCredentials",
    "Credentials",
    "CredentialsByProject",
    "IamApi",
    "IamClient",
    "IamPasswordTokens",
    "Identity",
    "KeyIdentity",
    "KeyPair",
    "Outgoing",
    "PasswordIdentity",
    "Project",
    "ProjectSelection",
    "ProjectTokens",
    "SkipReason",
    "SkippedProject",
    "StaticToken",
    "TokenIdentity",
    "TracingClient",
    "list_projects",
    "reach_account",
    "region_of",
    "select_projects",
]
