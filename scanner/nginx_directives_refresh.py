"""Regenerate ``scanner/data/nginx_directives.json``: where nginx's own modules allow each directive,
and how many arguments it takes there.

    python -m scanner.nginx_directives_refresh [--nginx /usr/sbin/nginx] [--out scanner/data/nginx_directives.json]

The table starts from crossplane's (``crossplane.analyzer.DIRECTIVES``: the open-source entries are
copied from nginx's ``ngx_command_t`` definitions, NGINX Plus ones from nginx.org's documentation),
then every directive is tried in every context against the installed nginx (``nginx -t`` on a
one-directive configuration; the stream and mail modules are loaded with ``load_module`` when the
build has them as dynamic modules, as Debian does):

- a context the real nginx accepts the directive in (anything but ``"X" directive is not allowed
  here``) is added to the table, so that dkscan never refuses what this nginx loads;
- in one context the directive is allowed in, 0 to 8 arguments are tried: every count nginx does
  not refuse with ``invalid number of arguments`` is added;
- in that context, up to two of ``VALUES`` the directive accepts alone are found for each argument
  count it takes (1 to 3), and every pair of them is written in one block: a directive nginx then
  always refuses with ``"X" directive is duplicate`` is marked ``dup`` (``Probe.duplicate``);
- ``EXTRA`` below adds what later nginx versions allow and the installed one may not (from the
  nginx.org changelog), so that a newer image's configuration is not refused either.

A directive nginx does not know (``unknown directive``: a third-party module, or one newer than
the build) keeps crossplane's entry; one neither knows is absent from the table, and dkscan never
judges it (it cannot know which modules the gateway loads). The probe's results, the nginx version
it ran and the disagreements with crossplane are recorded in the file.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "nginx_directives.json"

# context name -> (crossplane context tuple, template with {d} where the directive goes)
CONTEXTS = {
    "main": ((), "{d}\nevents {{}}\n"),
    "events": (("events",), "events {{\n{d}\n}}\n"),
    "http": (("http",), "events {{}}\nhttp {{\n{d}\n}}\n"),
    "server": (("http", "server"), "events {{}}\nhttp {{ server {{\n{d}\n}} }}\n"),
    "location": (("http", "location"), "events {{}}\nhttp {{ server {{ location / {{\n{d}\n}} }} }}\n"),
    "upstream": (("http", "upstream"), "events {{}}\nhttp {{ upstream u {{ server 127.0.0.1;\n{d}\n}} }}\n"),
    "sif": (("http", "server", "if"), "events {{}}\nhttp {{ server {{ if ($uri) {{\n{d}\n}} }} }}\n"),
    "lif": (("http", "location", "if"), "events {{}}\nhttp {{ server {{ location / {{ if ($uri) {{\n{d}\n}} }} }} }}\n"),
    "lmt": (("http", "location", "limit_except"),
            "events {{}}\nhttp {{ server {{ location / {{ limit_except GET {{\n{d}\n}} }} }} }}\n"),
    "stream": (("stream",), "events {{}}\nstream {{\n{d}\n}}\n"),
    "stream-server": (("stream", "server"), "events {{}}\nstream {{ server {{ listen 127.0.0.1:1;\n{d}\n}} }}\n"),
    "stream-upstream": (("stream", "upstream"), "events {{}}\nstream {{ upstream u {{ server 127.0.0.1:1;\n{d}\n}} }}\n"),
    "mail": (("mail",), "events {{}}\nmail {{\n{d}\n}}\n"),
    "mail-server": (("mail", "server"), "events {{}}\nmail {{ server {{\n{d}\n}} }}\n"),
}
STREAM_MAIL = ("stream", "mail")
# values tried for the duplicate probe (the first two a directive accepts alone are used)
VALUES = ["on", "off", "1", "2", "1s", "2s", "1k", "2k", "/tmp/", "/tmp/a", "a", "b", "text/plain", "127.0.0.1",
          "any", "all", "none", "default", "1 1", "2 2", "1 1s", "a b", "c d", "1k 1", "1 1k", "8 4k", "16 8k",
          "1 1 1", "a b c", "c d e", "1 2 3"]

# allowed by nginx versions newer than the probed build (nginx.org/en/CHANGES)
EXTRA = {
    # 1.27.3: "the "resolver" and "resolver_timeout" directives in the "upstream" block"
    "resolver": {"ctx": ["upstream"], "args": "1+"},
    "resolver_timeout": {"ctx": ["upstream"], "args": "1"},
}

_ARGBITS = [(0x1, 0), (0x2, 1), (0x4, 2), (0x8, 3), (0x10, 4), (0x20, 5), (0x40, 6), (0x80, 7)]


def _crossplane() -> dict[str, list[dict]]:
    """crossplane's table: directive -> forms {ctx: [names], args: spec, block: bool}."""
    from crossplane import analyzer as a

    bits = {name: a.CONTEXTS[ctx] for name, (ctx, _) in CONTEXTS.items()}
    out: dict[str, list[dict]] = {}
    for name, masks in a.DIRECTIVES.items():
        forms = []
        for m in masks:
            ctx = [c for c, b in bits.items() if m & b]
            if m & a.NGX_CONF_FLAG:
                args = "flag"
            elif m & a.NGX_CONF_ANY:
                args = "any"
            elif m & a.NGX_CONF_1MORE:
                args = "1+"
            elif m & a.NGX_CONF_2MORE:
                args = "2+"
            else:
                args = "".join(str(n) for bit, n in _ARGBITS if m & bit)
            forms.append({"ctx": ctx, "args": args, "block": bool(m & a.NGX_CONF_BLOCK)})
        out[name] = forms
    return out


def _counts(spec: str) -> set[int]:
    if spec == "flag":
        return {1}
    if spec == "any":
        return set(range(0, 9))
    if spec.endswith("+"):
        return set(range(int(spec[:-1]), 9))
    return {int(c) for c in spec}


def _spec(counts: set[int]) -> str:
    """The compact spec of a set of argument counts probed in 0..8 (8 means 'and more')."""
    if counts == set(range(0, 9)):
        return "any"
    lo = min(counts)
    if counts == set(range(lo, 9)):
        return f"{lo}+"
    return "".join(str(n) for n in sorted(counts) if n < 8)


class Probe:
    def __init__(self, binary: str, work: Path):
        self.binary = binary
        self.work = work
        mods = Path("/usr/lib/nginx/modules")
        self.load = {k: f"load_module {mods / f'ngx_{k}_module.so'};\n" for k in STREAM_MAIL
                     if (mods / f"ngx_{k}_module.so").is_file()}
        self.n = 0

    def run(self, text: str) -> str | None:
        """nginx -t's [emerg] message (without its location), or None when it accepts."""
        self.n += 1
        d = Path(tempfile.mkdtemp(dir=self.work))
        conf = d / "n.conf"
        conf.write_text(text)
        proc = subprocess.run([self.binary, "-t", "-p", f"{d}/", "-c", str(conf), "-g",
                               f"pid {d}/p; error_log {d}/e.log;"], capture_output=True, text=True, timeout=30)
        shutil.rmtree(d, ignore_errors=True)
        if proc.returncode == 0:
            return None
        m = re.search(r"\[emerg\] \d+#\d+: (.*?)(?: in /\S+:\d+)?$", proc.stderr, re.M)
        return m.group(1) if m else proc.stderr.strip()

    def config(self, ctx: str, line: str) -> str:
        text = CONTEXTS[ctx][1].format(d=line)
        for k, load in self.load.items():
            if ctx.startswith(k):
                text = load + text
        return text

    def duplicate(self, name: str, ctx: str, form: dict) -> bool:
        """Whether nginx refuses ``name`` written twice in one block of ``ctx`` whatever its values:
        up to two of ``VALUES`` it accepts alone are found for each argument count it takes, and
        every ordered pair of them (the same one twice too) must be refused as a duplicate; fewer
        than two values found is no proof (``proxy_redirect off`` twice is refused, ``proxy_redirect
        a b`` twice is not)."""
        if form["block"]:
            one = f"{name} {{ }}"
            return (self.run(self.config(ctx, one + "\n" + one)) or "").startswith(f'"{name}" directive is duplicate')
        counts = _counts(form["args"])
        values: list[str] = []
        for c in sorted(counts & {1, 2, 3}):
            found = 0
            for v in (v for v in VALUES if len(v.split()) == c):
                if self.run(self.config(ctx, f"{name} {v};")) is None:
                    values.append(v)
                    found += 1
                    if found == 2:
                        break
        if len(values) < 2:
            return False
        for a in values:
            for b in values:
                msg = self.run(self.config(ctx, f"{name} {a};\n{name} {b};"))
                if msg is None or not msg.startswith(f'"{name}" directive is duplicate'):
                    return False
        return True


def _line(name: str, nargs: int, block: bool, flag: bool) -> str:
    args = " on" if flag and nargs == 1 else "".join(f" a{i}" for i in range(nargs))
    return f"{name}{args}" + (" { }" if block else ";")


def refresh(binary: str) -> dict:
    table = _crossplane()
    work = Path(tempfile.mkdtemp(prefix="dkscan-ngx-probe-"))
    probe = Probe(binary, work)
    version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
    usable = [c for c in CONTEXTS if not c.startswith(STREAM_MAIL) or c.split("-")[0] in probe.load]
    for c in usable:  # every wrapper parses on its own (a stream server without handler fails later)
        msg = probe.run(probe.config(c, "")) or ""
        assert "not allowed here" not in msg and "unknown directive" not in msg, (c, msg)

    def where(name: str, forms: list[dict]) -> dict[str, str]:
        """context -> 'yes' | 'no' | 'unknown' for one directive."""
        res = {}
        for c in usable:
            form = next((f for f in forms if c in f["ctx"]), forms[0])
            counts = sorted(_counts(form["args"]))
            msg = probe.run(probe.config(c, _line(name, counts[0], form["block"], form["args"] == "flag")))
            if msg is not None and msg == f'unknown directive "{name}"':
                res[c] = "unknown"
            elif msg is not None and msg == f'"{name}" directive is not allowed here':
                res[c] = "no"
            else:
                res[c] = "yes"
        return res

    def counts_in(name: str, ctx: str, form: dict) -> set[int]:
        ok = set()
        for n in range(0, 9):
            msg = probe.run(probe.config(ctx, _line(name, n, form["block"], form["args"] == "flag")))
            if msg != f'invalid number of arguments in "{name}" directive':
                ok.add(n)
        return ok

    notes: list[str] = []
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        seen = dict(zip(table, pool.map(lambda kv: where(*kv), table.items())))
    out: dict[str, list[dict]] = {}
    jobs = []
    for name, forms in table.items():
        res = seen[name]
        if all(v == "unknown" for v in res.values()):
            out[name] = [dict(f, verified=False) for f in forms]
            continue
        allowed = {c for c, v in res.items() if v == "yes"}
        new_forms = []
        for f in forms:
            ctx = set(f["ctx"])
            refused_here = sorted(c for c in ctx & set(usable) if res.get(c) == "no")
            if refused_here:
                notes.append(f"{name}: crossplane allows {refused_here}, {version} refuses (kept: a newer nginx may allow)")
            new_forms.append({"ctx": sorted(ctx, key=list(CONTEXTS).index), "args": f["args"], "block": f["block"],
                              "verified": True})
        missing = sorted(allowed - {c for f in forms for c in f["ctx"]}, key=list(CONTEXTS).index)
        if missing:
            notes.append(f"{name}: {version} also allows it in {missing}")
            base = forms[0]
            new_forms.append({"ctx": missing, "args": base["args"], "block": base["block"], "verified": True})
        out[name] = new_forms
        for f in new_forms:
            ctx = next((c for c in f["ctx"] if res.get(c) == "yes"), None)
            if ctx is not None:
                jobs.append((name, ctx, f))
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda j: counts_in(*j), jobs))
    for (name, ctx, f), ok in zip(jobs, got):
        declared = _counts(f["args"])
        if ok - declared:
            notes.append(f"{name}: {version} also takes {sorted(ok - declared)} arguments in {ctx}")
            f["args"] = _spec(ok | declared)
        if declared - ok:
            notes.append(f"{name}: crossplane allows {sorted(declared - ok)} arguments, {version} refuses (kept)")
    # duplicates: a directive whose second occurrence in the same block nginx refuses ("is duplicate")
    # with every pair of values it accepts once (value-independent, as nginx's *_slot handlers are)
    dup_jobs = [(name, ctx, f) for name, ctx, f in jobs
                if not f["block"] or (f["args"] == "0" and ctx == "main")]
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        dups = list(pool.map(lambda j: probe.duplicate(*j), dup_jobs))
    for (name, ctx, f), dup in zip(dup_jobs, dups):
        if dup:
            f["dup"] = True
    for name, extra in EXTRA.items():
        out.setdefault(name, []).append({"ctx": extra["ctx"], "args": extra["args"], "block": False, "verified": False})
        notes.append(f"{name}: {extra['ctx']} added from nginx's changelog (newer than the probed build)")
    shutil.rmtree(work, ignore_errors=True)
    return {
        "_about": "Where nginx's own modules allow each directive, and its argument counts ('1+': one or more; "
                  "'flag': on|off; 'any'). Generated by `python -m scanner.nginx_directives_refresh`: crossplane "
                  "0.5's table (nginx's ngx_command_t definitions, NGINX Plus from nginx.org docs), widened by "
                  "probing the real nginx -t; 'verified' forms were checked against that binary.",
        "_nginx": version,
        "_crossplane": __import__("crossplane").__version__,
        "_generated": datetime.date.today().isoformat(),
        "_probes": probe.n,
        "_notes": sorted(notes),
        "directives": dict(sorted(out.items())),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--out", default=str(OUT))
    ns = ap.parse_args(argv)
    data = refresh(ns.nginx)
    tmp = Path(ns.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(ns.out)
    print(f"{len(data['directives'])} directives, {data['_probes']} nginx -t runs, {len(data['_notes'])} notes -> {ns.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
