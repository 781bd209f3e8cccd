"""The artifact-security checklist: Dockerfile pins, lockfiles, release files, registry and admission checks.

Owns: pure checks over data handed in (file texts, names), each returning rows with evidence.
May import: formats, errors. Never opens files or sockets; gathering lives in service/.
"""
