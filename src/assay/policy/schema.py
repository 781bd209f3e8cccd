"""The JSON Schema of an ``assay.dev/v1`` Policy (``assay policy schema`` prints it)."""

from __future__ import annotations

from typing import Any

CLAIMS = (
    "sourceRepository",
    "sourceRef",
    "sourceDigest",
    "buildSigner",
    "runnerEnvironment",
    "buildTrigger",
    "certIssuer",
)
DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+$"}
STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}

KEYLESS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "issuer": {"type": "string"},
        "issuerRegExp": {"type": "string"},
        "subject": {"type": "string"},
        "subjectRegExp": {"type": "string"},
        "claims": {
            "type": "object",
            "additionalProperties": False,
            "properties": {c: {"type": "string"} for c in CLAIMS},
        },
        "claimsRegExp": {
            "type": "object",
            "additionalProperties": False,
            "properties": {c: {"type": "string"} for c in CLAIMS},
        },
    },
    "anyOf": [{"required": ["issuer"]}, {"required": ["issuerRegExp"]}],
}

AUTHORITIES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "keys": STRINGS,
        "threshold": {"type": "integer", "minimum": 1},
        "keyless": {"type": "array", "items": KEYLESS, "minItems": 1},
    },
    "anyOf": [{"required": ["keys"]}, {"required": ["keyless"]}],
}


def _rule(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", kind],
        "properties": {"name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"}, kind: body},
    }


SIGNATURE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["authorities"],
    "properties": {"authorities": AUTHORITIES},
}
ATTESTATION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["predicateType", "authorities"],
    "properties": {
        "predicateType": {"type": "string", "minLength": 1},
        "authorities": AUTHORITIES,
        "maxAge": DURATION,
        "conditions": STRINGS,
    },
}
PROVENANCE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sourceRepository"],
    "properties": {
        "sourceRepository": {"type": "string", "minLength": 1},
        "branch": {"type": "string"},
        "tag": {"type": "string"},
        "builderId": {"type": "string"},
        "authorities": AUTHORITIES,
        "maxAge": DURATION,
    },
    "not": {"required": ["branch", "tag"]},
}
SBOM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["authorities"],
    "properties": {
        "authorities": AUTHORITIES,
        "formats": {"type": "array", "items": {"enum": ["cyclonedx", "spdx"]}, "minItems": 1},
        "maxAge": DURATION,
    },
}
VULNERABILITIES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["authorities"],
    "properties": {
        "authorities": AUTHORITIES,
        "maxAge": DURATION,
        "failOn": {"enum": ["low", "medium", "high", "critical"]},
        "allow": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "expires"],
                "properties": {
                    "id": {"type": "string"},
                    "expires": {"type": "string", "format": "date"},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}

# admission: a Kubernetes LabelSelector over the namespace's labels
NAMESPACE_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object"},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string", "minLength": 1},
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": STRINGS,
                },
            },
        },
    },
}

LAYOUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["layout", "keys", "links"],
    "properties": {
        "layout": {"type": "string", "minLength": 1},
        "keys": {**STRINGS, "minItems": 1},
        "links": {"type": "string", "minLength": 1},
        "step": {"type": "string", "minLength": 1},
    },
}

CHECKLIST_ITEMS = ("image-signed", "image-provenance", "image-sbom")
CHECKLIST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["authorities"],
    "properties": {
        "items": {"type": "array", "items": {"enum": list(CHECKLIST_ITEMS)}, "minItems": 1, "uniqueItems": True},
        "authorities": AUTHORITIES,
        "sourceRepository": {"type": "string", "minLength": 1},
        "branch": {"type": "string"},
        "builderId": {"type": "string"},
        "formats": {"type": "array", "items": {"enum": ["cyclonedx", "spdx"]}, "minItems": 1},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://assay.dev/schemas/policy/v1.json",
    "title": "assay Policy",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "assay.dev/v1"},
        "kind": {"const": "Policy"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {"name": {"type": "string", "minLength": 1}, "description": {"type": "string"}},
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["match", "require"],
            "properties": {
                "mode": {"enum": ["enforce", "warn", "audit", "allow-unmatched"]},
                "failurePolicy": {"enum": ["fail-closed", "fail-open"]},
                "match": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "images": STRINGS,
                        "blobs": STRINGS,
                        "exclude": STRINGS,
                        "tags": STRINGS,
                        "tagRegExp": {"type": "string"},
                        "namespaces": STRINGS,
                        "namespaceSelector": NAMESPACE_SELECTOR,
                    },
                    "anyOf": [{"required": ["images"]}, {"required": ["blobs"]}],
                },
                "trust": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "trustedRoot": {"type": "string"},
                        "server": {"type": "string"},
                        "publicGood": {"type": "boolean"},
                    },
                    "maxProperties": 1,
                },
                "require": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "oneOf": [
                            _rule("signature", SIGNATURE),
                            _rule("attestation", ATTESTATION),
                            _rule("provenance", PROVENANCE),
                            _rule("sbom", SBOM),
                            _rule("vulnerabilities", VULNERABILITIES),
                            _rule("layout", LAYOUT),
                            _rule("checklist", CHECKLIST),
                        ]
                    },
                },
            },
        },
    },
}
