"""Credentials pasted by mistake: cloud/API keys with well-known prefixes, JWTs, PEM private keys."""

from __future__ import annotations

import math
from collections import Counter
from typing import Optional

from .base import LetheRegexRecognizer


def shannon_bits(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


class LetheSecretRecognizer(LetheRegexRecognizer):
    """Tokens whose prefix names the issuer, plus ``password=...``-style assignments."""

    ENTITY = "SECRET"
    _END = r"(?![\w-])"
    PATTERNS = [
        ("pem_private_key",
         r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
         r"(?: BLOCK)?-----", 1.0),
        ("aws_access_key_id", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)"
         r"[A-Z2-7]{16}(?![A-Z0-9])", 0.95),
        ("github_token", r"(?<![\w])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})" + _END, 1.0),
        ("gitlab_token", r"(?<![\w-])glpat-[A-Za-z0-9_-]{20,}+" + _END, 1.0),
        ("slack_token", r"(?<![\w-])xox[abposr]-[A-Za-z0-9](?:-?[A-Za-z0-9]){2,}+" + _END, 1.0),
        ("slack_webhook", r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+", 1.0),
        ("stripe_key", r"(?<![\w])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}" + _END, 1.0),
        ("openai_anthropic_key", r"(?<![\w-])sk-(?:proj-|ant-(?:api|admin)\d\d-|svcacct-|admin-)?"
         r"[A-Za-z0-9_-]{20,}" + _END, 0.95),
        ("google_api_key", r"(?<![\w-])AIza[0-9A-Za-z_-]{35}" + _END, 0.95),
        ("sendgrid_key", r"(?<![\w])SG\.[\w-]{22}\.[\w-]{43}" + _END, 1.0),
        ("twilio_key", r"(?<![\w])SK[0-9a-fA-F]{32}" + _END, 0.8),
        ("npm_token", r"(?<![\w])npm_[A-Za-z0-9]{36}" + _END, 1.0),
        ("huggingface_token", r"(?<![\w])hf_[A-Za-z0-9]{30,}" + _END, 0.95),
        ("jwt", r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}" + _END, 1.0),
        ("bearer", r"(?i)\bbearer\s+(?P<v>[A-Za-z0-9._~+/-]{20,}=*)", 0.9),
        ("basic_auth", r"(?i)\bauthorization\s*:\s*basic\s+(?P<v>[A-Za-z0-9+/]{12,}={0,2})(?![\w+/=])", 0.9),
        # An AWS secret access key (40 base64 characters) after a secret/AWS cue, with or without ``=``.
        ("aws_secret_key",
         r"(?i:\b(?:aws|secret|secret[ _-]?(?:access[ _-]?)?key|access[ _-]?key|credentials?)\b)"
         r"[^\n]{0,40}?(?<![A-Za-z0-9/+=])(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])", 0.71),
        # ``my password is h7$Kq...``, ``the token is ...``: a credential word, ``is``, a high-entropy value.
        ("credential_is",
         r"(?i)\b(?:password|passwd|passphrase|pin|secret|api[ _-]?key|token|access[ _-]?token|secret[ _-]?key)"
         r"[ \t]+(?:is|was|=)[ \t]*:?[ \t]*[\"'`]?(?P<v>[^\s\"'`,;]{10,})", 0.72),
        # ``postgres://user:password@host``: the whole ``user:password`` (a password may hold ``@``).
        ("uri_credentials", r"(?i)[a-z][a-z0-9+.-]{1,30}://(?P<v>[^ \t\r\n/:@\"'<>]+:[^ \t\r\n/\"'<>]+)"
         r"@[a-z0-9.\[\]-]+", 1.0),
        ("assignment",
         r"(?i)\b(?:password|passwd|pwd|pass|passphrase|secret|client_secret|api[_-]?key|apikey|"
         r"access[_-]?token|auth[_-]?token|refresh[_-]?token|private[_-]?key|aws_secret_access_key|"
         r"token)\b[\"']?\s*[:=]\s*[\"']?(?P<v>[^\s\"',;]{8,})", 0.7),
    ]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Prefixed tokens pass; bare assignments need a non-trivial value (entropy >= 2.5 bits)."""
        value = text[start:end]
        if score == 0.71 or score == 0.72:
            # A bare value after a cue word: looks random (mixed classes, high entropy), is no word.
            classes = sum(any(f(c) for c in value) for f in (str.islower, str.isupper, str.isdigit))
            if classes < 2 or shannon_bits(value) < 3.5 or value.isalpha() and value.islower():
                return None
            return 0.9
        if score <= 0.7:
            if shannon_bits(value) < 2.5 or value.lower() in ("password", "********", "redacted"):
                return None
        return score
