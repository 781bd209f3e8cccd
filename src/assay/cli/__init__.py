"""Typer commands: parse flags, call one service function, render text or JSON.

Owns: the command-line surface, exit codes and error rendering.
Layout: ``app.py`` holds the root application; ``options.py`` the option types and helpers every group shares;
one module per command group (``blob``, ``checksums``, ``server``, ``image``, ``supply``, ``policy``,
``conformance``, ...), each at most ~400 lines; ``main.py`` imports the groups in help order and maps errors
to exit codes.
May import: every service package; nothing imports ``cli``.
Invariants: no verification or signing logic lives here; a user error prints
one ``error[reason]: ...`` line (a traceback only with ``-v``) and exits with
the code its :class:`assay.errors.AssayError` carries.
"""
