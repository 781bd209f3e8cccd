"""Vulnerability matching: an OSV index on disk, per-ecosystem version ordering, scans of SBOMs,
directories and images, VEX suppression, and reports (table, JSON, SARIF 2.1.0, in-toto vulns v0.2).

``versions`` orders versions per ecosystem; ``osv`` parses records and decides
whether a version is affected (pure); ``db`` stores and looks records up;
``scan`` matches components; ``report`` renders findings.
"""
