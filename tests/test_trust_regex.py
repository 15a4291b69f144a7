"""Trust, class 3, every regular expression: none backtracks super-linearly on hostile text.

The code's regexes are found by reading the source (not by listing them here, so a new one is
tested the day it is written): every ``re.compile``/``LazyRe`` bound to a name, and every
``re.search/match/fullmatch/findall/finditer/sub/split`` called with a literal pattern, in
``scanner/`` and ``rules/``. Each is run the way the code runs it (a compiled pattern only ever
used with ``.match``/``.fullmatch`` is tried anchored; any other use is tried at every position, as
``finditer``/``search`` do) on 40,000 characters made by repeating a token built from the pattern's
own literals and metacharacters — the inputs that make an ambiguous pattern rescan what it already
read. A linear pattern takes about a millisecond on 10,000 characters; one that takes visibly longer
is run again on four times the text, and fails if that costs over 9 times as much (a quadratic
pattern costs 16 times; the comparison of two runs of the same pattern keeps a loaded machine's
noise out), or over a generous hang guard.

Patterns applied only to dkscan's own text (its rule documentation) are listed in ``OWN_TEXT``
with the reason; nothing from a scanned repository reaches them.
"""

from __future__ import annotations

import ast
import random
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIZE = 10_000
SUSPECT = 0.05  # seconds at SIZE characters: a linear pattern takes about a millisecond here
BOUND = 30.0  # seconds at 4 x SIZE: a hang guard

# (file, pattern prefix) of patterns that only ever read dkscan's own rule documentation
OWN_TEXT = {
    ("scanner/report/html.py", "`([^`]+)`|"): "rule docs' inline markdown (markdown() renders docs/rules)",
    ("scanner/report/common.py", r"\[([^\]]+)\]\("): "plain_text() of rule docs (SARIF help text)",
}

# (file, pattern prefix) -> how the code runs it, where reading the source cannot tell: patterns held
# in a tuple or a dict and called through a loop variable
USED_AS = {
    ("scanner/secretcheck.py", "[^A-Za-z0-9]{0,2}([A-Za-z]"): ["fullmatch"],  # (_WORD_THEN_DIGITS, …)
    ("scanner/secretcheck.py", "[^A-Za-z0-9]{0,2}\\d{1,8}"): ["fullmatch"],  # _DIGITS_THEN_WORD
    ("scanner/parsers/nginx.py", '"(('): ["match"],  # _QUOTED[c].match(text, pos); unterminated: lexing stops
    ("scanner/parsers/nginx.py", "'(("): ["match"],
}

_FLAGS = {"I": re.I, "IGNORECASE": re.I, "M": re.M, "MULTILINE": re.M, "S": re.S, "DOTALL": re.S,
          "X": re.X, "VERBOSE": re.X, "A": re.A, "ASCII": re.A}
_CALLS = {"search": "search", "match": "match", "fullmatch": "fullmatch", "findall": "finditer",
          "finditer": "finditer", "sub": "finditer", "subn": "finditer", "split": "finditer"}


def _const_str(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = _const_str(node.left), _const_str(node.right)
        return a + b if a is not None and b is not None else None
    return None


def _const_flags(node) -> int | None:
    if node is None:
        return 0
    if isinstance(node, ast.Attribute) and node.attr in _FLAGS:
        return _FLAGS[node.attr]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        a, b = _const_flags(node.left), _const_flags(node.right)
        return a | b if a is not None and b is not None else None
    return None


def _collect():
    """(where, pattern, flags, modes) of every pattern in the code."""
    files = sorted(p for d in ("scanner", "rules") for p in (ROOT / d).rglob("*.py"))
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in files}
    uses: dict[str, set[str]] = {}  # name -> methods called on it anywhere
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                uses.setdefault(node.value.id, set()).add(node.attr)
            elif isinstance(node, ast.Name) and not isinstance(getattr(node, "ctx", None), ast.Store):
                uses.setdefault(node.id, set())
    out, seen = [], set()
    for path, tree in trees.items():
        rel = path.relative_to(ROOT).as_posix()
        named = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                named[id(node.value)] = node.targets[0].id
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            f = node.func
            fname = f.attr if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "re" \
                else (f.id if isinstance(f, ast.Name) and f.id == "LazyRe" else None)
            if fname not in ("compile", "LazyRe", *_CALLS):
                continue
            pattern = _const_str(node.args[0])
            if pattern is None:
                continue
            flag_node = next((k.value for k in node.keywords if k.arg == "flags"), None)
            if flag_node is None:
                pos = 1 if fname in ("compile", "LazyRe") else (3 if fname in ("sub", "subn") else 2)
                flag_node = node.args[pos] if len(node.args) > pos else None
            flags = _const_flags(flag_node)
            if flags is None:
                continue
            if fname in ("compile", "LazyRe"):
                methods = uses.get(named.get(id(node), ""), set()) & {"match", "fullmatch", "search", "findall",
                                                                    "finditer", "sub", "subn", "split"}
                modes = {_CALLS[m] for m in methods} or {"finditer"}
                if not methods - {"match", "fullmatch"} and methods:
                    modes = {_CALLS[m] for m in methods}
            else:
                modes = {_CALLS[fname]}
            key = (pattern, flags, tuple(sorted(modes)))
            if key in seen:
                continue
            seen.add(key)
            if any(rel == f_ and pattern.startswith(p_) for f_, p_ in OWN_TEXT):
                continue
            modes = next((m_ for (f_, p_), m_ in USED_AS.items() if rel == f_ and pattern.startswith(p_)), modes)
            out.append((f"{rel}:{node.lineno}", pattern, flags, sorted(modes)))
    return out


PATTERNS = _collect()


def _tokens(pattern: str) -> list[str]:
    words = set(re.findall(r"[A-Za-z_][A-Za-z_\-]{1,20}", pattern))
    chars = {c for c in pattern if c.isprintable() and not c.isalnum()} | {" ", "\t", "\n", "a", "A", "1", "_"}
    lits = sorted(words | chars)
    rnd = random.Random(pattern.encode("utf-8", "surrogatepass"))
    toks = sorted(chars) + [w + " " for w in sorted(words)] + sorted(words)
    toks += ["".join(rnd.choice(lits) for _ in range(rnd.randint(2, 4))) for _ in range(20)]
    return toks


def _run(rx: re.Pattern, mode: str, text: str) -> None:
    if mode == "finditer":
        for _ in rx.finditer(text):
            pass
    else:
        getattr(rx, mode)(text)


def test_the_walk_finds_the_code_patterns():
    """The collector sees what the code holds (so that the test below is not vacuous)."""
    wheres = {w.split(":")[0] for w, *_ in PATTERNS}
    assert len(PATTERNS) > 200
    assert {"scanner/spans.py", "scanner/parsers/compose.py", "scanner/secretcheck.py"} <= wheres
    assert any(w.startswith("rules/") for w in wheres)


@pytest.mark.parametrize("where,pattern,flags,modes", PATTERNS, ids=[p[0] for p in PATTERNS])
def test_pattern_is_linear_on_repeated_tokens(where, pattern, flags, modes):
    rx = re.compile(pattern, flags)
    for token in _tokens(pattern):
        for mode in modes:
            took = _took(rx, mode, token, SIZE)
            if took < SUSPECT:
                continue
            # slow enough to look at: 4x the text costs 4x for a linear pattern, 16x for a quadratic one
            bigger = _took(rx, mode, token, 4 * SIZE)
            assert not (bigger > 1.0 and bigger / took > 9), (
                f"{where}: {mode} on {token!r} repeated: {took:.2f}s at {SIZE} chars, {bigger:.2f}s at {4 * SIZE}")
            assert bigger < BOUND, f"{where}: {mode} on {token!r} repeated to {4 * SIZE} chars took {bigger:.1f}s"


def _took(rx: re.Pattern, mode: str, token: str, size: int) -> float:
    text = token * (size // len(token) + 1)
    start = time.perf_counter()
    _run(rx, mode, text)
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# A run inside a line: ``Banner a`` + 200,000 blanks + ``b``. An ambiguous pattern such as
# ``(.*?)[ \t]*$`` is linear on a run that ends the text (``$`` matches at once) and quadratic on one
# that something follows, which the repeated tokens above never build. So for every pattern, a
# string it (nearly) matches is built from its own syntax tree, and a long run of blanks, or of the
# character before the cut, is put at points across it, followed by the rest and an unmatched byte.
# --------------------------------------------------------------------------------------------

try:
    from re import _parser as _sre_parse  # Python 3.11+
    from re import _constants as _sre_c
except ImportError:  # pragma: no cover
    import sre_constants as _sre_c
    import sre_parse as _sre_parse

RUN = 3_000  # characters of a run: a quadratic pattern takes ~0.5 s here, a linear one ~0.1 ms


def _pick(items) -> str:
    """A character an ``IN`` set allows (a printable one where possible)."""
    neg = any(op == _sre_c.NEGATE for op, _ in items)
    allowed: list[int] = []
    for op, av in items:
        if op == _sre_c.LITERAL:
            allowed.append(av)
        elif op == _sre_c.RANGE:
            allowed.append(av[0])
        elif op == _sre_c.CATEGORY:
            allowed.append({_sre_c.CATEGORY_DIGIT: 49, _sre_c.CATEGORY_SPACE: 32, _sre_c.CATEGORY_WORD: 97}.get(av, 98))
    if neg:
        return next(c for c in "ab1 _-" if ord(c) not in allowed)
    return chr(allowed[0]) if allowed else "a"


def _witness(parsed, groups=None) -> str:
    groups = {} if groups is None else groups
    out = []
    for op, av in parsed:
        if op == _sre_c.LITERAL:
            out.append(chr(av))
        elif op == _sre_c.NOT_LITERAL:
            out.append("a" if av != ord("a") else "b")
        elif op == _sre_c.ANY:
            out.append("a")
        elif op == _sre_c.IN:
            out.append(_pick(av))
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, getattr(_sre_c, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = av
            out.append(_witness(sub, groups) * max(lo, min(1, hi)))
        elif op == _sre_c.SUBPATTERN:
            text = _witness(av[-1], groups)
            if av[0] is not None:
                groups[av[0]] = text
            out.append(text)
        elif op == _sre_c.BRANCH:
            out.append(_witness(av[1][0], groups))
        elif op == _sre_c.GROUPREF:
            out.append(groups.get(av, ""))
        elif op == _sre_c.ATOMIC_GROUP if hasattr(_sre_c, "ATOMIC_GROUP") else False:
            out.append(_witness(av, groups))
    return "".join(out)


def _runs(pattern: str, flags: int):
    w = _witness(_sre_parse.parse(pattern, flags))[:200]
    cuts = sorted({round(k * len(w) / 5) for k in range(6)})
    for i in cuts:
        for fill in dict.fromkeys((" ", "\t", w[i - 1] if i else "a")):
            yield w[:i], fill, w[i:] + "\x00"


@pytest.mark.parametrize("where,pattern,flags,modes", PATTERNS, ids=[p[0] for p in PATTERNS])
def test_pattern_is_linear_on_a_run_inside_a_line(where, pattern, flags, modes):
    rx = re.compile(pattern, flags)
    for head, fill, tail in _runs(pattern, flags):
        for mode in modes:
            # a quarter run first, and no 4x run of a pattern already slow: a cubic pattern would spend
            # minutes on the bigger texts before the guard below could fail it
            small = _took_text(rx, mode, head + fill * (RUN // 4) + tail)
            assert small < BOUND / 100, f"{where}: {mode} on a run of {fill!r} * {RUN // 4} took {small:.2f}s"
            took = _took_text(rx, mode, head + fill * RUN + tail)
            if took < SUSPECT:
                continue
            assert took < BOUND / 16, f"{where}: {mode} on a run of {fill!r} * {RUN} took {took:.2f}s"
            bigger = _took_text(rx, mode, head + fill * (4 * RUN) + tail)
            assert not (bigger > 0.5 and bigger / took > 9), (
                f"{where}: {mode} on {head[:30]!r} + {fill!r} * n + {tail[:30]!r}: {took:.2f}s at n={RUN}, {bigger:.2f}s at {4 * RUN}")
            assert bigger < BOUND, f"{where}: {mode} on a run of {fill!r} took {bigger:.1f}s"


def test_the_run_test_sees_the_named_quadratic_shapes():
    """The witness and run construction reaches the shapes of the reported hangs (so the test above
    is not vacuous): each of these old patterns is quadratic on one of the texts it builds."""
    old = [(r"^([ \t]*)([A-Za-z0-9]+)(?:[ \t]*=[ \t]*|[ \t]+|$)(.*?)[ \t]*$", "match"),  # sshd _LINE
           (r"^([^\s=:#;\[][^=:]*?)[ \t]*[=:][ \t]*(.*)$", "match"),  # fail2ban _KEY
           (r"\breason:\s*(?P<reason>.*?)\s*(?=\buntil:|$)", "finditer"),  # suppress _REASON
           (r"#[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(.*?)[ \t]*$", "fullmatch")]  # Dockerfile directive
    for pattern, mode in old:
        rx = re.compile(pattern)
        worst = max(_took_text(rx, mode, h + f * RUN + t) for h, f, t in _runs(pattern, 0))
        assert worst > 20 * _took_text(rx, mode, "a" * RUN), pattern


def _took_text(rx: re.Pattern, mode: str, text: str) -> float:
    start = time.perf_counter()
    _run(rx, mode, text)
    return time.perf_counter() - start
