"""Table definitions (the migrations create exactly these)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

log_meta = Table(
    "log_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("artifact_hash", String(71), nullable=True, index=True),
    Column("integrated_time", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
)

# ---- access: projects, grants, credentials, the audit chain (migration 0002_access) ----------

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("parent_id", Integer, nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("deleted", BigInteger, nullable=True),
    Column("visibility", String(16), nullable=False, server_default="members"),  # migration 0004_visibility
)

identities = Table(
    "identities",
    metadata,
    Column("issuer", String(512), primary_key=True),
    Column("subject", String(512), primary_key=True),
    Column("email", String(320), nullable=True),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("project_id", Integer, primary_key=True, autoincrement=False),
    Column("issuer", String(512), primary_key=True),
    Column("subject", String(512), primary_key=True),
    Column("role", String(32), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("secret_hash", LargeBinary(32), nullable=False),
    Column("project_id", Integer, nullable=False, index=True),
    Column("role", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("issuer", String(512), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=True),
    Column("revoked", BigInteger, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("secret_hash", LargeBinary(32), nullable=False),
    Column("issuer", String(512), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("email", String(320), nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("revoked", BigInteger, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("token_id", String(32), nullable=True),
    Column("project", String(63), nullable=True, index=True),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("result", String(128), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
)

audit_anchors = Table(
    "audit_anchors",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", LargeBinary(32), nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("log_uuid", String(64), nullable=False),
    Column("created", BigInteger, nullable=False),
)


# ---- evidence store and artifact repository (issue 17) -----------------------------------

evidence_blobs = Table(
    "evidence_blobs",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("body", LargeBinary, nullable=False),
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("predicate_type", String(512), nullable=True),
    Column("signer", String(1024), nullable=True),
    Column("issuer", String(1024), nullable=True),
    Column("claims", Text, nullable=True),
    Column("verified", Integer, nullable=False),
    Column("reason", String(128), nullable=True),
    Column("verified_time", BigInteger, nullable=False),
    Column("log_entry", String(128), nullable=True),
    Column("uploader", String(512), nullable=False),
    Column("size", BigInteger, nullable=False),
    UniqueConstraint("project", "digest", name="uq_evidence_project_digest"),
)
Index("ix_evidence_project_time", evidence.c.project, evidence.c.verified, evidence.c.verified_time)

evidence_subjects = Table(
    "evidence_subjects",
    metadata,
    Column("evidence_id", BigInteger, ForeignKey("evidence.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("project", String(128), nullable=False),
    Column("name", Text, nullable=False),
)
Index(
    "ix_evidence_subjects_lookup",
    evidence_subjects.c.project,
    evidence_subjects.c.digest,
    evidence_subjects.c.evidence_id,
)

evidence_trust = Table(
    "evidence_trust",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("trusted_root", Text, nullable=True),
    Column("keys", Text, nullable=False),
    Column("identities", Text, nullable=False),
    Column("repository_policy", Text, nullable=True),
    Column("unverified_retention_days", Integer, nullable=True),
    Column("updated", BigInteger, nullable=False),
)

log_search = Table(
    "log_search",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("leaf_hash", LargeBinary(32), primary_key=True),
    Column("idx", BigInteger, nullable=False),
)
Index("ix_log_search_idx", log_search.c.idx)

artifacts = Table(
    "artifacts",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("digest", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("vsa_digest", String(64), nullable=False),
    Column("result", Text, nullable=False),
    Column("publisher", String(512), nullable=False),
    Column("created", BigInteger, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("expires", BigInteger, nullable=False),  # milliseconds since the epoch
)

# ---- profiles: entities, profiles, evaluation history, alerts (migration 0006_profiles) --------

profile_entities = Table(
    "profile_entities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False),
    Column("kind", String(32), nullable=False),  # image | blob | evidence-subject
    Column("name", String(512), nullable=False),  # REGISTRY/REPO, an artifact name, or sha256:HEX
    Column("tags", Text, nullable=False),  # JSON list of tag globs (images)
    Column("tag_regexp", Text, nullable=True),
    Column("insecure", Integer, nullable=False),  # plain-HTTP loopback registry
    Column("created", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
    UniqueConstraint("project", "kind", "name", name="uq_profile_entities"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("document", Text, nullable=False),
    Column("alert", String(16), nullable=False),
    Column("interval", Integer, nullable=False),  # seconds
    Column("next_run", BigInteger, nullable=False),  # ms; 0 means now
    Column("updated", BigInteger, nullable=False),
    Column("updated_by", Text, nullable=False),
)

profile_versions = Table(
    "profile_versions",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("document", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
)

profile_state = Table(
    "profile_state",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("profile", String(128), primary_key=True),
    Column("entity_id", Integer, primary_key=True, autoincrement=False),
    Column("target", String(700), primary_key=True),  # REGISTRY/REPO:TAG, NAME@VERSION, or the digest
    Column("rule", String(256), primary_key=True),
    Column("profile_version", Integer, nullable=False),
    Column("digest", String(71), nullable=True),
    Column("status", String(16), nullable=False),
    Column("reason", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("since", BigInteger, nullable=False),
    Column("evaluated", BigInteger, nullable=False),
    Column("alerted", String(16), nullable=True),  # the last status an alert was queued for
)
Index("ix_profile_state_digest", profile_state.c.project, profile_state.c.digest)

profile_history = Table(
    "profile_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False),
    Column("profile", String(128), nullable=False),
    Column("profile_version", Integer, nullable=False),
    Column("entity_id", Integer, nullable=False),
    Column("entity", String(512), nullable=False),
    Column("target", String(700), nullable=False),
    Column("digest", String(71), nullable=True),
    Column("rule", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("checks", Text, nullable=False),  # JSON list of {what, expected, found}
    Column("created", BigInteger, nullable=False),  # ms
)
Index("ix_profile_history_project", profile_history.c.project, profile_history.c.id)
Index("ix_profile_history_entity", profile_history.c.project, profile_history.c.entity_id, profile_history.c.id)

alert_sinks = Table(
    "alert_sinks",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),  # webhook | slack
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=True),  # HMAC-SHA256 key of a webhook
    Column("created", BigInteger, nullable=False),
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False),
    Column("sink", String(128), nullable=False),
    Column("profile", String(128), nullable=False),
    Column("rule", String(256), nullable=False),
    Column("entity", String(512), nullable=False),
    Column("target", String(700), nullable=False),
    Column("status", String(16), nullable=False),  # the transition: failure | success
    Column("body", Text, nullable=False),  # the JSON payload as sent
    Column("state", String(16), nullable=False),  # pending | sent | dead | dry-run
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),  # ms
    Column("last_error", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
)
Index("ix_alert_outbox_due", alert_outbox.c.state, alert_outbox.c.next_attempt)

# ---- key broker (issue 26) ---------------------------------------------------------------

broker_keys = Table(
    "broker_keys",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("algorithm", String(32), nullable=False),  # the age stanza type: X25519, or piv-p256 (HSM/KMS P-256)
    Column("public_key", Text, nullable=False),  # age1… (X25519) or age1yubikey1… (P-256) recipient
    Column("private_ref", Text, nullable=False),  # where the server keeps the private part (never served)
    Column("created", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
)

broker_policies = Table(
    "broker_policies",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("key_name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),  # the decryption policy JSON as written
    Column("digest", String(71), nullable=False),  # sha256:… of the document
    Column("written_by", Text, nullable=False),  # the policy_writer identity
    Column("signer", Text, nullable=False),  # who signed the document (key:ID or the keyless identity)
    Column("envelope", Text, nullable=False),  # the signed Sigstore bundle (DSSE) as uploaded
    Column("log_index", BigInteger, nullable=False),  # transparency-log entry recording the version
    Column("created", BigInteger, nullable=False),
)

broker_nonces = Table(
    "broker_nonces",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("key_name", String(128), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("expires", BigInteger, nullable=False),
)

broker_releases = Table(
    "broker_releases",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False),
    Column("key_name", String(128), nullable=False),
    Column("decision", String(16), nullable=False),  # granted | refused
    Column("statement", Text, nullable=False),  # the canonical JSON appended to the log
    Column("log_index", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
)
Index("ix_broker_releases_key", broker_releases.c.project, broker_releases.c.key_name, broker_releases.c.id)

# ---- TUF repositories, one per project (issue 25, migration 0009_tuf) ----------------------

tuf_metadata = Table(
    "tuf_metadata",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("role", String(160), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),  # the signed metadata exactly as served
    Column("expires", BigInteger, nullable=False),  # seconds since the epoch
    Column("created", BigInteger, nullable=False),  # ms
)

tuf_pending = Table(
    "tuf_pending",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("role", String(160), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),  # a checked version still short of its threshold
    Column("created", BigInteger, nullable=False),
)

tuf_delegations = Table(
    "tuf_delegations",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("role", String(160), primary_key=True),
    Column("delegator", String(160), nullable=False),  # the role whose current version delegates ``role``
)

tuf_blobs = Table(
    "tuf_blobs",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("length", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created", BigInteger, nullable=False),
)

# ---- registry token service: per-project push rule (migration 0010_registry) -------------------------------

registry_push_policies = Table(
    "registry_push_policies",
    metadata,
    Column("project", String(128), primary_key=True),
    Column("document", Text, nullable=False),  # {"push": "any"|"ci-only", "rules": [...]} as parsed
    Column("updated", BigInteger, nullable=False),
    Column("updated_by", Text, nullable=False),
)
