"""One admission decision: every container image of a request against the policies of its namespace.

Per image: parse the reference → the namespace's policies whose globs match
(none: deny, unless a policy says ``allow-unmatched``) → on ``/validate``, a
tag-only image under a blocking policy is refused (``image-not-pinned``) →
tag → digest (cached on /mutate, asked afresh on /validate; coalesced) → one verdict per policy, cached by
(digest of the policy and all its trust material, image digest) and coalesced → combined by mode (enforce
denies, warn warns, audit annotates). ``/mutate`` pins every verified tag to
the digest that was verified. The whole request shares one deadline.
Registry back-off is per repository; ``fail-open`` admits an image only for its
own failure, never for a back-off caused by another image (``registry-backoff``) nor for a deadline spent
waiting for registry slots other verifications held (``registry-busy``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from assay.admission import check
from assay.admission.cache import Cache, MemoryCache
from assay.admission.check import Verdict
from assay.admission.kube import NamespaceLabels
from assay.admission.metrics import Metrics
from assay.admission.policyset import PolicySet, image_target, matching
from assay.errors import InputError
from assay.formats import admission as fmt
from assay.oci import reference as refs
from assay.oci.target import RegistryAuth
from assay.policy.model import Policy

log = logging.getLogger("assay.admission")
BLOCKING = ("enforce", "allow-unmatched")
BACKOFF_REASONS = ("registry-unreachable", "registry-error")
NOT_ATTEMPTED = "registry-backoff"  # not tried (its repository is backed off): never admitted by fail-open
NOT_STARTED = "registry-busy"  # timed out waiting for a registry slot other verifications held: never fail-open
OTHERS_FAILURES = (NOT_ATTEMPTED, NOT_STARTED)
MAX_BACKOFF_ENTRIES = 10_000
MAX_BACKOFF_ITEMS = 1_000


@dataclass
class Backoff:
    """A repository's back-off: until when, the current delay, and the items whose own calls failed."""

    until: float = 0.0
    delay: float = 0.0
    failed: dict[str, Verdict] = field(default_factory=dict)


@dataclass
class Settings:
    """Knobs of the decision (flags of ``assay admission serve``)."""

    timeout: float = 8.0
    cache_ttl: float = 300.0
    negative_ttl: float = 10.0
    tag_ttl: float = 30.0
    registry_concurrency: int = 8
    require_digests: bool = True
    auth: RegistryAuth = field(default_factory=RegistryAuth)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class ContainerResult:
    """What was decided for one container."""

    slot: str  # containers | initContainers | ephemeralContainers
    index: int
    container: str
    image: str
    status: str  # allowed | denied | warned | skipped
    digest: str = ""
    pinned: str = ""
    lines: list[str] = field(default_factory=list)  # denial / warning lines
    audit: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as JSON (``admission test -o json``)."""
        out: dict[str, Any] = {
            "container": self.container, "field": self.slot, "image": self.image, "status": self.status,
        }  # fmt: skip
        if self.digest:
            out["digest"] = self.digest
        if self.pinned:
            out["pinned"] = self.pinned
        if self.reasons:
            out["reasons"] = self.reasons
        if self.lines:
            out["messages"] = self.lines
        return out


@dataclass
class Outcome:
    response: fmt.Response
    containers: list[ContainerResult]


def pinned_image(image: str, digest: str) -> str:
    """``repo:tag`` → ``repo@digest`` (the image as written, without its tag)."""
    slash = image.rfind("/")
    colon = image.rfind(":")
    base = image[:colon] if colon > slash else image
    return f"{base}@{digest}"


def _duplicates(found: list[fmt.ContainerImage]) -> set[tuple[str, str]]:
    """(list, name) pairs that occur more than once (an invalid object; such containers are never "unchanged")."""
    seen: set[tuple[str, str]] = set()
    dupes: set[tuple[str, str]] = set()
    for c in found:
        key = (c.field, c.name)
        (dupes if key in seen else seen).add(key)
    return dupes


def _previous(req: fmt.Request) -> dict[tuple[str, str], str]:
    """On UPDATE, the image each uniquely named container of each list had in ``oldObject`` (an unnamed, duplicated
    or unreadable old container counts as absent: its image is then verified again)."""
    if req.old is None:
        return {}
    try:
        before = [c for c in fmt.images(req.kind, req.old) or [] if c.named]
    except InputError:
        return {}
    dupes = _duplicates(before)
    return {(c.field, c.name): c.image for c in before if (c.field, c.name) not in dupes}


def _annotation_key(field_name: str, index: int, policy: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{field_name}.{index}.{policy}")[:63].strip("-._") or "image"


class Engine:
    """Decisions over a policy set, with the cache, coalescing, per-registry limits and back-off."""

    def __init__(
        self,
        policies: PolicySet | None,
        settings: Settings | None = None,
        cache: Cache | None = None,
        metrics: Metrics | None = None,
        labels_lookup: NamespaceLabels | None = None,
    ) -> None:
        self.policies = policies
        self.settings = settings or Settings()
        self.cache: Cache = cache or MemoryCache()
        self.metrics = metrics or Metrics()
        self.labels_lookup = labels_lookup
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._started: set[str] = set()  # shared keys whose registry call holds a slot now
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._backoff: dict[str, Backoff] = {}  # registry/repository -> its back-off
        # registry calls block a thread each: a slow registry must not starve the others (the default
        # executor has only cores + 4 threads)
        self._threads = ThreadPoolExecutor(max_workers=64, thread_name_prefix="assay-registry")

    # ---- entry points ----------------------------------------------------------------

    async def review(self, body: bytes, mutate: bool) -> Outcome:
        """Decode and decide one AdmissionReview body; InputError (with a reason code) for a bad body."""
        from assay.formats.safejson import load_object

        req = fmt.parse_review(load_object(body, what="AdmissionReview"))
        try:
            return await self.decide(req, mutate)
        except Exception as exc:  # a bug must deny (fail closed), never answer 500
            log.exception("decision for %s failed", req.uid)
            return Outcome(self._deny(fmt.Response(req.uid, True), "internal-error", f"assay: {exc!r}", 500), [])

    async def decide(self, req: fmt.Request, mutate: bool) -> Outcome:
        """The decision for one request (the response is already an AdmissionResponse)."""
        resp = fmt.Response(req.uid, True)
        if req.operation not in ("CREATE", "UPDATE") or req.obj is None:
            return Outcome(resp, [])
        try:
            found = fmt.images(req.kind, req.obj)
        except InputError as exc:
            return Outcome(self._deny(resp, exc.reason, f"{req.kind} {req.name}: {exc.message}"), [])
        if found is None:
            log.warning("kind %s/%s (%s) is not handled; allowed", req.group, req.kind, req.uid)
            resp.warnings.append(f"assay: kind {req.kind} has no pod spec to check; allowed without verification")
            resp.audit["unhandled-kind"] = req.kind
            return Outcome(resp, [])
        policies = self.policies
        if policies is None:
            return Outcome(self._deny(resp, "policies-not-loaded", "no policy set is loaded; refusing", 503), [])
        if policies.is_excluded(req.namespace):
            resp.audit["excluded-namespace"] = req.namespace
            return Outcome(resp, [])
        old = _previous(req) if req.operation == "UPDATE" else {}
        dupes = _duplicates(found)
        labels = await self._labels(req.namespace)
        ns_policies = policies.for_namespace(req.namespace, labels)
        deadline = time.monotonic() + self.settings.timeout
        results = await asyncio.gather(
            *(
                self._container(
                    c,
                    ns_policies,
                    req,
                    mutate,
                    deadline,
                    old.get((c.field, c.name)) if c.named and (c.field, c.name) not in dupes else None,
                )
                for c in found
            )
        )
        for c, r in zip(found, results, strict=True):
            if r.status == "denied":
                resp.allowed = False
            if r.status == "warned":
                resp.warnings.extend(r.lines)
            for i, a in enumerate(r.audit):
                resp.audit[_annotation_key(c.field, c.index, str(i))] = a
            if mutate and r.pinned:
                resp.patch.append(fmt.replace_op(c.pointer, r.pinned))
        if not resp.allowed:
            denied = [r for r in results if r.status == "denied"]
            resp.code, resp.reason = 403, denied[0].reasons[0]
            resp.message = "\n".join(line for r in denied for line in r.lines)
            resp.patch = []
        if not mutate:
            resp.patch = []
        return Outcome(resp, list(results))

    @staticmethod
    def _deny(resp: fmt.Response, reason: str, message: str, code: int = 403) -> fmt.Response:
        resp.allowed, resp.code, resp.reason, resp.message = False, code, reason, message
        return resp

    async def _labels(self, namespace: str) -> dict[str, str]:
        labels = self.settings.namespace_labels.get(namespace)
        if labels is None and self.labels_lookup is not None:
            fresh, labels = self.labels_lookup.peek(namespace)
            if not fresh:
                labels = await asyncio.get_running_loop().run_in_executor(self._threads, self.labels_lookup, namespace)
        return labels or {}

    # ---- one container ---------------------------------------------------------------

    async def _container(
        self,
        c: fmt.ContainerImage,
        policies: list[Policy],
        req: fmt.Request,
        mutate: bool,
        deadline: float,
        previous: str | None,
    ) -> ContainerResult:
        res = ContainerResult(c.field, c.index, c.name, c.image, "allowed")
        head = f"container {c.name!r} ({c.field}[{c.index}]) image {c.image!r}"
        if previous is not None and previous == c.image:
            res.status = "skipped"  # UPDATE: unchanged images are not verified again
            return res
        try:
            ref = refs.parse(c.image)
        except InputError as exc:
            return self._denied(res, f"{head}: {exc.reason}: {exc.message}", exc.reason)
        mine = matching(policies, image_target(c.image, ref.name, ref.tag))
        if not mine:
            if any(p.mode == "allow-unmatched" for p in policies):
                res.status = "warned"
                res.lines.append(f"{head}: no policy matches; allowed by an allow-unmatched policy")
                return res
            return self._denied(
                res, f"{head}: no-policy-matched: no policy of namespace {req.namespace!r} matches this image",
                "no-policy-matched",
            )  # fmt: skip
        blocking = [p for p in mine if p.mode in BLOCKING]
        if not mutate and self.settings.require_digests and ref.digest is None and blocking:
            return self._denied(
                res,
                f"{head}: policy {blocking[0].name!r}: image-not-pinned: only digests are admitted "
                "(the mutating webhook pins verified tags; or write image@sha256:…)",
                "image-not-pinned",
            )
        remaining = max(0.0, deadline - time.monotonic())
        pending: set[str] = set()  # registry work this image waits for now
        try:
            digest, verdicts = await asyncio.wait_for(
                self._evaluate(ref, c.image, mine, req.dry_run, mutate, pending), remaining
            )
        except TimeoutError:
            reason, msg = "verification-timeout", f"not decided within {self.settings.timeout:g}s"
            if any(k in self._inflight and k not in self._started for k in pending):
                reason = NOT_STARTED  # its own registry call never began: others held every slot
                msg += f" (waiting for one of {ref.registry}'s {self.settings.registry_concurrency} registry slots)"
            digest, verdicts = "", [(p, Verdict(False, "", reason, msg, environment=True)) for p in mine]
        res.digest = digest
        verified = True
        for p, v in verdicts:
            where = f"{head}: policy {p.name!r}" + (f" rule {v.rule!r}" if v.rule and not v.passed else "")
            if v.passed:
                continue
            verified = False
            line = f"{where}: {v.reason}: {v.message}"
            if v.environment and p.failure_policy == "fail-open" and v.reason not in OTHERS_FAILURES:
                res.lines.append(line + " (failurePolicy fail-open: allowed)")
                res.status = "warned" if res.status != "denied" else res.status
            elif p.mode in BLOCKING:
                res.status = "denied"
                res.lines.insert(0, line)
                res.reasons.insert(0, v.reason)
                continue
            elif p.mode == "warn":
                res.lines.append(line)
                res.status = "warned" if res.status != "denied" else res.status
            else:
                res.audit.append(line)
            res.reasons.append(v.reason)
        if res.status == "denied":
            res.reasons = [r for r in res.reasons if r] or ["policy-failed"]
        elif verified and ref.digest is None and digest:
            res.pinned = pinned_image(c.image, digest)
        return res

    @staticmethod
    def _denied(res: ContainerResult, line: str, reason: str) -> ContainerResult:
        res.status = "denied"
        res.lines.append(line)
        res.reasons.append(reason)
        return res

    async def _evaluate(
        self, ref: refs.Reference, image: str, policies: list[Policy], dry_run: bool, mutate: bool, pending: set[str]
    ) -> tuple[str, list[tuple[Policy, Verdict]]]:
        if ref.digest is not None:
            digest = ref.digest
        else:
            assert ref.tag is not None
            # /validate admits the tag itself (--allow-tags): it must name the verified digest now, not up to
            # --tag-ttl ago; /mutate may reuse a recent resolution because it pins the digest it verified
            got = await self._resolve(ref.registry, ref.name, ref.tag, dry_run, not mutate, pending)
            if isinstance(got, Verdict):
                return "", [(p, got) for p in policies]
            digest = got
        verdicts = await asyncio.gather(
            *(self._verdict(p, image, ref.registry, ref.name, ref.tag, digest, dry_run, pending) for p in policies)
        )
        return digest, list(zip(policies, verdicts, strict=True))

    # ---- cached, coalesced, limited registry work -------------------------------------

    async def _shared(self, key: str, make: Callable[[], Any], pending: set[str]) -> Any:
        """Run ``make()`` once for concurrent callers with the same key (the task outlives a timed-out caller);
        ``key`` is in ``pending`` while this caller waits for it, and stays there if the wait is cancelled."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        else:
            self.metrics.coalesced.inc()
        pending.add(key)  # left there when the caller is cancelled (its deadline): the caller then looks at it
        out = await asyncio.shield(task)
        pending.discard(key)
        return out

    async def _registry_call(
        self, registry: str, repository: str, item: str, op: str, fn: Callable[[], Any], work: str
    ) -> Any:
        """Call ``fn`` in a thread under the registry's concurrency limit, honouring the repository's back-off.

        Back-off is per repository (``registry/repository``, normalised): one failing repository never
        stops the others on its host. While a repository is backed off, an item (tag or digest) whose own
        call failed gets that failure again (``failurePolicy: fail-open`` may admit it: it is its own
        failure); any other item is not tried and answers ``registry-backoff``, which fail-open never
        admits — nothing is admitted because of someone else's failure. ``work`` (the shared key of the
        caller) is in ``_started`` while the call holds a slot: a caller that times out before that was
        never tried (``registry-busy``), which fail-open does not admit either."""
        entry = self._backoff.get(repository)
        now = time.monotonic()
        if entry is not None and entry.until > now:
            self.metrics.registry_ops.labels(registry, op, "backoff").inc()
            wait = f"{repository} failed recently; backing off for {entry.until - now:.1f}s"
            own = entry.failed.get(f"{op}:{item}")
            if own is not None:
                return Verdict(False, "", own.reason, f"{own.message} ({wait})", environment=True)
            return Verdict(False, "", NOT_ATTEMPTED, f"not tried: {wait}", environment=True)
        sem = self._limits.setdefault(registry, asyncio.Semaphore(self.settings.registry_concurrency))
        async with sem:
            self._started.add(work)
            try:
                out = await asyncio.get_running_loop().run_in_executor(self._threads, fn)
            finally:
                self._started.discard(work)
        failed = isinstance(out, Verdict) and out.environment
        self.metrics.registry_ops.labels(registry, op, "error" if failed else "ok").inc()
        if failed and out.reason in BACKOFF_REASONS:
            self._back_off(repository, f"{op}:{item}", out)
        elif not failed:
            self._backoff.pop(repository, None)
        return out

    def _back_off(self, repository: str, item: str, failure: Verdict) -> None:
        now = time.monotonic()
        if len(self._backoff) >= MAX_BACKOFF_ENTRIES:  # expired entries go first, then the oldest
            for k in [k for k, e in self._backoff.items() if e.until <= now] or list(self._backoff)[:1]:
                self._backoff.pop(k, None)
        entry = self._backoff.get(repository)
        if entry is None:
            entry = self._backoff[repository] = Backoff()
        elif entry.until <= now:
            entry.failed.clear()  # a new window: only failures inside it stand for their items
        entry.delay = min(max(entry.delay * 2, 1.0), 30.0)
        entry.until = now + entry.delay
        if len(entry.failed) < MAX_BACKOFF_ITEMS:
            entry.failed[item] = failure

    async def _resolve(
        self, registry: str, name: str, tag: str, dry_run: bool, fresh: bool, pending: set[str]
    ) -> str | Verdict:
        """The digest ``name:tag`` names: from the tag cache (``--tag-ttl``) unless ``fresh``, which always asks
        the registry (and refreshes the cache)."""
        key = f"t:{name}:{tag}"
        shared = f"{key}:{dry_run}:{fresh}"
        if not fresh:
            hit = await self.cache.get(key)
            self.metrics.cache.labels("tag", "hit" if hit else "miss").inc()
            if isinstance(hit, str):
                return hit

        def work() -> str | Verdict:
            from assay.errors import AssayError, EnvironmentFailure

            try:
                return check.resolve(name, tag, self.settings.auth)
            except EnvironmentFailure as exc:
                return Verdict(False, "", exc.reason, exc.message, environment=True)
            except AssayError as exc:
                return Verdict(False, "", exc.reason, exc.message)

        async def make() -> str | Verdict:
            out: str | Verdict = await self._registry_call(registry, name, f"tag:{tag}", "resolve", work, shared)
            if isinstance(out, str) and not dry_run:
                await self.cache.set(key, out, self.settings.tag_ttl)
            return out

        return await self._shared(shared, make, pending)  # type: ignore[no-any-return]

    async def _verdict(
        self,
        policy: Policy,
        image: str,
        registry: str,
        name: str,
        tag: str | None,
        digest: str,
        dry_run: bool,
        pending: set[str],
    ) -> Verdict:
        key = f"v:{policy.material_digest}:{digest}"  # the policy and all its trust material
        shared = f"{key}:{dry_run}"
        hit = await self.cache.get(key)
        self.metrics.cache.labels("verdict", "hit" if hit else "miss").inc()
        if isinstance(hit, dict):
            return Verdict.from_json(hit)
        s = self.settings

        async def make() -> Verdict:
            out = await self._registry_call(
                registry, name, digest, "verify",
                lambda: check.verify(policy, image, name, tag, digest, s.auth, s.cache_ttl), shared,
            )  # fmt: skip
            if not dry_run and not out.environment:
                ttl = out.ttl if out.passed else min(out.ttl or s.negative_ttl, s.negative_ttl)
                await self.cache.set(key, out.to_json(), ttl)
            return out  # type: ignore[no-any-return]

        return await self._shared(shared, make, pending)  # type: ignore[no-any-return]
