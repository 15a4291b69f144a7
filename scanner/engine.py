"""Run every enabled rule over the Stack, isolate failures, filter, sort.

Findings are only ever removed (or re-labelled) here, in ``filter_findings``: rules report what is
true of the stack; policy, suppressions and baselines decide what is shown.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .config import Policy
from .lazyre import LazyRe
from .model import CoreRule, Finding, Location, Rule, Severity
from .parsers.base import Document, LineIndex
from .registry import audit_rules, load_rules
from .secrets import Redactor, is_secret_key, net_worthy, url_password
from .stack import Stack, build_stack


@dataclass
class Result:
    stack: Stack
    rules: dict[str, Rule]
    findings: list[Finding]  # shown (not suppressed, not baselined)
    suppressed: list[Finding] = field(default_factory=list)
    baselined: list[Finding] = field(default_factory=list)
    redact: Redactor = field(default_factory=Redactor)
    notes: list[str] = field(default_factory=list)  # Stack.note texts, redacted, sorted, each once
    # ``audit --shard K/N``: (K, N, digest of the whole audit's deployment list), written into the
    # shard's report for ``dkscan merge`` to refuse a duplicate, a missing shard or another audit's
    shard: tuple | None = None

    def severity(self, f: Finding) -> Severity:
        return f.severity if f.severity is not None else self.rules[f.rule].severity

    def failing(self, threshold: Severity) -> list[Finding]:
        return [f for f in self.findings if self.severity(f) >= threshold]

    def failing_count(self, threshold: Severity) -> int:
        """``len(self.failing(threshold))``, from the counts when the findings are spilled
        (``findingstore.FindingRuns.tally``) instead of reading them all."""
        tally = getattr(self.findings, "tally", None)
        if tally is None:
            return len(self.failing(threshold))
        return sum(n for (rule, sev), n in tally.items()
                   if (sev if sev is not None else self.rules[rule].severity) >= threshold)


def collect_secrets(stack: Stack) -> Redactor:
    """The stack's redactor: masks every file's secret spans (``scanner.spans``) and, as a safety
    net in free text, every decoded secret value that cannot garble the report (``net_worthy`` and
    written nowhere in the stack outside a secret span: a password equal to a service, image or
    user name is masked at its own spans only)."""
    red = Redactor(stack=stack)
    candidates: set[str] = set()
    for doc in stack.dotenvs:
        for e in doc.entries:
            if is_secret_key(e.key):
                candidates.add(e.value)
            pw = url_password(e.value)
            if pw:
                candidates.add(pw)
    for svc in stack.services:
        for var in svc.environment:
            if var.value and is_secret_key(var.key):
                candidates.add(var.value)
            if var.value:
                pw = url_password(var.value)
                if pw:
                    candidates.add(pw)
    for doc in stack.compose_docs:
        for node, ref in doc.refs:
            if is_secret_key(ref.name):
                candidates.add(ref.default if ref.has_default else None)
                candidates.add(node.text if node.text != node.raw else None)
    # host shell scripts: secret-class variables given literals, password flags, URL passwords
    scripts = stack.docs("script")
    if scripts:  # the shell parser is imported only for a stack that has a script
        from .parsers.shell import ScriptDocument, secret_literals
    for doc in scripts:
        if isinstance(doc, ScriptDocument):
            try:
                candidates.update(secret_literals(doc, is_secret_key))
            except (ValueError, TypeError, AttributeError, RecursionError):  # a tree the walker did not expect
                pass
    # command-line flags, ${VAR:-default} defaults, nats.conf, prometheus.yml, SQL PASSWORD literals,
    # Dockerfile ENV/ARG, redis.conf, nginx auth headers, provider tokens in any file
    try:
        from .secretcheck import secret_strings

        candidates.update(secret_strings(stack))
    except Exception:  # noqa: BLE001 - redaction must never stop the scan (secret_strings is guarded too)
        pass
    files = [(sf.doc.text, sf.doc.secret_spans) for sf in stack.files.values() if sf.doc is not None]
    docs = _rule_words()
    files.append((docs, ()))  # a word of dkscan's own rule documentation is public too
    red.update(v for v in candidates if isinstance(v, str) and net_worthy(v) and not _public(v, files))
    return red


_RULE_WORDS: list[str] = []


def _rule_words() -> str:
    if not _RULE_WORDS:
        _RULE_WORDS.append("\n".join(f"{r.title}\n{r.doc}" for r in load_rules().values()))
    return _RULE_WORDS[0]


_WORD_RUN = LazyRe(r"[A-Za-z0-9_]+")
_WORD_CHAR = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_").__contains__
_RULE_WORD_SET: list = [0, None]  # [values asked, the set of the rule documentation's words once built]
_RULE_WORD_SET_AFTER = 64  # values: the set (~10 ms to build) pays only in a process that asks many


def _not_a_rule_word(value: str) -> bool:
    """``value`` is surely not written in the rule documentation as a whole token (``_public``): a
    run of word characters of it is no word of that text. A whole-token occurrence of ``value`` puts
    each of its runs of word characters between non-word characters (its own, or the token
    pattern's look-arounds), so each would be a word there. Checked by substring search (~0.2 ms in
    that text) until a process has asked for many values; then by the set of its words."""
    state = _RULE_WORD_SET
    if state[1] is None:
        state[0] += 1
        if state[0] <= _RULE_WORD_SET_AFTER:
            return False
        state[1] = frozenset(_WORD_RUN.findall(_RULE_WORDS[0]))
    words = state[1]
    return any(run not in words for run in _WORD_RUN.findall(value))


def _public(value: str, files: list) -> bool:
    """``value`` is written somewhere in the stack outside every secret span (a service, image,
    path or user name): masking it as a string would garble that name. Written as a whole token
    (``scanner.secrets._token_pattern``: not inside a longer word), found as ``finditer`` of that
    pattern finds it -- leftmost, each search on from the end of the last match -- by substring
    search (no pattern compiled per value: a deployment brings new values)."""
    n = len(value)
    if not n:
        return False
    head, tail = _WORD_CHAR(value[0]), _WORD_CHAR(value[-1])
    docs = _RULE_WORDS[0] if _RULE_WORDS else None
    for text, spans in files:
        if text is docs and _not_a_rule_word(value):
            continue
        i = text.find(value)
        while i >= 0:
            b = i + n
            if (head and i and _WORD_CHAR(text[i - 1])) or (tail and b < len(text) and _WORD_CHAR(text[b])):
                i = text.find(value, i + 1)
                continue
            if not any(x <= i and b <= y for x, y in spans):
                return True
            i = text.find(value, b)
    return False


def _redacted(f: Finding, red: Redactor) -> Finding:
    """``f`` with every text a report shows (message, fix description, snippet key) masked: the
    secret positions they quote, tokens they quote from the file's secret spans, the safety net."""
    path = f.location.path
    fix = f.fix
    if fix is not None:
        desc = red.message(fix.description, path)
        if desc != fix.description:
            fix = dataclasses.replace(fix, description=desc)
    message, key = red.message(f.message, path), red.message(f.snippet_key, path)
    if fix is f.fix and message == f.message and key == f.snippet_key:
        return f  # nothing to hide (nearly always): a frozen finding need not be copied
    return dataclasses.replace(f, message=message, snippet_key=key, fix=fix)


def _attributed(f: Finding, stack: Stack) -> Finding:
    """``f`` with its locations (and its fix's edits) in the compose file each node came from,
    when several files were merged (``-f a.yml -f b.yml``, an override file): see stack.attribute."""
    from .stack import attribute

    loc = attribute(stack, f.location)
    related = tuple(attribute(stack, r) for r in f.related)
    fix = f.fix
    if fix is not None:
        edits = tuple(dataclasses.replace(e, location=attribute(stack, e.location)) for e in fix.edits)
        if edits != fix.edits:
            fix = dataclasses.replace(fix, edits=edits)
    if loc is f.location and related == f.related and fix is f.fix:
        return f
    return dataclasses.replace(f, location=loc, related=related, fix=fix)


def present_kinds(stack: Stack) -> set[str]:
    """The file kinds of the stack's files, and the kinds their files carry (``FileKind.carries``)."""
    from .kinds import KIND

    kinds = {sf.kind for sf in stack.files.values()}
    return kinds.union(*(KIND[k].carries for k in kinds if k in KIND))


def runs_on(rule: Rule, kinds: set[str]) -> bool:
    """Whether ``rule`` can report anything on a stack whose files are of ``kinds``: one of the file
    kinds its ``files=`` names is present, or it names something that is not a file kind (``any``,
    ``git``, ``config``...). A rule reads only the kinds it declares (``tests/test_rule_index.py``
    holds every rule fixture to it), so a stack without SQL never imports the SQL rule modules."""
    from .kinds import KIND

    tokens = {t for spec in rule.files for t in spec.replace("+", "/").split("/")}
    # `config` (the policy), `git` and the like are read beside file kinds, never instead of them:
    # `compose/dockerfile+config` needs a compose file or a Dockerfile; `any` or `git` alone runs always
    file_kinds = tokens & KIND.keys()
    return "any" in tokens or not file_kinds or not file_kinds.isdisjoint(kinds)


def run_rules(stack: Stack, rules: dict[str, Rule], selected: Iterable[str] | None = None) -> list[Finding]:
    """Every selected rule's findings, in rule order."""
    wanted = set(selected) if selected is not None else None
    return [f for r in rules.values() if wanted is None or r.id in wanted for f in _run_one(stack, r)]


class FixSafetyError(ValueError):
    """A rule built a fix whose safety disagrees with its ``@rule(fix=...)`` declaration."""


def _owned(f: Finding, rule: Rule) -> Finding:
    """``f`` as ``rule``'s finding, its fix's safety the rule's declaration (``@rule(fix=...)``, the
    one place it is declared): filled in when the fix leaves it out, refused when it disagrees."""
    fix = f.fix
    if fix is not None and fix.applicability != rule.fix:
        if rule.fix == "manual":
            raise FixSafetyError(f"rule {rule.id} declares fix='manual' but built a fix")
        if fix.applicability is not None:
            raise FixSafetyError(f"rule {rule.id} declares fix='{rule.fix}' but built a '{fix.applicability}' fix")
        fix = dataclasses.replace(fix, applicability=rule.fix)
    message = f.message if len(f.message) <= MAX_MESSAGE else _clip_message(f.message)
    return dataclasses.replace(f, rule=rule.id, fix=fix, message=message)


MAX_MESSAGE = 2000  # a message quoting a 1 MB image name or value is clipped, never copied to every report


def _clip_message(message: str) -> str:
    return message[:MAX_MESSAGE] + f"… ({len(message) - MAX_MESSAGE} more characters)"


def _run_one(stack: Stack, rule: Rule) -> list[Finding]:
    """One rule's findings; a rule that raises gives one OPS082 finding instead (isolation)."""
    try:
        return [_owned(f, rule) for f in rule.check(stack) or ()]
    except Exception as exc:  # noqa: BLE001 - a broken rule must not stop the scan
        return [Finding(
            rule=CoreRule.RULE_FAILED,
            location=_rule_anchor(stack, rule),
            message=f"rule {rule.id} ({rule.name}) raised {exc.__class__.__name__}; its findings are missing from this report",
        )]


def _rule_anchor(stack: Stack, rule: Rule) -> Location:
    """Where an internal error is reported: the first stack file of a kind the rule reads."""
    kinds = {k for spec in rule.files for k in spec.replace("+", "/").split("/")}
    for rel, sf in sorted(stack.files.items()):
        if sf.kind in kinds or "any" in kinds:
            return Location(rel, 1, 1)
    first = min(stack.files, default=".")
    return Location(first, 1, 1)


def _disjoint(units: list[_Unit]) -> bool:
    """No file has findings from two units (then no finding can be a duplicate of another unit's)."""
    owner: dict[str, int] = {}
    for i, u in enumerate(units):
        for f in u.findings:
            if owner.setdefault(f.location.path, i) != i:
                return False
    return True


SCHEMA_RULE = "OPS086"  # compose-schema-invalid: the rule that reports a broken compose node
_CORE_IDS = frozenset(v for k, v in vars(CoreRule).items() if k.isupper() and isinstance(v, str))


def _stand_down(stack: Stack, findings: list[Finding]) -> list[Finding]:
    """The findings without those other rules built on a compose node the Compose Specification
    rejects (``ComposeDocument.schema_errors``, OPS086 reports it): compose never loads that value,
    so a judgement of it would describe a stack that cannot run."""
    broken: dict[str, list] = {}
    for rel, sf in stack.files.items():
        errs = getattr(sf.doc, "schema_errors", None) if sf.kind == "compose" else None
        if errs:
            broken[rel] = [((e.line, e.col), (e.end_line, e.end_col)) for e in errs]
    if not broken:
        return findings
    keep = []
    for f in findings:
        spans = broken.get(f.location.path)
        if spans and f.rule != SCHEMA_RULE and f.rule not in _CORE_IDS:
            at = (f.location.start_line, f.location.start_col)
            if any(a <= at <= b for a, b in spans):
                continue
        keep.append(f)
    return keep


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen = set()
    out = []
    for f in findings:
        key = (f.rule, f.location, f.message)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    return out


def filter_findings(result: Result, policy: Policy, selected: set[str] | None = None) -> None:
    """Apply policy (rules not selected, severity overrides: see scanner.selection) and hand off
    to suppressions/baseline."""
    from .selection import enabled, severity_overrides

    if selected is None:
        selected = enabled(policy, result.rules)
    overrides = severity_overrides(policy, result.rules)
    kept = []
    for f in result.findings:
        if f.rule not in result.rules or f.rule not in selected:
            continue
        sev = overrides.get(f.rule)
        if sev is not None:
            f = dataclasses.replace(f, severity=sev)
        kept.append(f)
    result.findings = kept


def apply_config_ignores(result: Result, policy: Policy) -> None:
    """``ignore:`` entries of the policy: rules x path globs, with a reason and an expiry."""
    import datetime as _dt
    import fnmatch

    today = _dt.date.today()
    entries = policy.get("ignore", []) or []
    if not entries:
        return
    kept = []
    for f in result.findings:
        reason = None
        for e in entries:
            if not isinstance(e, dict):
                continue  # a string is a rule selector (scanner.selection), not a suppression
            rules = {str(r).upper() for r in (e.get("rules") or ([e["rule"]] if e.get("rule") else []))}
            if rules and f.rule not in rules and result.rules[f.rule].name.upper() not in rules:
                continue
            paths = e.get("paths") or ["*"]
            if not any(fnmatch.fnmatch(f.location.path, p) for p in paths):
                continue
            expires = e.get("expires")
            if expires:
                try:
                    if _dt.date.fromisoformat(str(expires)) < today:
                        continue
                except ValueError:
                    continue
            reason = f"config: {e.get('reason', '')}" + (f" (owner: {e['owner']})" if e.get("owner") else "")
            break
        if reason is None:
            kept.append(f)
        else:
            result.suppressed.append(dataclasses.replace(f, suppressed=reason))
    result.findings = kept


@dataclass
class _Unit:
    """What one deployment's audit hands back (picklable, for the process pool)."""

    findings: list[Finding]
    suppressed: list[Finding]
    files: dict[str, tuple]  # rel -> (kind, zlib-compressed UTF-8 text, template, mode, secret spans or None)
    secrets: set[str]
    stack: Stack | None = None  # the real Stack, when audited in this process
    notes: list[str] = field(default_factory=list)
    # a light unit's findings and suppressed findings, packed per file (``findingstore.pack_runs``:
    # the parent spills them as bytes, never unpickling them into objects); ``findings`` and
    # ``suppressed`` are then empty
    runs: list = field(default_factory=list)
    hidden_runs: list = field(default_factory=list)


def _audit_unit(paths: list[Path], root: Path, policy: Policy, select: list[str] | None,
                inline: bool, skip: list[Path] = (), keep_stack: bool = True) -> _Unit:
    from . import suppress

    stack = build_stack(paths, policy, root=root, skip_dirs=skip)
    rules = audit_rules()
    selected = set(select) if select is not None else None
    kinds = present_kinds(stack)
    running = {k: r for k, r in rules.items() if runs_on(r, kinds) and (selected is None or k in selected)}
    stack.running = frozenset(running)
    findings = run_rules(stack, running)
    if any(doc.merged_from for doc in stack.compose_docs):
        findings = [_attributed(f, stack) for f in findings]
    findings = _stand_down(stack, findings)
    red = collect_secrets(stack)
    findings = _dedupe([_redacted(f, red) for f in findings])
    result = Result(stack, rules, findings, redact=red)
    filter_findings(result, policy, selected)
    apply_config_ignores(result, policy)
    meta = suppress.apply(result, stack, enabled=inline, selected=selected)
    # suppression findings (OPS083-085) come only from here, never from a rule: deduplicating them
    # among themselves leaves the unit's findings each once (audit merges units without re-checking)
    result.findings.extend(_dedupe([dataclasses.replace(m, message=red.message(m.message, m.location.path)) for m in meta
                                    if selected is None or m.rule in selected]))
    filter_findings(result, policy, selected)
    files = {}
    if not keep_stack:  # the texts travel (and stay in the parent) compressed: see LightDocument
        import zlib

        # each file's secret spans travel with it: computed here already (collect_secrets), the
        # report's fix diffs need them, and the parent would otherwise parse every file again
        files = {rel: (sf.kind, zlib.compress(sf.text.encode("utf-8"), 1), sf.template, sf.mode,
                       sf.doc.secret_spans if sf.doc is not None else None)
                 for rel, sf in stack.files.items()}
    notes = [red.message(n) for n in stack.notes]
    if not keep_stack:  # nothing may keep this deployment alive past the next young collection
        from .caches import forget
        from .findingstore import pack_runs

        forget()
        return _Unit([], [], files, set(red._values), None, notes, pack_runs(result.findings),
                     pack_runs(result.suppressed))
    return _Unit(result.findings, result.suppressed, files, set(red._values), stack, notes)


def _unit_worker(args):
    # the previous deployment's garbage (its Stack's cycles) is all young: one generation-0 pass
    # frees it, without walking what the worker inherited (frozen before the fork)
    import gc

    gc.collect(0)
    return _audit_unit(*args, keep_stack=False)


def _worker_start() -> None:
    """A pool worker: the automatic collector stays off (see ``_collector_paused``); what the
    worker inherited from the parent is in the permanent generation (``gc.freeze`` before the fork),
    so the collector neither walks it nor writes to its pages (copy-on-write stays shared)."""
    import gc

    gc.disable()


class _collector_paused:
    """The cyclic garbage collector off for one audit, restored after. An audit allocates millions
    of small objects that live as long as it does (syntax trees, nodes, findings): the automatic
    collector would walk them again and again (measured: 10 % of a cold audit of the bundled stack,
    ~30 % of one process auditing 100 stacks) and find almost nothing to free. Garbage with cycles
    (a deployment's Stack once its findings are out) is collected deliberately, one young
    generation per deployment, in ``_unit_worker`` and between sequential deployments."""

    def __enter__(self):
        import gc

        self.was = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        import gc

        if self.was:
            gc.enable()
        return False


class LightDocument(Document):
    """A Document for a file a pool worker parsed, held compressed: reports of a monorepo need its
    text only for a few lines (fingerprints, HTML snippets) and a fix for the files it edits. The
    text is kept zlib-compressed (a 1000-stack monorepo's 47 MB of text take 14 MB), in the audit's
    spill file when the parent collects a pool's deployments (``_Spilled``), and unpacked on
    demand; the last few unpacked files are cached with their line index, and findings come sorted
    by file, so each file is unpacked about once per report. ``line_text`` answers from the text's ``LineIndex``
    instead of ``text.splitlines()``. Same text, same lines (tested)."""

    @property
    def text(self) -> str:
        return _unpacked(self)[0]

    @text.setter
    def text(self, value: str | bytes) -> None:
        import zlib

        self.__dict__["_packed"] = value if isinstance(value, bytes) else zlib.compress(value.encode("utf-8"), 1)

    @property
    def lines(self) -> list[str]:
        entry = _unpacked(self)
        if entry[2] is None:
            entry[2] = entry[0].splitlines()
        return entry[2]

    def line_text(self, line: int) -> str:
        entry = _unpacked(self)
        if entry[1] is None:
            entry[1] = LineIndex(entry[0])
        return entry[1].line_text(line)

    @property
    def secret_spans(self) -> tuple[tuple[int, int], ...]:
        """The spans the worker that parsed the file found (``Document.secret_spans`` there)."""
        spans = self.__dict__.get("_spans")
        return spans if spans is not None else Document.secret_spans.fget(self)

    @property
    def line_index(self) -> LineIndex:
        entry = _unpacked(self)
        if entry[1] is None:
            entry[1] = LineIndex(entry[0])
        return entry[1]


_UNPACKED: dict[int, list] = {}  # id(doc) -> [text, line index, lines, doc]; the most recent few
_UNPACKED_MAX = 8


def _unpacked(doc: LightDocument) -> list:
    entry = _UNPACKED.get(id(doc))
    if entry is not None and entry[3] is doc:
        return entry
    import zlib

    packed = doc.__dict__.get("_packed")
    if packed is None:  # spilled (``_light_files``): read back from the audit's spill file
        spill, at, length = doc.__dict__["_spilled"]
        packed = spill.get(at, length)
    entry = [zlib.decompress(packed).decode("utf-8"), None, None, doc]
    if len(_UNPACKED) >= _UNPACKED_MAX:
        _UNPACKED.pop(next(iter(_UNPACKED)))
    _UNPACKED[id(doc)] = entry
    return entry


def _merge_stacks(root: Path, policy: Policy, units: list[_Unit]) -> Stack:

    if len(units) == 1 and units[0].stack is not None:
        return units[0].stack
    merged = Stack(root, policy)
    for u in units:
        if u.stack is not None:
            merged.files.update(u.stack.files)
            merged.compose_docs.extend(u.stack.compose_docs)
            merged.nginx_configs.extend(u.stack.nginx_configs)
            merged.problems.extend(u.stack.problems)
            merged.explicit |= u.stack.explicit
        else:
            _light_files(merged, u.files)
    return merged


def _light_files(stack: Stack, files: dict, spill=None) -> None:
    """A light unit's files (``_Unit.files``) added to ``stack`` as ``LightDocument``s; with
    ``spill``, their compressed texts go to the spill file and only where they are stays here."""
    from .stack import SourceFile

    root = stack.root
    for rel, (kind, text, template, mode, spans) in files.items():
        if spill is None:
            doc = LightDocument(rel, text)
        else:
            doc = LightDocument(rel, "")
            del doc.__dict__["_packed"]
            doc.__dict__["_spilled"] = (spill, *spill.put(text))
        doc.kind = kind
        if spans is not None:
            doc.__dict__["_spans"] = spans
        stack.files[rel] = SourceFile(root / rel, rel, kind, doc, mode=mode, template=template)


def _shard_groups(groups: list[list[Path]], root: Path, shard: tuple[int, int]) -> list[list[Path]]:
    """The deployments of shard K of N, by ``shard_of`` their directory relative to the root (a
    group of named files: their compose file's directory). One deployment alone is shard 1's."""
    from .merge import shard_of

    k, n = shard
    if len(groups) <= 1:
        return groups if k == 1 else []
    return [g for g in groups if shard_of(_group_dir(g, root), n) == k]


def _group_dir(group: list[Path], root: Path) -> str:
    """A deployment's directory relative to the root (a group of named files: their first's)."""
    import os

    first = group[0]
    d = first if first.is_dir() else first.parent
    return Path(os.path.relpath(d.resolve(), root)).as_posix()


def _run_units(work: list, jobs: int, light: bool = False):
    """Each work item audited (``_audit_unit``), in a pool of forked processes when there are
    many, yielded in work order as they are done. ``light``: the units' Stacks are not kept (as
    the pool's are not), so that a shard's report is a slice of the monorepo's whatever its
    number of deployments."""
    import gc

    if jobs > 1 and len(work) >= PARALLEL_MIN_UNITS:
        import multiprocessing as mp

        from .parsers.compose_schema import validator

        validator()  # the Compose Specification schema (OPS086) compiled once, not once per worker
        # the first deployment is audited here, before the fork, as a worker would audit it: every
        # module the audit imports on first use (the rule families its file kinds need, the
        # parsers and their libraries, pglast's printer) and every regular expression it compiles
        # is then paid once and shared by the workers (copy-on-write) instead of once per worker
        first = _audit_unit(*work[0], keep_stack=False)
        gc.collect()
        gc.freeze()  # what the workers inherit: never walked by their collector (copy-on-write kept)
        try:
            ctx = mp.get_context("fork")
            rest = work[1:]
            with ctx.Pool(min(jobs, len(rest)), initializer=_worker_start) as pool:
                # small chunks: with a few big ones a worker could sit idle while the other finishes
                # the last (125 deployments of ~0.1 s each at 1000 deployments and jobs * 4 chunks)
                yield first
                del first
                # each unit as it comes: the parent spills it (``_Collector``) and holds none
                yield from pool.imap(_unit_worker, rest, chunksize=max(1, min(8, len(rest) // (jobs * 8))))
        finally:
            gc.unfreeze()
        return
    for i, w in enumerate(work):
        if i:
            gc.collect(0)
        yield _audit_unit(*w, keep_stack=not light)


def default_jobs() -> int:
    import os

    env = os.environ.get("DKSCAN_JOBS")
    if env and env.isdigit():
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 8))


PARALLEL_MIN_UNITS = 8


def audit(paths: list[Path], policy: Policy | None = None, select: Iterable[str] | None = None,
          root: Path | None = None, inline_suppressions: bool | None = None,
          baseline: dict | None = None, report_paths: Iterable[str] | None = None,
          jobs: int | None = None, shard: tuple[int, int] | None = None) -> Result:
    """Audit ``paths``. Each deployment (the shallowest directories holding a compose file) is one
    Stack, audited on its own — in parallel across processes when there are many — and the findings
    are merged and sorted, so the result is the same whatever the number of processes.
    ``report_paths`` keeps only findings located in those files (relative to the root): the
    pre-commit path, where the whole stack is still read. ``shard`` (K, N): only the deployments
    of shard K of N (``scanner.merge.shard_of``; the files outside every deployment go with shard 1),
    for ``dkscan merge`` to combine into this function's result without a shard."""
    with _collector_paused():
        return _audit(paths, policy, select, root, inline_suppressions, baseline, report_paths, jobs, shard)


def _audit(paths, policy, select, root, inline_suppressions, baseline, report_paths, jobs, shard=None) -> Result:
    from .stack import _common_root, deployment_groups

    policy = policy or Policy()
    paths = [Path(p) for p in paths]
    if select is None:  # the policy's selection: configuration, then command line (scanner.selection)
        from .selection import enabled

        select = enabled(policy, load_rules())
    select_list = sorted({str(s).upper() for s in select})
    root = (root or _common_root(paths)).resolve()
    inline = bool(policy.get("inline-suppressions", True) if inline_suppressions is None else inline_suppressions)
    from .exclude import Excluder

    groups, rest, units = deployment_groups(paths, Excluder(policy, root))
    light, with_rest = False, True
    shard_mark = None
    if shard is not None:
        from .merge import deployments_digest

        shard_mark = (shard[0], shard[1], deployments_digest([_group_dir(g, root) for g in groups], bool(rest)))
    if shard is not None:  # the files outside every deployment go with shard 1
        groups, light, with_rest = _shard_groups(groups, root, shard), len(units) > 1, shard[0] == 1
    if len(groups) == 1 and not rest:
        work = [(groups[0], root, policy, select_list, inline, [])]
    else:
        # each deployment alone (its findings never depend on what else is scanned: issue 15), then
        # the files outside every deployment together
        work = [(g, root, policy, select_list, inline, []) for g in groups]
        if with_rest and (rest or not groups):
            work.append((rest, root, policy, select_list, inline, units))
    jobs = default_jobs() if jobs is None else max(1, jobs)
    done: list[_Unit] = []
    spilled = None
    for u in _run_units(work, jobs, light):
        if u.stack is None:  # a light unit (the pool's, a shard's): spilled as it comes
            spilled = spilled or _Spilled(root, policy)
            spilled.add(u)
        else:
            done.append(u)
    if spilled is not None:
        assert not done, "a pool's units are all light"
        result = spilled.result()
    else:
        stack = _merge_stacks(root, policy, done)
        red = Redactor(stack=stack)
        for u in done:
            for v in u.secrets:
                red.add(v)
        findings = [f for u in done for f in u.findings]
        if len(done) > 1 and not _disjoint(done):  # each unit's own findings are deduplicated already
            findings = _dedupe(findings)
        result = Result(stack, audit_rules(), findings, redact=red)
        result.suppressed = [f for u in done for f in u.suppressed]
        result.notes = sorted({n for u in done for n in u.notes})
    result.shard = shard_mark
    if baseline is not None:
        from .baseline import split

        split(result, baseline)
    if report_paths is not None:
        keep = set(report_paths)
        result.findings = [f for f in result.findings if f.location.path in keep]
        result.suppressed = [f for f in result.suppressed if f.location.path in keep]
        result.baselined = [f for f in result.baselined if f.location.path in keep]
    if isinstance(result.findings, list):  # spilled findings are in report order already
        result.findings.sort(key=Finding.sort_key)
    if isinstance(result.suppressed, list):
        result.suppressed.sort(key=Finding.sort_key)
    return result


class _Spilled:
    """The parent's side of an audit of light units: each unit's findings and file texts written
    to a private spill file as it arrives (``scanner.findingstore``), so the parent holds no
    deployment's findings; what it keeps is the index, the file list, the secret values (the
    report's safety net masks every deployment's in every message) and the notes. The result is
    the in-memory audit's, finding for finding, in the same order (``FindingRuns.finish``)."""

    def __init__(self, root: Path, policy: Policy) -> None:
        from .findingstore import FindingRuns, SpillFile

        self.spill = SpillFile()
        self.stack = Stack(root, policy)
        self.found = FindingRuns(self.spill, dedupe=True)
        self.hidden = FindingRuns(self.spill, dedupe=False)
        self.secrets: set[str] = set()
        self.notes: set[str] = set()

    def add(self, u: _Unit) -> None:
        self.found.add(u.runs)
        self.hidden.add(u.hidden_runs)
        _light_files(self.stack, u.files, self.spill)
        self.secrets |= u.secrets
        self.notes.update(u.notes)

    def result(self) -> Result:
        self.found.finish()
        self.hidden.finish()
        red = Redactor(stack=self.stack)
        for v in self.secrets:
            red.add(v)
        result = Result(self.stack, audit_rules(), self.found, redact=red)
        result.suppressed = self.hidden
        result.notes = sorted(self.notes)
        return result
