"""Dockerfile knowledge the rules share: the effective stage chain, instructions and their
locations, shell commands of RUN, ARG expansion."""

from __future__ import annotations

import posixpath
import re

from rules.helpers.locations import LazyRe
from scanner.model import Location

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


def stage_label(doc, stage) -> str:
    """How a message names the stage that runs: "the final stage", or "the target stage `builder`"
    when compose builds a ``build.target`` other than the last stage."""
    if stage is not None and stage is not doc.last_stage and stage.name:
        return f"the target stage `{stage.name}`"
    return "the final stage"


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


def copy_sources(ins) -> list[tuple[str, int | None]]:
    """(source, offset in args) of a COPY/ADD (the destination excluded)."""
    if ins.json is not None:
        return [(s, None) for s in ins.json[:-1]]
    words = ins.words()
    if ins.heredocs:
        words = [w for w in words if not w[0].startswith("<<")]
    return words[:-1]


# ---------------------------------------------------------------------------------------------
# P2 Dockerfile hygiene: APP034, APP036, APP044, APP045 (hadolint's DL rules, cited in the catalog)
# ---------------------------------------------------------------------------------------------

_WRAPPERS = {"sudo", "env", "exec", "nohup", "time", "command", "nice", "ionice", "stdbuf", "doas"}
_SUDO_ARG_FLAGS = {"-u", "-g", "-C", "-h", "-p", "-r", "-t", "-U", "--user", "--group"}


class Cmd:
    """A simple command of a RUN: its program (after ``VAR=x`` assignments and wrappers such as
    ``sudo``/``env``) and its arguments, quotes removed."""

    __slots__ = ("name", "args", "text")

    def __init__(self, name: str, args: list[str], text: str):
        self.name = name
        self.args = args
        self.text = text

    def flags(self) -> set[str]:
        """Flag names: ``-qy`` gives q and y, ``--no-cache=x`` gives no-cache."""
        out: set[str] = set()
        for a in self.args:
            if a in ("-", "--") or not a.startswith("-"):
                continue
            if a.startswith("--"):
                out.add(a[2:].split("=", 1)[0].lower())
            else:
                body = a[1:].split("=", 1)[0]
                out.update(body)
        return out

    def has(self, *names: str) -> bool:
        fl = self.flags()
        return any(n in fl for n in names)

    def positional(self, with_value: tuple[str, ...] = ()) -> list[str]:
        """Arguments that are not flags, skipping the value of the flags in ``with_value``
        (``-t`` or ``--target-release`` given as ``t``, ``target-release``)."""
        out: list[str] = []
        skip = False
        for a in self.args:
            if skip:
                skip = False
                continue
            if a == "--":
                continue
            if a.startswith("-") and len(a) > 1:
                name = a[2:] if a.startswith("--") else a[1:]
                if "=" in name:
                    continue
                if (a.startswith("--") and name in with_value) or (not a.startswith("--") and name[-1:] in with_value and len(name) >= 1):
                    skip = True
                continue
            out.append(a)
        return out

    def subcommand(self) -> str:
        pos = self.positional()
        return pos[0].lower() if pos else ""


def _strip_wrappers(words: list[str]) -> list[str]:
    i = 0
    while i < len(words):
        w = words[i]
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w):
            i += 1
            continue
        base = posixpath.basename(w)
        if base in _WRAPPERS:
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 2 if words[i] in _SUDO_ARG_FLAGS and base in ("sudo", "doas") else 1
            continue
        break
    return words[i:]


def run_cmds(ins) -> list[Cmd]:
    """Every simple command of a RUN (shell form, exec form, ``sh -c`` scripts and heredocs)."""
    out: list[Cmd] = []
    if ins.json is not None:
        words = list(ins.json)
        if len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash", "ash", "dash", "zsh") and re.fullmatch(r"-[a-z]*c", words[1] or ""):
            scripts = [words[2]]
        else:
            words = _strip_wrappers(words)
            if words:
                out.append(Cmd(posixpath.basename(words[0]), words[1:], " ".join(words)))
            scripts = []
    else:
        scripts = [ins.args]
    scripts += list(ins.heredocs)
    for script in scripts:
        for cmd in shell_commands(script):
            words = _strip_wrappers([w for w, _o in cmd])
            if words:
                out.append(Cmd(posixpath.basename(words[0]), words[1:], " ".join(words)))
    return out


def run_text(ins) -> str:
    if ins.json is not None:
        return " ".join(ins.json)
    return "\n".join([ins.args, *ins.heredocs])


def pip_install(cmd: Cmd) -> bool:
    if re.fullmatch(r"pip(\d+(\.\d+)?)?", cmd.name):
        return cmd.subcommand() == "install"
    if re.fullmatch(r"python(\d+(\.\d+)?)?", cmd.name):
        a = cmd.args
        for i in range(len(a) - 2):
            if a[i] == "-m" and a[i + 1] in ("pip", "pip3") and "install" in a[i + 2:]:
                return True
    return False


_ENV_DOLLAR_NAME = LazyRe(r"[A-Za-z0-9_]+")
_ENV_BRACE_END = LazyRe(r"[}:]")


def env_refs(value: str) -> set[str]:
    """The variables ``value`` references, as ``re.findall(r"\\$(?:\\{([^}:]*)[}:]|([A-Za-z0-9_]+))")``
    reads them (``${NAME}``, ``${NAME:-x}``, ``$NAME``), in linear time: the regex searched for the
    closing ``}``/``:`` again from every ``${`` (quadratic on ``${${${…``)."""
    out: set[str] = set()
    pos, n = 0, len(value)
    close = -1  # the first `}`/`:` at or after the last place looked from (-2: none left)
    while True:
        pos = value.find("$", pos)
        if pos < 0 or pos + 1 >= n:
            return out
        if value[pos + 1] == "{":
            if close != -2 and close < pos + 2:
                m = _ENV_BRACE_END.search(value, pos + 2)
                close = m.start() if m else -2
            if close >= 0:
                out.add(value[pos + 2:close])
                pos = close + 1
                continue
            pos += 1
            continue
        m = _ENV_DOLLAR_NAME.match(value, pos + 1)
        if m:
            out.add(m.group(0))
            pos = m.end()
            continue
        pos += 1
