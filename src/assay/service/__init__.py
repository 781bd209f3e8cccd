"""Use cases at the I/O edge: read files and keys, call the pure core, write results.

Owns: the glue between command-line or HTTP inputs (paths, ``-``, ``sha256:``
digests, key files, signer URIs, passwords, policy files, trust roots,
registries) and the pure packages (``sign``, ``verify``, ``policy``,
``formats``): it gathers the materials, the core decides. One function per
user-visible operation.
May import: every package below ``cli``/``server``/``web``; never those.
Invariants: secrets are read only from the environment or files named by the
user; files are written atomically and private keys with mode 0600.
"""
