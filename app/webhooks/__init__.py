"""Webhooks: where they may point (ssrf), how a body is signed, and the loop that sends them."""
