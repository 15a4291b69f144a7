"""``dkscan probe URL [STACK]``: observe the live deployment and compare it with what STACK promises.

The probe gathers facts (``tls`` with sslyze, ``http`` with httpx, ``ports`` with plain sockets),
bounded by a total time budget and per-check timeouts, contacting only the URL's host at one pinned
address. The LIVE rules (``rules/live/``) then judge the facts against the configuration
(``promise``) and yield ordinary findings: the same redaction, policy, suppressions, baseline and
report formats as ``dkscan audit``. A rule run by ``audit`` receives a Stack, not
:class:`Observations`, and yields nothing.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

from .target import Budget, ContactLog, ProbeUsageError, Target, make_target, parse_ports, parse_resolve

__all__ = ["Observations", "ProbeUsageError", "observations", "run_probe", "parse_ports", "parse_resolve"]


@dataclass
class Observations:
    """Everything the probe saw, handed to the LIVE rules."""

    target: Target
    stack: object
    promise: object
    policy: object
    today: _dt.date
    log: ContactLog
    source: str | None = None
    tls: object | None = None  # tls.TlsFacts
    http: object | None = None  # http.HttpFacts
    ports: list = field(default_factory=list)  # ports.PortFact
    ports_checked: bool = False
    burst: bool = False
    unreachable: list[str] = field(default_factory=list)  # why a check could not run
    ca_file: Path | None = None

    @property
    def files(self):  # the engine's error isolation anchors a broken rule on a stack file
        return self.stack.files


def observations(arg) -> Observations | None:
    """The probe's observations when a LIVE rule runs under ``dkscan probe``; None under ``audit``."""
    return arg if isinstance(arg, Observations) else None


def today_from(policy) -> _dt.date:
    """``clock.today`` (scanner.config.Policy.today, the one clock)."""
    return policy.today()


def run_probe(url: str, paths: list[Path], policy, *, ca_file: Path | None = None, resolve=(),
              ports: list[int] | None = None, http_port: int | None = None, burst: bool = False,
              timeout: float = 10.0, budget: float = 180.0, select=None, baseline=None,
              inline_suppressions: bool | None = None):
    """Probe ``url``; return ``(Result, Observations)``. Raises ProbeUsageError for bad arguments."""
    from ..engine import Result, _redacted, apply_config_ignores, collect_secrets, filter_findings, run_rules
    from ..model import Finding
    from ..registry import probe_rules
    from ..stack import Stack, build_stack
    from .promise import find_promise

    pinned = parse_resolve(list(resolve))
    clock = Budget(total=budget, per_check=timeout)
    target, why = make_target(url, pinned, http_port, timeout=timeout)
    stack = build_stack(paths, policy) if paths else Stack(Path.cwd().resolve(), policy)
    promise = find_promise(stack, target)
    obs = Observations(target, stack, promise, policy, today_from(policy), ContactLog(), ca_file=ca_file,
                       burst=burst)
    rules = probe_rules()
    live = [rid for rid in rules if rid.startswith("LIVE")]
    selected = [s for s in (select or live) if s in live]
    if why is not None:
        obs.unreachable.append(why)
    else:
        obs.source = target.source_address()
        _gather(obs, clock, ports, burst)
    findings = run_rules(obs, rules, selected)
    red = collect_secrets(stack)
    result = Result(stack, rules, [_redacted(f, red) for f in findings], redact=red)
    filter_findings(result, policy)
    apply_config_ignores(result, policy)
    from .. import suppress

    inline = bool(policy.get("inline-suppressions", True) if inline_suppressions is None else inline_suppressions)
    suppress.apply(result, stack, enabled=inline, selected=set(selected))  # OPS083-085 are audit's to report
    if baseline is not None:
        from ..baseline import split

        split(result, baseline)
    result.findings.sort(key=Finding.sort_key)
    result.suppressed.sort(key=Finding.sort_key)
    return result, obs


def _gather(obs: Observations, clock: Budget, ports: list[int] | None, burst: bool) -> None:
    """Run the checks; an unexpected error in one becomes a LIVE059 finding naming it, never a traceback."""
    try:
        _checks(obs, clock, ports, burst)
    except Exception as exc:  # noqa: BLE001 - a probe must report, not crash
        obs.unreachable.append(f"a check failed unexpectedly ({exc.__class__.__name__}: {exc}); its findings are missing")


def _checks(obs: Observations, clock: Budget, ports: list[int] | None, burst: bool) -> None:
    from .http import gather_http
    from .ports import DEFAULT_PORTS, scan_ports
    from .tls import ocsp_urls, scan_tls

    t, log = obs.target, obs.log
    if t.https:
        def want_again(facts) -> bool:
            stapling = obs.promise.directive("ssl_stapling")
            return stapling is not None and stapling.args[:1] == ["on"] and bool(ocsp_urls(facts.leaf))

        obs.tls = scan_tls(t, clock, log, obs.ca_file, want_again)
        if obs.tls.error:
            obs.unreachable.append(obs.tls.error)
    if obs.tls is not None and not obs.tls.reachable and obs.tls.error and obs.tls.error.startswith("no TLS connection"):
        log.skipped.append("HTTP checks (no connection to the port)")
    elif not clock.exhausted:
        obs.http = gather_http(t, obs.promise, clock, log, burst=burst, policy=obs.policy)
        if not obs.http.https_ok:
            first = obs.http.errors[0] if obs.http.errors else "no answer"
            obs.unreachable.append(f"no HTTP answer from {t.url_for('/')}: {first}")
    else:
        log.skipped.append("HTTP checks (time budget spent)")
    wanted = ports
    if wanted is None:
        configured = obs.policy.get("probe.ports")
        wanted = [int(p) for p in configured] if configured else list(DEFAULT_PORTS)
        if t.loopback:
            log.skipped.append("service ports: the target is a loopback address (every published port answers "
                               "there); give --ports to check them anyway")
            wanted = []
    if wanted:
        obs.ports = scan_ports(t, wanted, obs.stack, clock, log)
        obs.ports_checked = True
    late = [s.replace(" (time budget spent)", "") for s in log.skipped if "time budget" in s]
    if late:
        obs.unreachable.append(f"the time budget ({clock.total:g} s, --budget) ran out before: {'; '.join(late)}")


def contacted(obs: Observations, elapsed: float | None = None) -> str:
    """The "what was contacted" block the report starts with."""
    t = obs.target
    lines = [f"dkscan probe {t.url}",
             f"  target: {t.host} at {t.ip or '(unresolved)'} ({t.resolved_by}{', loopback' if t.loopback else ''}); "
             f"source address: {obs.source or 'unknown'}",
             "  config: " + (f"{obs.promise.server.path}:{obs.promise.server.line} (server_name "
                              f"{' '.join(a for n in obs.promise.server.children_named('server_name') for a in n.args) or '-'})"
                              if obs.promise.server is not None and obs.promise.server.d is not None
                              else "none (only the checks without a config counterpart ran)")]
    lines.extend(f"  note: {n}" for n in obs.promise.notes)
    lines.append("  contacted (only this host, nothing sent but the requests below; no credentials):")
    lines.extend(obs.log.lines() or ["  nothing"])
    if obs.http is not None and obs.http.of("page"):
        lines.append("  answers: " + ", ".join(f"{r.method} {r.path} {r.status}" for r in obs.http.of("page")))
    if obs.tls is not None and obs.tls.accepted:
        lines.append("  TLS accepted: " + ", ".join(f"{p} ({len(s)} suite{'s' if len(s) != 1 else ''})" for p, s in sorted(obs.tls.accepted.items())))
    if obs.tls is not None and obs.tls.leaf is not None:
        from .tls import key_description

        leaf = obs.tls.leaf
        algo, bits, _ = key_description(leaf)
        lines.append(f"  certificate: {leaf.subject.rfc4514_string()}, {algo} {bits} bits, "
                     f"expires {leaf.not_valid_after_utc.date().isoformat()}, chain of {len(obs.tls.chain)}, "
                     f"verification: {obs.tls.verify_error or 'ok'}")
    if elapsed is not None:
        lines.append(f"  took {elapsed:.1f} s")
    return "\n".join(lines) + "\n\n"
