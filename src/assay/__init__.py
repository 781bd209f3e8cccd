"""assay: a self-hostable software supply-chain security platform.

Packages below this one follow the layering in DESIGN.md: ``cli`` and ``server``
at the top, services (``sign``, ``verify``, ``checksums``, ``pgp``) in the middle,
``formats``, ``crypto`` and ``errors`` at the bottom. Imports only point down.
"""

__version__ = "0.1.0"
