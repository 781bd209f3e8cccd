"""The policy engine: which authorities must have signed an artifact and which attestations it must carry.

Owns: ``schema`` (the published JSON Schema) and ``validate``; ``loader``, which
checks a policy document's bytes (unknown keys, bad regexps, CEL that does not
compile or names unknown variables) and compiles it with the keys it names;
``model`` (the compiled policy); ``materials`` (targets and the bundles about
them, as handed in); ``evaluate`` (each rule decided over the materials; ``result`` holds a rule's
outcome, so rule modules such as ``layout_rule`` need not import the evaluator);
``report``, ``templates`` and ``testing`` (outputs, ``policy init``, and
``policy test``'s case checks and comparisons).
May import: ``verify`` (each material is verified through the pipeline),
``attest`` (provenance checks), ``vuln`` (severity ranks), and ``formats``,
``crypto``, ``errors``. Never ``service``, ``clients``, ``oci`` or anything
above: reading policy files, keys, trust roots, bundles and images is
:mod:`assay.service.policy`'s job.
Invariants: pure and deterministic — no file, network or registry access; a
bad policy is refused (exit 2, file and line) before anything is evaluated.
"""
