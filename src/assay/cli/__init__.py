"""Typer commands: parse flags, call one service function, render text or JSON.

Owns: the command-line surface, exit codes and error rendering.
May import: every service package; nothing imports ``cli``.
Invariants: no verification or signing logic lives here; a user error prints
one ``error[reason]: ...`` line (a traceback only with ``-v``) and exits with
the code its :class:`assay.errors.AssayError` carries.
"""
