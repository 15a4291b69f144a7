"""Application, host-script hygiene: code downloaded and run unverified, world-writable modes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.host import cmd_loc, host_scripts, word_loc
from scanner.model import hit
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

_SHELLS = LazyRe(r"^(sh|bash|zsh|dash|ksh|ash|python[\d.]*|perl|ruby|node)$")
_FETCH = {"curl", "wget"}


@rule("APP080", "remote-script-to-shell", "medium", files="script", refs="CWE-494; sg curl-pipe-bash, curl-eval")
def remote_script_to_shell(stack: Stack):
    """A script runs code it downloads, without verifying it.

    ## What it does
    Flags `curl`/`wget` output piped to `sh`/`bash`/`zsh`/`python*` (also through `sudo [-E]`),
    `bash <(curl …)`, `sh -c "$(curl …)"` and `eval "$(curl …)"`.

    ## Why is this bad?
    Whoever controls the URL, its DNS, or a proxy on the way runs code as this script's user — root,
    for a provisioning script. A truncated download runs half a script.

    ## Example
    ```sh
    curl -fsSL https://get.docker.com | sh
    ```

    ## Use instead
    ```sh
    curl -fsSLo get-docker.sh https://get.docker.com
    echo "<sha256>  get-docker.sh" | sha256sum -c -
    sh get-docker.sh
    ```

    ## References
    CWE-494; semgrep curl-pipe-bash, curl-eval.
    """
    for doc in host_scripts(stack):
        seen = set()
        for cmd in doc.commands:
            if cmd.name not in _FETCH:
                continue
            target = None
            if len(cmd.pipeline) > 1 and cmd.pipeline[-1] is not cmd:
                after = cmd.pipeline[cmd.pipeline.index(cmd) + 1:]
                if any(_SHELLS.match(c.name or "") for c in after):
                    target = cmd
            if target is None and cmd.in_subst and cmd.subst_of is not None:
                owner = cmd.subst_of
                if _SHELLS.match(owner.name or "") or owner.name in ("eval", "source", "."):
                    target = cmd
            if target is not None and target.line not in seen:
                seen.add(target.line)
                yield hit(cmd_loc(doc.path, target), f"`{cmd.name}` output is run as code without a checksum or "
                          "signature check", snippet_key=" ".join(cmd.argv[:2]))


def _octal_others_write(mode: str, directory_ok_sticky: bool = True) -> bool:
    if not re.fullmatch(r"0?[0-7]{3,4}", mode):
        return False
    m = mode[-4:] if len(mode) >= 4 else mode
    last = int(m[-1])
    if last not in (2, 3, 6, 7):
        return False
    if len(m) == 4 and int(m[0]) & 1 and directory_ok_sticky:
        return False  # 1777: sticky directory (like /tmp)
    return True


def _symbolic_others_write(mode: str) -> bool:
    for clause in mode.split(","):
        m = re.fullmatch(r"([ugoa]*)([-+=])([rwxXst]*)", clause)
        if m and m.group(2) in "+=" and "w" in m.group(3) and (("o" in m.group(1)) or ("a" in m.group(1))):
            return True
    return False


@rule("APP081", "world-writable-permission", "medium", files="script", refs="CWE-732")
def world_writable_permission(stack: Stack):
    """A script makes a file or directory writable by every user.

    ## What it does
    Flags `chmod` (also `-R`), `install -m` and `mkdir -m` with a mode granting others write (octal
    last digit 2, 3, 6 or 7, e.g. `777`, `666`; a sticky `1777` passes), symbolic `o+w`, `a+w`,
    `ugo+w`; and `umask` `000`, `001`, `004`, `005`.

    ## Why is this bad?
    Any local user or compromised service can replace a deploy script, an env file or a backup, and
    the next deploy runs or serves what they wrote.

    ## Example
    ```sh
    chmod -R 777 /opt/app
    ```

    ## Use instead
    ```sh
    chmod -R u=rwX,g=rX,o= /opt/app
    ```

    ## References
    CWE-732.
    """
    for doc in host_scripts(stack):
        for cmd in doc.flow:
            name = cmd.name
            args = cmd.args
            mode_word = None
            if name == "chmod":
                for w in args:
                    v = w.value or ""
                    if v.startswith("-") and not re.fullmatch(r"-[rwxXst]+", v):
                        continue
                    mode_word = w
                    break
                if mode_word is not None:
                    v = mode_word.value or ""
                    bad = _octal_others_write(v) or _symbolic_others_write(v)
                    if bad:
                        yield hit(word_loc(doc.path, mode_word), f"`chmod {v}` lets every user write", snippet_key=f"chmod {v}")
            elif name in ("install", "mkdir"):
                for i, w in enumerate(args):
                    v = w.value or ""
                    mv = None
                    if v in ("-m", "--mode") and i + 1 < len(args):
                        mv = args[i + 1]
                    elif v.startswith("--mode="):
                        mv = w
                    if mv is not None:
                        m = (mv.value or "").split("=", 1)[-1] if (mv.value or "").startswith("--mode=") else (mv.value or "")
                        if _octal_others_write(m, directory_ok_sticky=(name == "mkdir")) or _symbolic_others_write(m):
                            yield hit(word_loc(doc.path, mv), f"`{name} -m {m}` lets every user write", snippet_key=f"{name} {m}")
            elif name == "umask" and args:
                v = args[-1].value or ""
                if re.fullmatch(r"[0-7]{1,4}", v) and v[-1] in "0145":
                    yield hit(word_loc(doc.path, args[-1]), f"`umask {v}` creates files every user can write",
                              snippet_key=f"umask {v}")
