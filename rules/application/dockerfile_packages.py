"""Application, Dockerfile packages family (APP036): packages installed without a version (apt, apk, pip, npm, rpm)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.dockerfile import (
    Cmd,
    ins_loc,
    pip_install,
    run_cmds,
)
from rules.helpers.locations import LazyRe
from scanner.model import hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


def _pip_packages(cmd: Cmd) -> list[str] | None:
    """Packages a pip install names; None when it installs requirements, a constraint set or ``.``."""
    args = cmd.args
    if "-m" in args:
        args = args[args.index("-m") + 2:]
    sub = Cmd("pip", args, cmd.text)
    if sub.has("r", "requirement", "c", "constraint") or "." in sub.args:
        return None
    pos = sub.positional(("abi", "b", "build", "e", "editable", "extra-index-url", "f", "find-links", "i", "index-url",
                          "implementation", "no-binary", "only-binary", "platform", "prefix", "progress-bar", "proxy",
                          "python-version", "root", "src", "t", "target", "trusted-host", "upgrade-strategy", "cache-dir",
                          "log", "timeout", "retries", "cert", "client-cert", "exists-action", "C", "config-settings"))
    if "install" in pos:
        pos = pos[pos.index("install") + 1:]
    return pos


_PIP_PIN = LazyRe(r"(==|>=|<=|~=|!=|<|>|=)")
_VCS = ("git+", "hg+", "svn+", "bzr+", "git://")


def _pip_pinned(p: str) -> bool:
    if p.startswith(_VCS):
        return "@" in p.split("://", 1)[-1]
    return bool(_PIP_PIN.search(p)) or p.endswith((".whl", ".tar.gz", ".zip")) or "/" in p or p.startswith(("$", "."))


def _npm_packages(cmd: Cmd) -> list[str] | None:
    if cmd.name != "npm":
        return None
    pos = cmd.positional(("prefix", "registry", "cache", "userconfig", "tag", "workspace", "w", "C"))
    if not pos or pos[0] not in ("install", "i", "add", "isntall", "in"):
        return None
    return pos[1:]


def _npm_pinned(p: str) -> bool:
    if p.startswith(("git://", "git+ssh://", "git+http://", "git+https://", "github:")):
        return "#" in p
    if p.endswith((".tar", ".tar.gz", ".tgz")) or p.startswith(("/", "./", "../", "~/", "$", "file:")):
        return True
    name = p.split("/", 1)[1] if p.startswith("@") and "/" in p else p
    return "@" in name


def _rpm_pinned(p: str) -> bool:
    if p.endswith(".rpm") or p.startswith(("$", "/", "http://", "https://")):
        return True
    parts = p.split("-")
    return any(part[:1].isdigit() or part[:1] == "$" for part in parts[1:])


def unpinned_packages(cmd: Cmd) -> tuple[str, str, list[str]] | None:
    """(manager, hadolint code, unpinned packages) of a package-installing command, or None."""
    name, sub = cmd.name, cmd.subcommand()
    if name in ("apt-get", "apt") and sub == "install":
        pos = cmd.positional(("t", "target-release", "o", "option", "c", "config-file"))
        pkgs = pos[pos.index("install") + 1:] if "install" in pos else pos
        bad = [p for p in pkgs if not ("=" in p or "/" in p or p.endswith(".deb") or p.startswith("$"))]
        return (name, "DL3008", bad) if bad else None
    if name == "apk" and sub == "add":
        pos = cmd.positional(("t", "virtual", "X", "repository", "p", "root", "arch", "cache-dir", "keys-dir", "repositories-file"))
        pkgs = pos[pos.index("add") + 1:] if "add" in pos else pos
        bad = [p for p in pkgs if not ("=" in p or "~" in p or p.endswith(".apk") or p.startswith("$"))]
        return ("apk", "DL3018", bad) if bad else None
    if pip_install(cmd):
        pkgs = _pip_packages(cmd)
        bad = [p for p in pkgs or [] if not _pip_pinned(p)]
        return ("pip", "DL3013", bad) if bad else None
    npm = _npm_packages(cmd)
    if npm is not None:
        bad = [p for p in npm if not _npm_pinned(p)]
        return ("npm", "DL3016", bad) if bad else None
    if name == "gem" and sub in ("install", "i"):
        pos = cmd.positional(("v", "version", "s", "source", "i", "install-dir", "n", "bindir", "platform", "P", "trust-policy"))
        gems = [g for g in pos[pos.index(sub) + 1:] if g != "--"] if sub in pos else []
        versioned = cmd.has("v", "version")
        bad = [g for k, g in enumerate(gems) if ":" not in g and not g.startswith("$") and not (versioned and k == 0)]
        return ("gem", "DL3028", bad) if bad else None
    if name in ("yum", "dnf", "microdnf") and sub == "install" and "module" not in cmd.args:
        pos = cmd.positional(("c", "config", "x", "exclude", "releasever", "installroot", "setopt", "enablerepo", "disablerepo"))
        pkgs = pos[pos.index("install") + 1:]
        bad = [p for p in pkgs if not _rpm_pinned(p) and not p.startswith("@")]
        return (name, "DL3033" if name == "yum" else "DL3041", bad) if bad else None
    if name == "zypper" and sub in ("install", "in"):
        pos = cmd.positional(("r", "repo", "t", "type", "from"))
        pkgs = pos[pos.index(sub) + 1:]
        bad = [p for p in pkgs if not (re.search(r"[=<>]", p) or p.endswith(".rpm") or p.startswith("$"))]
        return ("zypper", "DL3037", bad) if bad else None
    return None


@rule("APP036", "unpinned-packages", "low", files="dockerfile",
      refs="CWE-1357; KICS apt_get_install_pin_version_not_defined and siblings", fix="manual")
def unpinned_packages_rule(stack: Stack):
    """A build step installs packages without a version.

    ## What it does
    Flags a `RUN` that installs packages without pinning their version, with hadolint's rules:
    `apt-get install` without `pkg=version` (DL3008; the value of `-t` is a release, not a package),
    `apk add` without `pkg=version` (DL3018), `pip install` without a version specifier (DL3013;
    `-r requirements.txt`, `-c constraints.txt` and `.` are not flagged), `npm install` without
    `@version` (DL3016, also `npm i`/`npm add`), `gem install` without `:version` or `-v` (DL3028;
    `-v` pins one gem), `yum`/`dnf` install without `pkg-version` (DL3033, DL3041) and `zypper install`
    without `pkg=version` (DL3037). The finding points at the `RUN` and names the packages.

    ## Why is this bad?
    The same Dockerfile builds different images on different days: a dependency's new major
    version breaks the build or, worse, changes behaviour in production, and the image's CVE
    exposure cannot be read from the Dockerfile.

    ## Example
    ```dockerfile
    RUN apt-get update && apt-get install -y --no-install-recommends curl
    ```

    ## Use instead
    ```dockerfile
    RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u7
    ```
    (or pin the base image by digest and accept the distribution's point releases).

    ## Fix safety
    Manual: the versions must come from the repository the image uses.

    ## References
    CWE-1357; hadolint DL3008, DL3013, DL3016, DL3018, DL3028, DL3033, DL3037, DL3041; KICS
    apt_get_install_pin_version_not_defined, unpinned_package_version_in_apk_add,
    unpinned_package_version_in_pip_install, npm_install_without_pinned_version,
    gem_install_without_version, yum_install_without_version,
    missing_version_specification_in_dnf_install, zypper_install_without_version.
    """
    for doc in stack.dockerfiles:
        for ins in doc.instructions:
            if ins.cmd != "RUN":
                continue
            seen = set()
            for cmd in run_cmds(ins):
                got = unpinned_packages(cmd)
                if got is None:
                    continue
                mgr, code, bad = got
                if (mgr, tuple(bad)) in seen:
                    continue
                seen.add((mgr, tuple(bad)))
                shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                yield hit(ins_loc(doc, ins), f"{mgr} installs {shown} without a version ({code}): builds are not reproducible",
                          snippet_key=f"RUN {mgr} {' '.join(bad[:5])}")
