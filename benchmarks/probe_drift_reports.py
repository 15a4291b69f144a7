#!/usr/bin/env python3
"""`dkscan probe` reports of the compliant gateway and of each drifted variant, from Debian's real nginx.

    python benchmarks/probe_drift_reports.py              # text reports, one after the other
    python benchmarks/probe_drift_reports.py --format json

What issue 19's closing note shows: the probe of the compliant gateway (0 findings) and of each
drift the issue names — older protocols on, a missing `always`, an exposed status page, a port left
listening — plus the body-size limit and `server_tokens`. Each case starts Debian's nginx on
127.0.0.1 with certificates from a local CA made by ``cryptography`` (``tests/probe_harness.py``:
the same harness, variants and PKI the tests in ``tests/test_probe_nginx.py`` use), serving the
compliant fixture's gateway config or a variant of it (``DRIFTS``), and runs

    dkscan probe https://studios-dk.com:<port>/ fixtures/studios-dk-compliant \\
        --resolve studios-dk.com:127.0.0.1 --ca-file <local CA> --http-port <port> --config <clock.today>

against the unchanged compliant stack: the audited config says one thing, the running gateway does
another. "A port left listening" serves the compliant config and names nginx's internal status
server (8081 in the config, a free port here) with ``--ports`` (a loopback target skips the service
ports unless asked). Needs ``bash .ci/deps`` (nginx-light); exits 1 when a case does not give what
the tests assert (0 findings for the compliant gateway, the drift's rules for each variant).
Run from the repository root; dkscan runs from this tree (``python -m scanner.cli``).
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.probe_harness import DRIFTS, LiveGateway, make_pki, variant  # noqa: E402

COMPLIANT = ROOT / "fixtures" / "studios-dk-compliant"
# what each case must give (tests/test_probe_nginx.py asserts the same, with the lines)
EXPECTED = {
    "compliant": set(),
    "older protocols on": {"LIVE001", "LIVE004"},
    "a missing always": {"LIVE021"},
    "an exposed status page": {"LIVE040"},
    "a port left listening": {"LIVE041"},
    "body size": {"LIVE062"},
    "server_tokens": {"LIVE024"},
}


def probe(gw: LiveGateway, ca_file: Path, policy: Path, fmt: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "scanner.cli", "probe", gw.url, str(COMPLIANT.relative_to(ROOT)),
           "--resolve", "studios-dk.com:127.0.0.1", "--ca-file", str(ca_file), "--http-port", str(gw.http_port),
           "--config", str(policy), "--timeout", "5", "--budget", "120", "--format", fmt, *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def rules_in(gw: LiveGateway, ca_file: Path, policy: Path, *extra: str) -> set[str]:
    import json

    out = probe(gw, ca_file, policy, "json", *extra)
    return {f["rule"] for f in json.loads(out.stdout)["findings"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--format", default="text", help="dkscan probe's --format (default: text)")
    args = ap.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory(prefix="dkscan-probe-reports-") as tmp:
        work = Path(tmp)
        pki = make_pki(work / "pki")
        policy = work / ".dkscan.yaml"  # clock.today pinned to the day after the test leaf was issued
        policy.write_text(f"clock:\n  today: {(pki.not_before + datetime.timedelta(days=1)).isoformat()}\n",
                          encoding="utf-8")
        for n, case in enumerate(EXPECTED):
            served = COMPLIANT if case not in DRIFTS else variant(COMPLIANT, work / f"served{n}", DRIFTS[case])
            with LiveGateway(served, work / f"gw{n}", pki) as gw:
                extra = ("--ports", str(gw.status_port)) if case == "a port left listening" else ()
                out = probe(gw, pki.ca_file, policy, args.format, *extra)
                got = rules_in(gw, pki.ca_file, policy, *extra)
            verdict = "as expected" if got == EXPECTED[case] else f"UNEXPECTED: {sorted(got)} != {sorted(EXPECTED[case])}"
            ok = ok and got == EXPECTED[case]
            print(f"==== {case}: {', '.join(sorted(got)) or '0 findings'} ({verdict}); dkscan exit {out.returncode}")
            print(out.stdout.rstrip() + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
