"""Sample requests for the key broker's routes in the permission matrix (``test_access_matrix.SAMPLES``)."""

from __future__ import annotations

import base64
import io
import os
import time
from typing import Any

from tests.integration.conftest import dev_token

KEY = "k1"
WORKLOAD = "workload@example.com"


def _base(ctx: Any) -> str:
    return f"/api/v1/projects/{ctx.project}/keys/{KEY}"


def key(ctx: Any) -> dict[str, str]:
    """The administrator created key ``k1``; returns the path parameters."""
    r = ctx.admin("POST", _base(ctx))
    assert r.status_code == 201, r.text
    return {"name": KEY}


def policy_bundle(ctx: Any) -> bytes:
    """A decryption policy for ``k1`` signed by the kit's key (which the project then trusts)."""
    from assay.clients.broker import BrokerClient
    from assay.service.broker import policy_statement
    from assay.service.credentials import Credentials

    ctx.admin.ok("PUT", f"/api/v1/projects/{ctx.project}/trust", {"keys": [ctx.kit.public_pem]})
    rule = {"name": "wl", "issuer": ctx.srv.url + "/dev/oidc", "subject": WORKLOAD, "audience": "assay-broker"}
    client = BrokerClient(ctx.srv.url, ctx.project, KEY)
    creds = Credentials.resolve(ctx.kit.key_file, None, ctx.srv.url, None)
    return creds.sign_statement(policy_statement(client, {"rules": [rule]})).to_bytes()


def with_policy(ctx: Any) -> dict[str, str]:
    path = key(ctx)
    r = ctx.admin("PUT", _base(ctx) + "/policy", content=policy_bundle(ctx))
    assert r.status_code == 200, r.text
    return path


def _recipient(ctx: Any) -> Any:
    from assay.crypt import age

    return age.Recipient.parse(ctx.admin.ok("GET", _base(ctx))["recipient"])


def unwrap_body(ctx: Any) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    st = _recipient(ctx).wrap(os.urandom(16))
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    token = dev_token(ctx.srv, email=WORKLOAD, audience="assay-broker")
    return {"stanza": {"type": st.type, "args": list(st.args), "body": base64.b64encode(st.body).decode()},
            "ephemeralKey": pem.decode(), "nonce": os.urandom(16).hex(), "timestamp": time.time(),
            "evidence": {"token": token}}  # fmt: skip


def rewrap_body(ctx: Any) -> dict[str, Any]:
    from assay.crypt import age

    sink = io.BytesIO()
    age.encrypt(io.BytesIO(b"x"), sink, [_recipient(ctx)])
    data = sink.getvalue()
    end = data.index(b"\n", data.index(b"\n---") + 1) + 1
    return {"header": base64.b64encode(data[:end]).decode()}
