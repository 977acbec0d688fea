"""Where a webhook may point: by default only public addresses.

A webhook is a request the server makes on a user's behalf; pointed at 127.0.0.1, a
private range or the cloud metadata address (169.254.169.254) it would reach what only
the server can reach. Every address a name resolves to is checked, at creation and again
just before each send (a name can be re-pointed after creation); an operator opens
networks of their own with ``TFJOBS_WEBHOOK_ALLOWED_NETWORKS``.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["Refused", "allowed_networks", "check_url"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(ValueError):
    """The URL may not be a webhook's target; the message says why."""


def allowed_networks(setting: str) -> list[Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip()]


def check_url(url: str, allowed: list[Network]) -> list[str]:
    """The URL's host resolved, every address allowed; or :class:`Refused`."""
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - parses the host: a bad IPv6 literal raises here
    except ValueError as err:
        raise Refused(f"the URL does not parse ({err})") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if parts.username or parts.password:
        raise Refused("the URL may not carry a user or password (sign with the secret instead)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("the URL's port is not a number from 1 to 65535") from None
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise Refused(f"the host {parts.hostname!r} does not resolve ({err})") from None
    addresses = sorted({str(info[4][0]) for info in found})
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in network for network in allowed):
            continue
        if not address.is_global or address.is_multicast:
            kind = (
                "loopback"
                if address.is_loopback
                else "link-local (the cloud metadata address among them)"
                if address.is_link_local
                else "private"
                if address.is_private
                else "reserved"
            )
            raise Refused(
                f"{parts.hostname} resolves to {address}, a {kind} address: webhooks may target public "
                "addresses only (an operator allows more with TFJOBS_WEBHOOK_ALLOWED_NETWORKS)"
            )
    return addresses
