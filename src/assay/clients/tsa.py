"""RFC 3161 client."""

from __future__ import annotations

from rfc3161_client import TimestampRequestBuilder, decode_timestamp_response

from assay.clients.http import reject, request
from assay.errors import EnvironmentFailure


def timestamp(url: str, message: bytes) -> bytes:
    """A DER TimeStampResp over ``message`` (SHA-256 imprint, nonce, certificates requested)."""
    req = TimestampRequestBuilder().data(message).nonce(nonce=True).cert_request(cert_request=True).build()
    resp = request("POST", url, content=req.as_bytes(), headers={"Content-Type": "application/timestamp-query"})
    if resp.status_code != 200:
        raise reject(resp, "timestamp")
    try:
        parsed = decode_timestamp_response(resp.content)
    except ValueError:
        raise EnvironmentFailure("bad-tsa-response", "the TSA's answer is not a timestamp response") from None
    if parsed.tst_info.nonce != req.nonce:
        raise EnvironmentFailure("bad-tsa-response", "the TSA's answer does not carry our nonce")
    return resp.content
