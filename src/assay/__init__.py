"""assay: a self-hostable software supply-chain security platform.

Packages below this one follow the layering in DESIGN.md: ``cli``, ``server`` and
``web`` at the top, the I/O-edge use cases (``service``, ...) under them, the pure
core and clients (``sign``, ``verify``, ``policy``, ``oci``, ``log``, ...) in the
middle, ``formats``, ``crypto`` and ``errors`` at the bottom. Imports only point
down; ``tests/unit/test_layering.py`` holds the bands and the few allowed peer
imports, and fails on any other.
"""

__version__ = "0.1.0"
