"""Minimal DER helpers for the few structures assay assembles by hand."""

from __future__ import annotations


def length(n: int) -> bytes:
    """DER definite length."""
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One tag-length-value."""
    return bytes([tag]) + length(len(content)) + content


def utf8(value: str) -> bytes:
    """DER UTF8String."""
    return tlv(0x0C, value.encode("utf-8"))


def octet_string(value: bytes) -> bytes:
    """DER OCTET STRING."""
    return tlv(0x04, value)


def sequence(*parts: bytes) -> bytes:
    """DER SEQUENCE of already-encoded parts."""
    return tlv(0x30, b"".join(parts))


def bit_string(value: bytes) -> bytes:
    """DER BIT STRING with no unused bits."""
    return tlv(0x03, b"\x00" + value)
