"""Dockerfile knowledge the rules share: the effective stage chain, instructions and their
locations, shell commands of RUN, ARG expansion."""

from __future__ import annotations

import posixpath
import re

from scanner.model import Location

from rules.helpers.locations import LazyRe


# ---------------------------------------------------------------------------------------------
# Dockerfile helpers
# ---------------------------------------------------------------------------------------------

_VAR_RE = LazyRe(r"\$(?:\{(?P<b>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-+])?(?P<def>[^}]*)\}|(?P<n>[A-Za-z_][A-Za-z0-9_]*))")


def dockerfile_expand(text: str, args: dict[str, str | None]) -> str | None:
    """Substitute ``$VAR``/``${VAR}``/``${VAR:-default}`` from ``args`` (ARG defaults); None when a
    variable has no known value."""
    unknown = False

    def sub(m: re.Match) -> str:
        nonlocal unknown
        name = m.group("b") or m.group("n")
        val = args.get(name)
        op = m.group("op")
        if op in (":-", "-"):
            if val:
                return val
            return m.group("def") or ""
        if op in (":+", "+"):
            return (m.group("def") or "") if val else ""
        if val is None:
            unknown = True
            return ""
        return val

    out = _VAR_RE.sub(sub, text)
    return None if unknown else out


def global_args(doc) -> dict[str, str | None]:
    """ARGs declared before the first FROM, with their defaults (None: no default)."""
    out: dict[str, str | None] = {}
    first_from = doc.stages[0].line if doc.stages else 10**9
    for ins in doc.instructions:
        if ins.line >= first_from:
            break
        if ins.cmd == "ARG":
            raw_words = {w.split("=", 1)[0]: "=" in w for w, _o in ins.words()}
            for key, value, _l, _c in ins.env_pairs():
                out[key] = value if raw_words.get(key, bool(value)) else None
    return out


def stage_chain(doc, stage) -> list:
    """The stage and the earlier stages it is built ``FROM`` (nearest first)."""
    chain = [stage]
    seen = {stage.index}
    cur = stage
    while True:
        parent = None
        for s in doc.stages[: cur.index]:
            if s.name and s.name.lower() == cur.image.lower():
                parent = s
        if parent is None or parent.index in seen:
            return chain
        chain.append(parent)
        seen.add(parent.index)
        cur = parent


def root_image(doc, stage) -> str:
    """The registry image at the bottom of a stage's ``FROM`` chain (ARGs expanded when known)."""
    base = stage_chain(doc, stage)[-1].image
    expanded = dockerfile_expand(base, global_args(doc)) if "$" in base else base
    return expanded if expanded is not None else base


def last_instruction(doc, stage, *cmds: str):
    """The last instruction among ``cmds`` in the stage or, when it has none, in its parents."""
    for s in stage_chain(doc, stage):
        found = [i for i in s.instructions[1:] if i.cmd in cmds]
        if found:
            return found[-1]
    return None


def ins_loc(doc, ins, offset: int | None = None, length: int = 0) -> Location:
    """An instruction's location, narrowed to ``args[offset:offset+length]`` when given."""
    if offset is None:
        return Location(doc.path, ins.line, ins.col)
    line, col = ins.arg_pos(offset)
    if length:
        eline, ecol = ins.arg_pos(offset + length - 1)
        if eline == line:
            return Location(doc.path, line, col, line, ecol + 1)
    return Location(doc.path, line, col)


def shell_commands(text: str) -> list[list[tuple[str, int]]]:
    """A shell command line split into simple commands: lists of (word, offset). Good enough for
    the words rules look at (``sudo``, ``curl -k``, ``apt-get install``); quotes are kept whole."""
    out: list[list[tuple[str, int]]] = []
    cur: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n\\":
            i += 1
            continue
        if text.startswith(("&&", "||"), i) or ch in ";|&(){}`":
            if cur:
                out.append(cur)
                cur = []
            i += 2 if text.startswith(("&&", "||"), i) else 1
            continue
        start = i
        quote = ""
        while i < n:
            c = text[i]
            if quote:
                if c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c in " \t\r\n;|&()`" or (c == "\\" and i + 1 < n and text[i + 1] in "\n"):
                break
            i += 1
        word = text[start:i]
        if word in ("then", "do", "else", "!"):
            if cur:
                out.append(cur)
                cur = []
            continue
        cur.append((word.strip("'\""), start))
    if cur:
        out.append(cur)
    return out


def command_name(cmd: list[tuple[str, int]]) -> tuple[int, str]:
    """Index and name of a simple command's program, after ``VAR=value`` assignments and wrappers
    such as ``sudo``, ``env``, ``exec``, ``nohup``."""
    i = 0
    while i < len(cmd) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", cmd[i][0]):
        i += 1
    return (i, posixpath.basename(cmd[i][0])) if i < len(cmd) else (i, "")


def run_scripts(ins) -> list[tuple[str, int | None]]:
    """The shell text of a RUN (exec form joined; heredoc bodies too) with its offset in ``args``
    (None for heredoc bodies, which have no argument offset)."""
    out: list[tuple[str, int | None]] = []
    if ins.json is not None:
        words = list(ins.json)
        if len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash", "ash", "dash", "zsh") and words[1] in ("-c", "-ec", "-ex", "-exc", "-euc", "-eux", "-xc"):
            out.append((words[2], None))
        else:
            out.append((" ".join(words), None))
    else:
        out.append((ins.args, 0))
    for body in ins.heredocs:
        out.append((body, None))
    return out


def is_root_user(value: str) -> bool:
    user = value.strip().strip("'\"")
    name = user.split(":", 1)[0].strip()
    return name in ("root", "0")
