"""THE verification pipeline: ordered, named steps; pure; every failure has a reason code.

Owns: deciding whether a parsed bundle proves an artifact was signed by the
expected key or identity. The order of steps is documented in one place,
:mod:`assay.verify.pipeline`. May import: ``formats``, ``crypto``, ``errors``.
Invariants: no file or network I/O; every rejection is a
:class:`assay.errors.VerificationError` naming its step and reason.
"""
