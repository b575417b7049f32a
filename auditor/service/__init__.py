"""Stage 2, asking the API: the only code that speaks HTTP to the cloud, and the credentials.

client.py              `TracingClient`: one tracing GET or ListFunctions page -> a `Probe`
iam.py                 `IamClient`: project-scoped IAM tokens from a password
auth.py                the kinds of `Credentials` (token, per-project tokens, AK/SK, IAM)
credential_sources.py  which credentials a run uses (environment, credentials file)
signer.py              AK/SK `SDK-HMAC-SHA256` signing and verification (pure)
answers.py             what the API's error codes mean (refused, throttled, not found...)
"""

from auditor.service.auth import (
    AkSkCredentials,
    Credentials,
    IamPasswordTokens,
    ProjectTokens,
    StaticToken,
)
from auditor.service.client import TracingClient
from auditor.service.iam import IamClient

__all__ = [
    "AkSkCredentials",
    "Credentials",
    "IamClient",
    "IamPasswordTokens",
    "ProjectTokens",
    "StaticToken",
    "TracingClient",
]
