"""Shell scripts (``deploy-prod.sh``, ``scripts/*.sh``), parsed with tree-sitter-bash.

bashlex was tried first (the brief names it) and rejects real deploy scripts: it has no arrays
(``compose=(docker compose -f x.yml)``), which is exactly how such scripts hold their compose
command. tree-sitter-bash parses the whole bash grammar (arrays, ``case``, ``[[ ]]``, ``$(( ))``,
heredocs) and keeps going after an error, so the rest of a script with one bad line is still read.

What this module adds on top of the syntax tree, and why by hand (no library does it):

- ``Word``: one argument with its position, its static value when it has one (quotes removed,
  escapes resolved) and the variables it expands;
- ``Command``: a simple command with its words, its prefix assignments (``PGPASSWORD=x pg_dump``),
  redirections, and the pipeline it belongs to; ``argv`` strips ``sudo``/``env``/``command``/``exec``
  wrappers;
- control flow in source order, with a function's body counted where it is *called* (the catalog's
  "a function counts where it is called"), depth-limited;
- simple variables and arrays resolved along that flow (``"${compose[@]}" up -d`` becomes
  ``docker compose --env-file .env.prod -f x.yml up -d`` at the use site's position).

A syntax error becomes a ``ParseError`` at tree-sitter's first ERROR/MISSING node (OPS081).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .base import Document, ParseError
from ..plain import FACTORY as _FACTORY
from ..lazyre import LazyRe

__all__ = ["Word", "Command", "Assignment", "ScriptDocument", "parse", "is_shell_shebang"]

MAX_CALL_DEPTH = 8
MAX_FLOW = 20_000  # commands in one script's flow (function calls inlined)

_SHEBANG = LazyRe(r"#![ \t]*(?:/usr)?(?:/local)?/bin/(?:env[ \t]+(?:-S[ \t]+)?)?(sh|bash|dash|zsh|ksh|ash)\b([^\n]*)")
_WRAPPERS = {"sudo", "env", "command", "exec", "nohup", "time", "nice", "ionice", "doas", "stdbuf", "timeout"}
_SUDO_OPTS_WITH_ARG = {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user", "--group"}


def is_shell_shebang(first_line: str) -> bool:
    return bool(_SHEBANG.match(first_line or ""))


@lru_cache(maxsize=1)
def _parser():
    import tree_sitter
    import tree_sitter_bash

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


# tree-sitter's error recovery is quadratic on nested unterminated constructs (``a=(`` or ``<<EOF``
# repeated: 24 KB took 2 s, 300 KB would take minutes), and py-tree-sitter has no time limit. The
# parser's own log counts its steps (shift, reduce, recover...): real scripts take at most ~4 per
# byte (every script of the fixtures and the corpus), so a budget of PARSE_ACTIONS_PER_BYTE per byte
# plus PARSE_ACTIONS_BASE cancels only hostile input. Counted steps, not seconds: the same file gets
# the same answer on any machine and under any load.
PARSE_ACTIONS_BASE = 200_000
PARSE_ACTIONS_PER_BYTE = 12


class _OverBudget(Exception):
    pass


# A deploy or host script is kilobytes; one over this is not analysed (OPS081): the counted parse
# below and the tree's reading cost ~9 s of CPU per megabyte here, and a pull request can hold many.
MAX_SCRIPT_BYTES = 1_000_000


def _parse_bounded(src: bytes):
    return _parse_counted(src)


def _parse_counted(src: bytes):
    parser = _parser()
    budget = PARSE_ACTIONS_BASE + PARSE_ACTIONS_PER_BYTE * len(src)
    steps = 0

    def log(_type, _message) -> None:
        nonlocal steps
        steps += 1

    parser.logger = log
    try:
        # the progress callback is honoured only when the source comes from a read callback
        return parser.parse(lambda offset, _point: src[offset:offset + 65536],
                            progress_callback=lambda *_state: steps > budget)
    except ValueError:  # "Parsing failed": cancelled by the progress callback
        if steps > budget:
            raise _OverBudget from None
        raise
    finally:
        parser.logger = None
        parser.reset()


class Word:
    """One word of a command, as written."""

    text: str  # source text
    value: str | None  # static value (quotes removed), None when it expands something
    line: int
    col: int
    end_line: int
    end_col: int
    vars: tuple[str, ...] = ()  # variables it expands (outside command substitutions)
    subst: bool = False  # holds a command substitution
    quoted: bool = False
    kind: str = "word"
    from_var: str | None = None  # resolved from this variable at its use site (not written here)

    __match_args__ = ("text", "value", "line", "col", "end_line", "end_col", "vars", "subst", "quoted", "kind", "from_var")

    def __init__(self, text, value, line, col, end_line, end_col, vars=(), subst=False, quoted=False, kind="word", from_var=None):
        self.text = text
        self.value = value
        self.line = line
        self.col = col
        self.end_line = end_line
        self.end_col = end_col
        self.vars = vars
        self.subst = subst
        self.quoted = quoted
        self.kind = kind
        self.from_var = from_var

    @property
    def str(self) -> str:
        """Value when static, else the source text."""
        return self.value if self.value is not None else self.text

    def __repr__(self) -> str:
        return f"Word({self.text!r}@{self.line}:{self.col})"


class Redirect:
    op: str  # '>', '>>', '<', '2>', '&>', '<<', ...
    target: Word | None
    line: int
    col: int
    body: str | None = None  # a heredoc's body

    __match_args__ = ("op", "target", "line", "col", "body")

    def __init__(self, op, target, line, col, body=None):
        self.op = op
        self.target = target
        self.line = line
        self.col = col
        self.body = body


class Assignment:
    """``NAME=value``, ``NAME=(a b)``, ``export NAME=value``, ``local NAME=value``."""

    name: str
    words: list[Word]  # one word for a scalar, the elements for an array
    array: bool
    line: int
    col: int
    end_line: int
    end_col: int
    export: bool = False
    prefix_of: "Command | None" = None  # ``NAME=value cmd``: only for that command

    __match_args__ = ("name", "words", "array", "line", "col", "end_line", "end_col", "export", "prefix_of")

    def __init__(self, name, words, array, line, col, end_line, end_col, export=False, prefix_of=None):
        self.name = name
        self.words = words
        self.array = array
        self.line = line
        self.col = col
        self.end_line = end_line
        self.end_col = end_col
        self.export = export
        self.prefix_of = prefix_of

    @property
    def value(self) -> Word | None:
        return self.words[0] if self.words and not self.array else None


class Command:
    """A simple command (after variable resolution) at its place in the script."""

    words: list[Word]
    line: int
    col: int
    end_line: int
    end_col: int
    assigns: list[Assignment]
    redirects: list[Redirect]
    pipeline: list["Command"]  # the commands of its pipeline (itself included)
    function: str | None = None  # the function whose body holds it
    in_subst: bool = False  # inside ``$(...)``/backticks/``<(...)``
    subst_of: "Command | None" = None  # the command whose word holds that substitution
    negated: bool = False
    heredoc: str | None = None

    __match_args__ = ("words", "line", "col", "end_line", "end_col", "assigns", "redirects", "pipeline", "function", "in_subst", "subst_of", "negated", "heredoc")

    def __init__(self, words, line, col, end_line, end_col, assigns=_FACTORY, redirects=_FACTORY, pipeline=_FACTORY, function=None, in_subst=False, subst_of=None, negated=False, heredoc=None):
        self.words = words
        self.line = line
        self.col = col
        self.end_line = end_line
        self.end_col = end_col
        self.assigns = list() if assigns is _FACTORY else assigns
        self.redirects = list() if redirects is _FACTORY else redirects
        self.pipeline = list() if pipeline is _FACTORY else pipeline
        self.function = function
        self.in_subst = in_subst
        self.subst_of = subst_of
        self.negated = negated
        self.heredoc = heredoc

    @property
    def argv(self) -> list[str]:
        return [w.str for w in self.words]

    @property
    def start(self) -> int:
        """Index of the real command after wrappers (``sudo -E``, ``env A=b``, ``command``)."""
        i = 0
        ws = self.words
        while i < len(ws):
            v = ws[i].value
            if v is None:
                return i
            base = v.rsplit("/", 1)[-1]
            if base not in _WRAPPERS:
                return i
            wrapper = i
            i += 1
            while i < len(ws) and ws[i].value is not None:
                a = ws[i].value
                if base == "env" and "=" in a and not a.startswith("-"):
                    i += 1
                    continue
                if base == "timeout" and re.fullmatch(r"\d+[smhd]?", a):
                    i += 1
                    break
                if a.startswith("-"):
                    i += 2 if (base in ("sudo", "doas") and a in _SUDO_OPTS_WITH_ARG) or (base == "nice" and a == "-n") else 1
                    continue
                break
            if i >= len(ws):
                return wrapper  # `env`, `time` alone: the wrapper is the command
        return i

    @property
    def name(self) -> str:
        """The command run (basename), wrappers stripped; '' when dynamic or empty."""
        i = self.start
        if i >= len(self.words) or self.words[i].value is None:
            return ""
        return self.words[i].value.rsplit("/", 1)[-1]

    @property
    def args(self) -> list[Word]:
        """Words after the command name."""
        return self.words[self.start + 1:]

    @property
    def sudo(self) -> bool:
        return any((w.value or "").rsplit("/", 1)[-1] in ("sudo", "doas") for w in self.words[: self.start])

    def __repr__(self) -> str:
        return f"Command({' '.join(self.argv)!r}@{self.line})"


@dataclass(repr=False)
class ScriptDocument(Document):
    """A parsed shell script."""

    shebang: str = ""
    commands: list[Command] = field(default_factory=list)  # source order, every simple command
    flow: list[Command] = field(default_factory=list)  # execution order, functions inlined at calls
    assignments: list[Assignment] = field(default_factory=list)  # source order
    functions: dict[str, int] = field(default_factory=dict)  # name -> line
    heredocs: list[tuple[int, str]] = field(default_factory=list)  # (line, body)
    comments: list[tuple[int, str]] = field(default_factory=list)  # (line, text after '#'): suppressions


# --------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, src: bytes, text: str):
        self.src = src
        self.text = text
        self.lines = src.split(b"\n")
        self.commands: list[Command] = []
        self.assignments: list[Assignment] = []
        self.functions: dict[str, object] = {}
        self.heredocs: list[tuple[int, str]] = []

    # positions ----------------------------------------------------------------------------
    def pos(self, point) -> tuple[int, int]:
        row, colb = point
        line = self.lines[row] if row < len(self.lines) else b""
        return row + 1, len(line[:colb].decode("utf-8", "replace")) + 1

    def node_text(self, n) -> str:
        return self.src[n.start_byte:n.end_byte].decode("utf-8", "replace")

    # words --------------------------------------------------------------------------------
    def word(self, n) -> Word:
        vars_: list[str] = []
        flags = {"subst": False, "quoted": False}
        value = self._value(n, vars_, flags)
        (l1, c1), (l2, c2) = self.pos(n.start_point), self.pos(n.end_point)
        return Word(self.node_text(n), value, l1, c1, l2, c2, tuple(vars_), flags["subst"], flags["quoted"], n.type)

    def _value(self, n, vars_: list, flags: dict) -> str | None:
        t = n.type
        if t in ("word", "number", "extglob_pattern", "variable_name", "special_variable_name"):
            raw = self.node_text(n)
            if t == "word":
                return re.sub(r"\\(.)", r"\1", raw.replace("\\\n", "")) if "\\" in raw else raw
            return raw
        if t == "raw_string":
            flags["quoted"] = True
            return self.node_text(n)[1:-1]
        if t == "ansi_c_string":
            flags["quoted"] = True
            return self.node_text(n)[2:-1]
        if t == "string":
            flags["quoted"] = True
            out = []
            static = True
            prev_end = n.start_byte + 1
            for c in n.children:
                if c.type == '"':
                    continue
                # text between named children is literal string content
                if c.start_byte > prev_end:
                    out.append(self.src[prev_end:c.start_byte].decode("utf-8", "replace"))
                prev_end = c.end_byte
                v = self._value(c, vars_, flags) if c.type != "string_content" else re.sub(r'\\([$`"\\\n])', r"\1", self.node_text(c))
                if v is None:
                    static = False
                else:
                    out.append(v)
            end = n.end_byte - 1
            if end > prev_end:
                out.append(self.src[prev_end:end].decode("utf-8", "replace"))
            return "".join(out) if static else None
        if t == "concatenation":
            out = []
            static = True
            for c in n.children:
                v = self._value(c, vars_, flags)
                if v is None:
                    static = False
                else:
                    out.append(v)
            return "".join(out) if static else None
        if t in ("simple_expansion", "expansion"):
            for c in n.children:
                if c.type in ("variable_name", "special_variable_name"):
                    vars_.append(self.node_text(c))
                    break
                if c.type == "subscript":
                    for cc in c.children:
                        if cc.type == "variable_name":
                            vars_.append(self.node_text(cc))
                            break
                    break
            else:
                m = re.match(r"\$\{?[#!]?([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])", self.node_text(n))
                if m:
                    vars_.append(m.group(1))
            # command substitutions inside ${x:-$(...)} still run
            self._collect_substs(n)
            return None
        if t in ("command_substitution", "process_substitution", "arithmetic_expansion"):
            flags["subst"] = flags["subst"] or t != "arithmetic_expansion"
            self._collect_substs(n, root=True)
            return None
        if t == "string_content":
            return self.node_text(n)
        # anything else (brace expressions, arrays...) is dynamic
        self._collect_substs(n)
        return None

    def _collect_substs(self, n, root: bool = False) -> None:
        if root and n.type in ("command_substitution", "process_substitution"):
            self.pending_substs.append(n)
            return
        for c in n.children:
            if c.type in ("command_substitution", "process_substitution"):
                self.pending_substs.append(c)
            else:
                self._collect_substs(c)

    # statements ---------------------------------------------------------------------------
    def build(self, root) -> list:
        """A tree of 'items' in source order: ('cmd', Command) | ('assign', Assignment) |
        ('func', name, items) | ('call' handled at flow time)."""
        self.pending_substs: list = []
        return self.stmts(root.named_children, None, False)

    def stmts(self, nodes, func: str | None, in_subst: bool) -> list:
        items: list = []
        for n in nodes:
            items.extend(self.stmt(n, func, in_subst))
        return items

    def stmt(self, n, func, in_subst, redirects=None, pipeline=None, negated=False) -> list:
        t = n.type
        if t == "comment":
            return []
        if t == "command":
            return self.command(n, func, in_subst, redirects or [], pipeline, negated)
        if t == "redirected_statement":
            reds = list(redirects or [])
            body = None
            for c in n.children:
                if c.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                    reds.extend(self.redirect(c))
                elif c.is_named and body is None and c.type != "comment":
                    body = c
            if body is None:
                return []
            return self.stmt(body, func, in_subst, reds, pipeline, negated)
        if t == "pipeline":
            members = [c for c in n.named_children if c.type != "comment"]
            group: list[Command] = []
            items = []
            for i, c in enumerate(members):
                # a redirection after a pipeline belongs to its last command
                reds = redirects if i == len(members) - 1 else None
                items.extend(self.stmt(c, func, in_subst, reds, group, negated))
            return items
        if t == "negated_command":
            items = []
            for c in n.named_children:
                items.extend(self.stmt(c, func, in_subst, redirects, pipeline, True))
            return items
        if t == "variable_assignment":
            a = self.assignment(n)
            self.assignments.append(a)
            items = [("assign", a)]
            items.extend(self.flush_substs(func, in_subst, None))
            return items
        if t == "variable_assignments":
            items = []
            for c in n.named_children:
                items.extend(self.stmt(c, func, in_subst))
            return items
        if t == "declaration_command":
            return self.declaration(n, func, in_subst)
        if t == "function_definition":
            name = None
            body = None
            for c in n.named_children:
                if c.type == "word" and name is None:
                    name = self.node_text(c)
                elif c.type in ("compound_statement", "subshell", "if_statement", "test_command"):
                    body = c
            if name is None or body is None:
                return []
            inner = self.stmts(body.named_children if body.type in ("compound_statement", "subshell") else [body], name, in_subst)
            self.functions[name] = (self.pos(n.start_point)[0], inner)
            return []
        if t == "heredoc_body":
            self.heredocs.append((self.pos(n.start_point)[0], self.node_text(n)))
            return []
        # compound statements: walk their children in order (conditions, bodies, branches)
        items = []
        for c in n.children:
            if not c.is_named:
                continue
            if c.type in ("command", "redirected_statement", "pipeline", "list", "compound_statement", "subshell",
                          "if_statement", "elif_clause", "else_clause", "while_statement", "for_statement",
                          "c_style_for_statement", "case_statement", "case_item", "do_group", "negated_command",
                          "variable_assignment", "declaration_command", "function_definition", "test_command",
                          "unset_command", "heredoc_body", "variable_assignments"):
                items.extend(self.stmt(c, func, in_subst))
            elif c.type in ("word", "string", "concatenation", "simple_expansion", "expansion",
                            "command_substitution", "binary_expression", "unary_expression",
                            "parenthesized_expression", "raw_string", "process_substitution"):
                if t == "for_statement" and c.type != "variable_name":
                    self.word(c)  # collect substitutions in the list
                else:
                    self._collect_substs(c, root=True)
                items.extend(self.flush_substs(func, in_subst, None))
        return items

    def flush_substs(self, func, in_subst, owner: "Command | None") -> list:
        items = []
        pending, self.pending_substs = self.pending_substs, []
        for s in pending:
            sub_items = self.stmts(s.named_children, func, True)
            for it in sub_items:
                if it[0] == "cmd" and owner is not None and it[1].subst_of is None:
                    it[1].subst_of = owner
            items.extend(sub_items)
        return items

    def redirect(self, n) -> list[Redirect]:
        op = ""
        target = None
        body = ""
        more: list[Redirect] = []
        for c in n.children:
            if c.type in ("file_redirect", "herestring_redirect"):
                more.extend(self.redirect(c))
                continue
            if not c.is_named and c.type not in ("(", ")"):
                op += c.type
            elif c.type == "file_descriptor":
                op = self.node_text(c) + op
            elif c.type == "heredoc_start":
                op = op or "<<"
                target = self.word(c)
            elif c.is_named and c.type not in ("heredoc_body", "heredoc_end") and target is None:
                target = self.word(c)
            elif c.type == "heredoc_body":
                body = self.node_text(c)
                self.heredocs.append((self.pos(c.start_point)[0], body))
        line, col = self.pos(n.start_point)
        r = Redirect(op, target, line, col)
        if op.startswith("<<") and op != "<<<":
            r.body = body
        return [r, *more]

    def command(self, n, func, in_subst, redirects, pipeline, negated) -> list:
        words: list[Word] = []
        assigns: list[Assignment] = []
        reds = list(redirects)
        for c in n.children:
            if c.type == "variable_assignment":
                assigns.append(self.assignment(c))
            elif c.type == "command_name":
                for cc in c.named_children:
                    words.append(self.word(cc))
            elif c.type in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
                reds.extend(self.redirect(c))
            elif c.is_named and c.type != "comment":
                words.append(self.word(c))
        (l1, c1), (l2, c2) = self.pos(n.start_point), self.pos(n.end_point)
        cmd = Command(words, l1, c1, l2, c2, assigns, reds, function=func, in_subst=in_subst, negated=negated)
        for a in assigns:
            a.prefix_of = cmd
        if pipeline is not None:
            pipeline.append(cmd)
            cmd.pipeline = pipeline
        else:
            cmd.pipeline = [cmd]
        self.commands.append(cmd)
        subs = self.flush_substs(func, in_subst, cmd)
        # substitutions run before the command that holds them
        return subs + [("cmd", cmd)]

    def assignment(self, n) -> Assignment:
        name = ""
        words: list[Word] = []
        array = False
        for c in n.named_children:
            if c.type in ("variable_name", "subscript") and not name:
                name = self.node_text(c).split("[", 1)[0]
            elif c.type == "array":
                array = True
                words = [self.word(cc) for cc in c.named_children if cc.type != "comment"]
            elif name:
                words.append(self.word(c))
        if not words and not array:
            (l, col) = self.pos(n.end_point)
            words = [Word("", "", l, col, l, col)]
        (l1, c1), (l2, c2) = self.pos(n.start_point), self.pos(n.end_point)
        return Assignment(name, words, array, l1, c1, l2, c2)

    def declaration(self, n, func, in_subst) -> list:
        kw = ""
        items = []
        opts = []
        for c in n.children:
            if not c.is_named:
                kw = kw or c.type
                continue
            if c.type == "variable_assignment":
                a = self.assignment(c)
                a.export = kw == "export" or "-x" in opts
                self.assignments.append(a)
                items.append(("assign", a))
            elif c.type == "word" and self.node_text(c).startswith("-"):
                opts.append(self.node_text(c))
        items.extend(self.flush_substs(func, in_subst, None))
        return items


# --------------------------------------------------------------------------------------------
# flow and variable resolution
# --------------------------------------------------------------------------------------------


def _expand_words(cmd: Command, env: dict[str, tuple[list[Word], bool]]) -> None:
    """Replace words that are one expansion of a known simple variable or array by its words."""
    out: list[Word] = []
    changed = False
    for w in cmd.words:
        m = re.fullmatch(r'"?\$\{?([A-Za-z_][A-Za-z0-9_]*)(\[[@*]\])?\}?"?', w.text)
        if m and m.group(1) in env and w.value is None:
            words, array = env[m.group(1)]
            quoted = w.text.startswith('"')
            if array and m.group(2):
                vals = [x for x in words]
            elif not array and len(words) == 1 and words[0].value is not None:
                vals = [words[0]] if quoted else [
                    Word(p, p, w.line, w.col, w.end_line, w.end_col, from_var=m.group(1)) for p in words[0].value.split()]
            else:
                out.append(w)
                continue
            for x in vals:
                out.append(Word(x.text, x.value, w.line, w.col, w.end_line, w.end_col, x.vars, x.subst, x.quoted, x.kind,
                                m.group(1)))
            changed = True
        else:
            out.append(w)
    if changed:
        cmd.words = out


def _flow(items: list, functions: dict, env: dict, out: list, depth: int, stack: tuple, done: set | None = None) -> None:
    done = set() if done is None else done  # commands whose words were already resolved
    for it in items:
        if len(out) >= MAX_FLOW:
            return
        if it[0] == "assign":
            a = it[1]
            if a.prefix_of is None:
                if all(w.value is not None for w in a.words):
                    env[a.name] = (a.words, a.array)
                else:
                    env.pop(a.name, None)
            continue
        cmd: Command = it[1]
        if id(cmd) not in done:
            done.add(id(cmd))
            _expand_words(cmd, env)
        out.append(cmd)
        name = cmd.name
        if name in functions and depth < MAX_CALL_DEPTH and name not in stack and cmd.start == 0:
            _flow(functions[name][1], functions, env, out, depth + 1, stack + (name,), done)


def _first_error(node):
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            return n
        if n.has_error:
            stack.extend(reversed(n.children))
    return None


def parse(text: str, rel: str) -> ScriptDocument:
    src = text.encode("utf-8", "surrogatepass")
    doc = ScriptDocument(rel, text)
    first = text.split("\n", 1)[0]
    if first.startswith("#!"):
        doc.shebang = first
    if len(src) > MAX_SCRIPT_BYTES:
        doc.errors.append(ParseError(
            f"shell script not analysed: {len(src)} bytes, over the {MAX_SCRIPT_BYTES}-byte limit for a script "
            "(reading one costs seconds per megabyte)"))
        return doc
    try:
        tree = _parse_bounded(src)
    except _OverBudget:
        doc.errors.append(ParseError(
            f"shell script not analysed: parsing it would take more than {PARSE_ACTIONS_PER_BYTE} parser steps "
            "per byte (nested unterminated constructs make tree-sitter's error recovery quadratic)"))
        return doc
    except Exception as exc:  # noqa: BLE001 - a parser failure is a finding, never a crash
        doc.errors.append(ParseError(f"shell parser failed: {exc.__class__.__name__}"))
        return doc
    b = _Builder(src, text)
    root = tree.root_node
    if root.has_error:
        err = _first_error(root)
        if err is not None:
            line, col = b.pos(err.start_point)
            what = "missing " + err.type if err.is_missing else "syntax error near " + repr(b.node_text(err)[:30])
            doc.errors.append(ParseError(f"shell syntax error: {what}", line, col))
    import sys

    old = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(max(old, 6000))
        items = b.build(root)
    except RecursionError:
        doc.errors.append(ParseError("shell script nested too deeply to analyse"))
        return doc
    finally:
        sys.setrecursionlimit(old)
    stack_ = [root]
    while stack_:
        n = stack_.pop()
        if n.type == "comment":
            line, _col = b.pos(n.start_point)
            if not (line == 1 and doc.shebang):
                doc.comments.append((line, b.node_text(n)[1:].strip()))
        elif n.child_count:
            stack_.extend(n.children)
    doc.comments.sort()
    doc.commands = b.commands
    doc.assignments = b.assignments
    doc.functions = {k: v[0] for k, v in b.functions.items()}
    doc.heredocs = b.heredocs
    flow: list[Command] = []
    _flow(items, b.functions, {}, flow, 0, ())
    doc.flow = flow
    doc.secret_marks = _secret_marks(doc)
    return doc


def _secret_marks(doc: ScriptDocument) -> list[tuple[int, int]]:
    """The source spans of the values the script assigns to secret keys (``DB_PASSWORD='...'``,
    ``export API_TOKEN="a<newline>b"``, ``PGPASSWORD=x pg_dump``, array elements), as written, quotes
    excluded: the one definition of a secret key (``scanner.spans.is_secret_position_key``). A
    reference marks only the literal defaults it falls back to (``${X:-default}``). Flags, URLs and
    ``-u user:pw`` are positions any text holds (``scanner.spans.text_spans``, continued lines joined)."""
    from ..spans import is_secret_position_key, secret_value_spans, strip_quotes

    text = doc.text
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())  # tree-sitter's rows end at a newline only

    def offset(line: int, col: int) -> int:
        return min(len(text), starts[min(line, len(starts)) - 1] + col - 1)

    out: list[tuple[int, int]] = []
    for a in doc.assignments + [a for c in doc.commands for a in c.assigns]:
        if not is_secret_position_key(a.name):
            continue
        for w in a.words:
            if w.from_var is not None or not w.text:
                continue
            x, y = offset(w.line, w.col), offset(w.end_line, w.end_col)
            if text[x:y] != w.text:
                continue  # not where the tree says: nothing is marked rather than the wrong text
            out.extend(secret_value_spans(*strip_quotes(x, y, text), text))
    return out


# tree-sitter-bash's error recovery is quadratic on some hostile texts (``a=(`` repeated: 24 KB take
# seconds): a text alone (not the stack's own parse, whose marks ``scanner.spans`` remembers) is
# parsed for its marks only up to this size; beyond it the positions any text holds still apply
MAX_MARKED_ALONE = 16384


def secret_marks(text: str) -> list[tuple[int, int]]:
    """The source spans of the secrets a shell script assigns (``ScriptDocument.secret_marks``)."""
    if len(text) > MAX_MARKED_ALONE:
        return []
    return parse(text, "").secret_marks


def secret_literals(doc: ScriptDocument, is_secret) -> list[str]:
    """Literal values a script gives secret-class variables (``is_secret(name)``), after password
    flags (``-p``, ``--password``, ``-pVALUE``, ``curl -u user:pw``) and in URLs: what no report may
    show (the engine's redactor)."""
    from ..secrets import url_password

    out: list[str] = []
    for a in doc.assignments + [a for c in doc.commands for a in c.assigns]:
        if is_secret(a.name):
            out.extend(w.value for w in a.words if w.value)
    for c in doc.commands:
        ws = c.words
        for i, w in enumerate(ws):
            v = w.value or ""
            nxt = ws[i + 1].value if i + 1 < len(ws) else None
            if v in ("-p", "--password", "-a") and nxt:
                out.append(nxt)
            elif v.startswith("--password="):
                out.append(v.split("=", 1)[1])
            elif re.fullmatch(r"-p\S{4,}", v):
                out.append(v[2:])
            elif v in ("-u", "--user") and nxt and ":" in nxt:
                out.append(nxt.split(":", 1)[1])
            pw = url_password(v) if v else None
            if pw:
                out.append(pw)
    return [x for x in out if x and len(x) >= 4]


# --------------------------------------------------------------------------------------------
# compose invocations: what a script runs `docker compose` / `docker-compose` / `docker stack deploy` with
# (read by the Stack, which interpolates compose as the deploy script runs it, and by the deploy rules)
# --------------------------------------------------------------------------------------------


class ComposeCall:
    cmd: Command
    v1: bool  # docker-compose (hyphen)
    stack_deploy: bool  # docker stack deploy
    sub: str  # up, pull, build, down, ps...
    sub_word: Word | None
    files: list[Word]
    env_files: list[Word]
    sub_args: list[Word]

    __match_args__ = ("cmd", "v1", "stack_deploy", "sub", "sub_word", "files", "env_files", "sub_args")

    def __init__(self, cmd, v1, stack_deploy, sub, sub_word, files=_FACTORY, env_files=_FACTORY, sub_args=_FACTORY):
        self.cmd = cmd
        self.v1 = v1
        self.stack_deploy = stack_deploy
        self.sub = sub
        self.sub_word = sub_word
        self.files = list() if files is _FACTORY else files
        self.env_files = list() if env_files is _FACTORY else env_files
        self.sub_args = list() if sub_args is _FACTORY else sub_args


_COMPOSE_OPTS_WITH_ARG = {"-f", "--file", "--env-file", "-p", "--project-name", "--project-directory",
                          "--profile", "--ansi", "--parallel", "--progress", "-c", "--context", "-H", "--host",
                          "--log-level", "--config"}


def compose_call(cmd: Command) -> ComposeCall | None:
    words = cmd.words[cmd.start:]
    if not words:
        return None
    first = (words[0].value or "").rsplit("/", 1)[-1]
    i = 1
    v1 = stack_deploy = False
    if first == "docker-compose":
        v1 = True
    elif first == "docker":
        # docker [global opts] compose|stack
        while i < len(words) and (words[i].value or "").startswith("-"):
            i += 2 if words[i].value in _COMPOSE_OPTS_WITH_ARG else 1
        if i >= len(words):
            return None
        nxt = words[i].value
        if nxt == "compose":
            i += 1
        elif nxt == "stack" and i + 1 < len(words) and words[i + 1].value in ("deploy", "up"):
            stack_deploy = True
            call = ComposeCall(cmd, False, True, "up", words[i + 1])
            j = i + 2
            while j < len(words):
                if words[j].value in ("-c", "--compose-file") and j + 1 < len(words):
                    call.files.append(words[j + 1])
                    j += 2
                    continue
                j += 1
            return call
        else:
            return None
    else:
        return None
    call = ComposeCall(cmd, v1, stack_deploy, "", None)
    while i < len(words):
        v = words[i].value or ""
        if v in ("-f", "--file") and i + 1 < len(words):
            call.files.append(words[i + 1])
            i += 2
        elif v.startswith("--file="):
            call.files.append(words[i])
            i += 1
        elif v == "--env-file" and i + 1 < len(words):
            call.env_files.append(words[i + 1])
            i += 2
        elif v.startswith("--env-file="):
            call.env_files.append(words[i])
            i += 1
        elif v in _COMPOSE_OPTS_WITH_ARG:
            i += 2
        elif v.startswith("-"):
            i += 1
        else:
            call.sub = v
            call.sub_word = words[i]
            call.sub_args = words[i + 1:]
            break
    return call


def word_value(w: Word) -> str:
    v = w.str
    if v.startswith(("--file=", "--env-file=")):
        v = v.split("=", 1)[1]
    return v


def script_compose_calls(doc: ScriptDocument) -> list[ComposeCall]:
    out = []
    for cmd in doc.flow:
        c = compose_call(cmd)
        if c is not None:
            out.append(c)
    return out


def deploys(doc: ScriptDocument) -> bool:
    """A deploy script (absent the policy's ``deploy.scripts``): it runs compose ``up``/``create``/
    ``start``/``restart`` or ``docker stack deploy``."""
    return any(c.sub in ("up", "create", "start", "restart") or c.stack_deploy for c in script_compose_calls(doc))
