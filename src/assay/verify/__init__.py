"""THE verification pipeline: ordered, named steps; pure; every failure has a reason code.

Owns: deciding whether a parsed bundle proves an artifact was signed by the
expected key or identity; the default CI identity of a source repository;
whether a bundle needs a trusted root. The order of steps is documented in
one place, :mod:`assay.verify.pipeline`. May import: ``formats``, ``crypto``,
``errors`` — no peer in its band (``policy`` imports ``verify``, never the
reverse).
Invariants: no file or network I/O; every rejection is a
:class:`assay.errors.VerificationError` naming its step and reason.
"""
