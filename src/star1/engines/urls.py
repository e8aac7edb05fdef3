"""Checking a server's base URL before anything is sent to it or written about it.

A base URL with credentials in it (``http://user:password@host/v1``) is refused: the URL is
printed in messages, logged with ``-v`` and saved in ``config.resolved.json`` and
``endpoints.json``, so a password inside it would reach all of them. A key belongs in an
environment variable named by ``api_key_env`` (sent as ``Authorization: Bearer …``). Every
message about such a URL masks the part before the ``@``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from star1.redact import register_secret

# ``scheme://user:password@`` anywhere in a text (an engine string holds several URLs).
_USERINFO = re.compile(r"(?<=://)[^/@\s?#,]*@")


def mask_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it replaced by ``***@``."""
    return _USERINFO.sub("***@", text) if "@" in text else text


def check_base_url(url: str) -> str:
    """``url`` if it can be a base URL; ``ValueError`` (with the credentials masked) if not."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"base URL {mask_credentials(str(url))!r} must start with http:// or https://")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        for secret in (parts.password, parts.username):
            if secret:
                register_secret(secret)  # long enough ones are masked in any text printed later
                register_secret(unquote(secret))
        raise ValueError(
            f"base URL {mask_credentials(url)!r} holds credentials (user:password@): star1 sends none in "
            "a URL, which would reach logs, messages and run records. Put the key in an environment "
            "variable and name it with api_key_env=<VAR> (sent as 'Authorization: Bearer <key>')")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError(f"base URL {url!r}: the port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"base URL {url!r} names no host")
    return url
