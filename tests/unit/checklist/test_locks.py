from assay.checklist.locks import check_manifests, check_requirements, check_run


def test_manifests() -> None:
    f = check_manifests(["a/package.json", "a/package-lock.json", "go.mod", "Cargo.toml", "Cargo.lock"])
    assert [(x.reason, x.path) for x in f] == [("lockfile-missing", "go.mod")]


def test_requirements() -> None:
    h = "--hash=sha256:" + "b" * 64
    assert check_requirements("r.txt", f"x==1 {h}\n") == []
    assert check_requirements("r.txt", "x==1\n")[0].reason == "requirements-unhashed"


def test_run_lines() -> None:
    reasons = {
        x.reason
        for x in check_run("D", 1, "apt-get install -y curl && apk add git=2.4 && npm install && pip install x")
    }
    assert reasons == {"apt-unpinned", "npm-install-not-ci", "pip-install-unhashed"}
    assert check_run("D", 1, "npm ci && apt-get install -y curl=7.1 && pip install --require-hashes -r r.txt") == []
