"""TUF trust distribution: one TUF repository per project, served at ``/tuf/{project}/``, on python-tuf.

Owns: the pure upload checks (:mod:`assay.tuf.validate`: "is this new role version acceptable given the
current trusted metadata", no I/O, like python-tuf's ``TrustedMetadataSet``), the stored repository
(:mod:`assay.tuf.repository`: published and pending role versions, target bytes, online snapshot and
timestamp signing), server-owned targets (:mod:`assay.tuf.owned`) and the offline tooling the CLI runs on an
administrator's or developer's machine (:mod:`assay.tuf.offline`), and the client (:mod:`assay.tuf.client`:
python-tuf's ``ngclient`` with an offline mode and one reason code per refusal).
May import: ``store``, ``crypto``, ``formats``, ``clients``, ``errors`` and python-tuf / securesystemslib.
Invariants: metadata is built and parsed only through ``tuf.api.metadata`` (never hand-written JSON); a role
version is published only when every check passed, in one transaction with the snapshot and timestamp that
name it; a refused upload changes nothing.
"""
