"""Software bills of materials: cataloguing packages in directories, OCI layouts and images, and
writing CycloneDX 1.6 and SPDX 2.3 JSON.

``source`` turns a target into a read-only file tree (image layers applied in
order with whiteouts); ``catalog/`` holds one module per ecosystem, each a pure
function from that tree to components; ``cyclonedx``/``spdx`` serialise.
"""
