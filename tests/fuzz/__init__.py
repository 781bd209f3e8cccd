"""Fuzzing: structure-aware mutators, the parser targets, a seeded hypothesis pass and crash regressions."""
