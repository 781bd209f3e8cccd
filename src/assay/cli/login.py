"""Interactive OAuth flows for ``assay login``: device authorization (RFC 8628) and code + PKCE (RFC 7636)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from assay.cli import output
from assay.clients.http import request
from assay.errors import EnvironmentFailure, InputError

CLIENT_ID = "assay-cli"


def discover(issuer: str) -> dict[str, Any]:
    """The issuer's OpenID discovery document."""
    resp = request("GET", issuer.rstrip("/") + "/.well-known/openid-configuration", retries=1)
    if resp.status_code != 200:
        raise EnvironmentFailure("oidc-discovery-failed", f"{issuer}: no discovery document (HTTP {resp.status_code})")
    return resp.json()  # type: ignore[no-any-return]


def _token_endpoint(disc: dict[str, Any]) -> str:
    return str(disc.get("oauth_token_endpoint") or disc["token_endpoint"])


def device_flow(issuer: str, timeout: float = 600) -> str:
    """Run the device flow: print where to go and the code, poll for the ID token."""
    disc = discover(issuer)
    if "device_authorization_endpoint" not in disc:
        raise InputError("login-flow-unsupported", f"{issuer} offers no device authorization", hint="use --flow pkce")
    resp = request(
        "POST", disc["device_authorization_endpoint"], data={"client_id": CLIENT_ID, "scope": "openid email"}
    )
    if resp.status_code != 200:
        raise EnvironmentFailure("login-failed", f"device authorization refused (HTTP {resp.status_code})")
    grant = resp.json()
    output.say(f"To sign in, open {grant['verification_uri']} and enter the code {grant['user_code']}")
    output.say(f"  (or open {grant.get('verification_uri_complete', grant['verification_uri'])})")
    interval = max(1.0, float(grant.get("interval", 5)))
    deadline = time.monotonic() + min(timeout, float(grant.get("expires_in", 600)))
    while time.monotonic() < deadline:
        time.sleep(interval)
        answer = request(
            "POST",
            _token_endpoint(disc),
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": grant["device_code"],
                "client_id": CLIENT_ID,
            },
            retries=0,
        )
        doc = answer.json()
        if answer.status_code == 200:
            return str(doc["id_token"])
        error = doc.get("error")
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise InputError("login-failed", f"device login refused: {error}: {doc.get('error_description', '')}")
    raise InputError("login-timeout", "the device code expired before it was approved")


def pkce_flow(issuer: str, timeout: float = 300) -> str:
    """Run authorization code + PKCE with a one-shot loopback redirect listener."""
    disc = discover(issuer)
    if "authorization_endpoint" not in disc:
        raise InputError(
            "login-flow-unsupported", f"{issuer} offers no authorization endpoint", hint="use --flow device"
        )
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    got: dict[str, str] = {}
    done = threading.Event()

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if query.get("state") == state and "code" in query:
                got.update(query)
                done.set()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"Signed in to assay. You can close this window.\n")
            else:
                self.send_response(400)
                self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    listener = HTTPServer(("127.0.0.1", 0), Redirect)
    redirect_uri = f"http://127.0.0.1:{listener.server_address[1]}/callback"
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        url = (
            disc["authorization_endpoint"]
            + "?"
            + urlencode(
                {
                    "response_type": "code",
                    "client_id": CLIENT_ID,
                    "redirect_uri": redirect_uri,
                    "scope": "openid email",
                    "state": state,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                }
            )
        )
        output.say(f"To sign in, open {url}")
        if not done.wait(timeout):
            raise InputError("login-timeout", "no sign-in arrived at the loopback redirect")
    finally:
        listener.shutdown()
        listener.server_close()
    answer = request(
        "POST",
        _token_endpoint(disc),
        data={
            "grant_type": "authorization_code",
            "code": got["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": CLIENT_ID,
        },
        retries=0,
    )
    if answer.status_code != 200:
        raise InputError("login-failed", f"code exchange refused: {answer.text[:200]}")
    return str(answer.json()["id_token"])
