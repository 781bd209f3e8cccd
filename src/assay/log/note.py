"""Signing checkpoints (C2SP signed notes) and signed entry timestamps."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from assay.crypto.signer import Signer
from assay.formats import canonical


@dataclass(frozen=True)
class LogIdentity:
    """Who the log is: its checkpoint origin, signer name and key."""

    origin: str
    name: str
    log_id: bytes
    signer: Signer

    def checkpoint(self, size: int, root: bytes) -> str:
        """A signed note for the tree head ``(size, root)``."""
        text = f"{self.origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        sig = self.signer.sign_message(text.encode())
        return text + "\n" + f"\u2014 {self.name} {base64.b64encode(self.log_id[:4] + sig).decode()}\n"

    def signed_entry_timestamp(self, body: bytes, integrated_time: int, log_index: int) -> bytes:
        """SET: the log's signature over the RFC 8785 form of ``{body, integratedTime, logID, logIndex}``."""
        payload = canonical.dumps(
            {
                "body": base64.b64encode(body).decode(),
                "integratedTime": integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": log_index,
            }
        )
        return self.signer.sign_message(payload)
