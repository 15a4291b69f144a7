from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.parsers.base import Document
from scanner.parsers.dotenv import DotenvDocument, parse


def one(text: str):
    doc = parse(text, ".env")
    assert doc.errors == [], doc.errors
    assert len(doc.entries) == 1, doc.entries
    return doc.entries[0]


def test_plain_value_positions():
    doc = parse("# top\nDB_HOST=postgres\n  PORT = 5432  \n", ".env")
    assert doc.errors == []
    host, port = doc.entries
    assert (host.key, host.value, host.line, host.col) == ("DB_HOST", "postgres", 2, 1)
    assert (host.value_line, host.value_col, host.end_line, host.end_col) == (2, 9, 2, 17)
    assert (port.key, port.value, port.line, port.col) == ("PORT", "5432", 3, 3)
    assert (port.value_col, port.end_col) == (10, 14)
    assert port.quote == "" and port.raw_value == "5432" and port.has_equals
    assert doc.comments == [(1, "top")]


def test_inline_comment_needs_a_space_before_hash():
    e = one("PASSWORD=abc#def # the password\n")
    assert e.value == "abc#def"
    assert e.comment == "the password"
    assert (e.value_col, e.end_col) == (10, 17)
    doc = parse("PASSWORD=abc#def # the password\n", ".env")
    assert doc.comments == [(1, "the password")]


def test_value_starting_with_hash_after_blanks_is_a_value_as_in_compose():
    # compose trims the blanks after '=' before cutting at " #"
    assert one("KEY= # not a comment\n").value == "# not a comment"
    assert one("KEY=#x\n").value == "#x"


def test_export_prefix():
    e = one("export  TOKEN=s3cret\n")
    assert e.export and e.key == "TOKEN" and e.col == 9
    e = one("exportFOO=1\n")
    assert not e.export and e.key == "exportFOO"
    e = one("export_FOO=1\n")
    assert e.key == "export_FOO"


def test_yaml_style_separator():
    e = one("OPTION_A: Foo=bar\n")
    assert (e.key, e.value) == ("OPTION_A", "Foo=bar")
    assert one("URL=http://x:80/a\n").value == "http://x:80/a"


def test_single_quotes_are_literal_and_span_lines():
    doc = parse("A='x\\ny $HOME'\nB='line1\nline2' # c\nC=3\n", ".env")
    assert doc.errors == []
    a, b, c = doc.entries
    assert a.value == "x\\ny $HOME" and a.quote == "'"
    assert b.value == "line1\nline2"
    assert (b.value_line, b.value_col, b.end_line, b.end_col) == (2, 3, 3, 7)
    assert b.raw_value == "'line1\nline2'"
    assert b.comment == "c"
    assert (c.key, c.line) == ("C", 4)


def test_double_quote_escapes():
    e = one('A="a\\nb\\tc\\\\d\\"e \\$X ${Y}"\n')
    assert e.value == 'a\nb\tc\\d"e $$X ${Y}'
    assert e.quote == '"'
    assert e.raw_value == '"a\\nb\\tc\\\\d\\"e \\$X ${Y}"'


def test_double_quotes_span_lines_and_crlf():
    doc = parse('A="one\r\ntwo"\r\nB=2\r\n', ".env")
    assert doc.errors == []
    a, b = doc.entries
    assert a.value == "one\ntwo"
    assert (a.end_line, a.end_col) == (2, 5)
    assert (b.key, b.value, b.line) == ("B", "2", 3)


def test_hash_inside_quotes():
    assert one("A='ba#r' # c\n").value == "ba#r"
    assert one('A="bar#baz#bang" # comment\n').value == "bar#baz#bang"


def test_empty_values():
    doc = parse("A=\nB=   \nC=''\nD=\"\"\n", ".env")
    assert doc.errors == []
    a, b, c, d = doc.entries
    assert a.value == "" and (a.value_col, a.end_col) == (3, 3)
    assert b.value == "" and (b.value_col, b.end_col) == (6, 6)
    assert c.value == "" and c.quote == "'" and (c.value_col, c.end_col) == (3, 5)
    assert d.value == "" and d.quote == '"'


def test_bare_key_without_equals():
    doc = parse("INHERITED\nexport ALSO\nX=1\n", ".env")
    assert doc.errors == []
    inherited, also, x = doc.entries
    assert inherited.key == "INHERITED" and not inherited.has_equals and inherited.value == ""
    assert also.key == "ALSO" and also.export and not also.has_equals
    assert x.has_equals


def test_keys_compose_accepts():
    doc = parse("a.b=1\na[1]=2\nx-y=3\n1LEADING=4\nárvíz=5\n", ".env")
    assert doc.errors == []
    assert [e.key for e in doc.entries] == ["a.b", "a[1]", "x-y", "1LEADING", "árvíz"]


def test_interpolation_is_not_applied():
    doc = parse("A=1\nB=${A}-$A\nC=\"${A:-x}\"\n", ".env")
    assert doc.values() == {"A": "1", "B": "${A}-$A", "C": "${A:-x}"}


def test_duplicates_last_wins():
    doc = parse("A=1\nB=2\nA=3\nA=4\n", ".env")
    assert doc.get("A").value == "4" and doc.get("A").line == 4
    assert doc.values() == {"A": "4", "B": "2"}
    assert [(a.line, b.line) for a, b in doc.duplicates] == [(1, 3), (3, 4)]
    assert doc.get("MISSING") is None


def test_invalid_lines_are_errors_and_parsing_goes_on():
    text = "GOOD=1\nKEY WITH SPACE=1\nlol$wut=2\n=nokey\nA='unterminated\nB=2\nC=\"x\" trailing\nD=4\n"
    doc = parse(text, ".env")
    assert [(e.line, e.col) for e in doc.errors] == [(2, 4), (3, 4), (4, 1), (5, 3), (7, 7)]
    assert "space" in doc.errors[0].message
    assert "'$'" in doc.errors[1].message
    assert "unterminated" in doc.errors[3].message
    assert [e.key for e in doc.entries] == ["GOOD", "B", "C", "D"]
    assert doc.get("C").value == "x"


def test_unterminated_double_quote_at_end():
    doc = parse('A="abc\nB=1\n', ".env")
    assert len(doc.errors) == 1 and (doc.errors[0].line, doc.errors[0].col) == (1, 3)
    assert doc.get("B").value == "1"


def test_single_quote_backslash_does_not_close_as_in_compose():
    assert one("A='it\\'s'\n").value == "it\\'s"


def test_whitespace_and_comment_only():
    doc = parse("\n   \n\t# indented comment\n#\n", ".env")
    assert doc.errors == [] and doc.entries == []
    assert doc.comments == [(3, "indented comment"), (4, "")]


def test_no_trailing_newline():
    e = one("LAST=value")
    assert (e.value, e.end_col) == ("value", 11)


def test_never_raises_on_non_string():
    doc = parse(None, ".env")  # type: ignore[arg-type]
    assert isinstance(doc, DotenvDocument)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fuzz_text(text):
    doc = parse(text, ".env")
    assert isinstance(doc, Document)
    for entry in doc.entries:
        assert entry.line >= 1 and entry.col >= 1 and entry.end_line >= entry.value_line


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_fuzz_binary(data):
    assert isinstance(parse(data.decode("utf-8", errors="replace"), ".env"), DotenvDocument)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["A=1", "export B='x", "C=\"y\\", "\\n", "#c", " # d", "=", "D", "'", '"', "\r\n", "\n", "E: f"])))
def test_fuzz_tokens(parts):
    assert isinstance(parse("".join(parts), ".env"), DotenvDocument)
