"""The policy engine: which authorities must have signed an artifact and which attestations it must carry.

``schema`` is the published JSON Schema; ``loader`` reads YAML/JSON with line
numbers and refuses a bad policy (unknown keys, bad regexps, CEL that does not
compile or names unknown variables, unreadable keys or trust roots) before
anything is evaluated; ``model`` holds the compiled policy; ``materials``
gathers bundles for blobs and images; ``evaluate`` decides each rule (pure
over pre-fetched materials); ``report``, ``templates`` and ``testing`` are
the CLI's outputs, ``policy init`` and ``policy test``.
"""
