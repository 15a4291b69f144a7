"""One line numbering (``LineIndex``, the ``LINE_BREAK`` boundaries of ``str.splitlines``) for the
parsers, ``Document.lines``, the fixer and the reports: a form feed, a lone CR or a Unicode line
separator ends a line for every one of them alike (a ``.env`` with a form feed once put a secret on
line 2 in the parser and line 3 in ``Document.lines``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.fix.apply import edit_span
from scanner.model import Edit, Location
from scanner.parsers import dotenv, sql
from scanner.parsers.base import LINE_BREAK, LineIndex, line_col

BREAKS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
# the breaks that are blank to the dotenv syntax (only a newline ends a dotenv line; the others are
# blanks inside it, or end a line for Document.lines only)
SEPARATORS = st.sampled_from(["\n", "\r\n", "\x0c\n", "\n\x0c", "\n\x0b\n", "\n\u2028", "\n\x85"])


def test_line_index_is_splitlines():
    for text in ["", "a", "a\n", "a\r\nb", "\n\n", "x\x0cy\rz\u2028w\n"]:
        index = LineIndex(text)
        assert len(index) == len(text.splitlines())
        assert [index.line_text(i) for i in range(1, len(index) + 1)] == text.splitlines()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ab= x"), st.sampled_from(BREAKS)), max_size=30), st.data())
def test_offsets_and_lines_agree(parts, data):
    text = "".join(a + b for a, b in parts)
    index = LineIndex(text)
    lines = text.splitlines()
    for offset in range(len(text) + 1):
        line, col = index.line_col(offset)
        assert (line, col) == line_col(text, offset)
        assert index.line_start(line) + col - 1 == offset
        if offset < len(text) and not LINE_BREAK.match(text, offset) and text[offset] != "\n":
            assert lines[line - 1][col - 1] == text[offset]  # the character is where Document.lines has it


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["API_SECRET", "DB_PASSWORD", "PORT", "NAME"]), min_size=1, max_size=8), st.data())
def test_dotenv_entries_are_on_the_lines_document_lines_shows(keys, data):
    text = ""
    for i, key in enumerate(keys):
        text += f"{key}{i}=value{i}" + data.draw(SEPARATORS)
    doc = dotenv.parse(text, ".env")
    assert doc.entries
    for e in doc.entries:
        assert doc.line_text(e.line)[e.col - 1:].startswith(e.key), (text, e.key, e.line)
        assert doc.line_text(e.value_line)[e.value_col - 1:].startswith(e.value)


def test_form_feed_env_secret_on_the_line_document_lines_shows():
    """The issue's case: a form feed at the start of a line is a blank to dotenv, a line break to
    ``Document.lines``. The parser used to say line 2; the line holding the secret is line 3."""
    doc = dotenv.parse("A=1\n\x0cB_PASSWORD=hunter2hunter2\n", ".env")
    entry = next(e for e in doc.entries if e.key == "B_PASSWORD")
    assert (entry.line, entry.col) == (3, 1)
    assert doc.line_text(entry.line) == "B_PASSWORD=hunter2hunter2"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(BREAKS), min_size=1, max_size=6), st.integers(1, 3))
def test_sql_statements_and_fixer_edits_use_the_same_lines(breaks, n):
    text = "".join(f"SELECT {i};{b}" for i, b in enumerate(breaks))
    doc = sql.parse(text, "init.sql")
    for stmt in doc.statements:
        assert doc.line_text(stmt.line)[stmt.col - 1:].startswith("SELECT")
        a, _b = edit_span(text, Edit(Location("init.sql", stmt.line, stmt.col), "X"))
        assert text[a:].startswith("SELECT")


# nginx separates words by space, tab, CR and LF only (ngx_conf_read_token): a form feed, NEL or U+2028
# is a word for nginx (tests/test_nginx_refusals.py compares that with the real nginx), not a break
NGINX_BREAKS = st.sampled_from(["\n", "\r\n", "\r", "\n\r\n", "\r\r"])


@settings(max_examples=200, deadline=None)
@given(st.lists(NGINX_BREAKS, min_size=1, max_size=6))
def test_nginx_directives_and_comments_on_document_lines(breaks):
    from scanner.parsers import nginx

    text = "".join(f"d{i} a{i};{b}# c{i}\n" for i, b in enumerate(breaks))
    doc = nginx.parse(text, "nginx.conf")
    seen = list(doc.walk())
    assert len(seen) == len(breaks)
    for d in seen:
        assert doc.line_text(d.line)[d.col - 1:].startswith(d.name), (text, d)
    for line, comment in doc.comments:
        assert "#" + comment in doc.line_text(line)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["\n", "\r\n", "\x0c\n", "\n\x0c\n", "\n\u2028\n"]), min_size=1, max_size=5))
def test_dockerfile_instructions_on_document_lines(breaks):
    from scanner.parsers import dockerfile

    text = "FROM alpine:3.20\n" + "".join(f"RUN echo {i}{b}" for i, b in enumerate(breaks))
    doc = dockerfile.parse(text, "Dockerfile")
    for ins in doc.instructions:
        assert doc.line_text(ins.line)[ins.col - 1:].upper().startswith(ins.cmd), (text, ins)
        assert ins.line <= ins.end_line <= len(doc.lines)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(BREAKS), min_size=1, max_size=6))
def test_nats_entries_on_document_lines(breaks):
    from scanner.parsers import nats

    text = "".join(f"key{i}: {i}{b}" for i, b in enumerate(breaks))
    doc = nats.parse(text, "nats.conf")
    for e in doc.root.entries:
        assert doc.line_text(e.line)[e.col - 1:].startswith(e.key), (text, e)
