"""The signature a receiver checks: ``X-Tfjobs-Signature: sha256=<hex HMAC-SHA256 of the
raw body, keyed with the webhook's secret>`` (GitHub's scheme, so receivers know it).

A receiver verifies with the standard library alone:

>>> body, secret = b'{"event": "job.succeeded"}', "s3cret"
>>> header = signature(secret, body)
>>> hmac.compare_digest(header, "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())
True
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["signature"]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
