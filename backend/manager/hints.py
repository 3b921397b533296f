"""What may be shown of a secret: a key's or a header value's hint."""

from __future__ import annotations

# Public prefixes that say which vendor issued a key; showing one reveals nothing secret.
KNOWN_KEY_PREFIXES = (
    "sk-ant-",
    "sk-proj-",
    "sk-or-",
    "sk-",
    "gsk_",
    "xai-",
    "pplx-",
    "nvapi-",
    "hf_",
)


def key_hint(key: str) -> str:
    """A hint such as `sk-…9f2c`: a vendor prefix and at most the last 4 characters."""
    tail = key[-4:] if len(key) >= 12 else key[-2:] if len(key) >= 6 else ""
    prefix = next(
        (p for p in KNOWN_KEY_PREFIXES if key.startswith(p) and len(key) >= len(p) + 12), ""
    )
    return f"{prefix}…{tail}"
