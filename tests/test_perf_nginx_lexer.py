"""The nginx parser's fast lexer yields exactly what nginx's own lexer reads.

``scanner.parsers.nginx._lex`` reads runs of characters with regular expressions (crossplane's
per-character generator lexer was most of the cost of an nginx file, and it splits words nginx
does not: ``c};``). Here it is compared with ``_reference``, a character-by-character
transliteration of nginx's ``ngx_conf_read_token`` (src/core/ngx_conf_file.c), on every nginx file
we have (the bundled stacks and rule fixtures, ../shared/corpus, gixy-ng's test suite) and on
generated text dense in the characters the lexer treats specially (quotes, escapes, ``#``, ``${``,
braces, odd whitespace, truncation). tests/test_nginx_refusals.py checks both against the real
``nginx -t``. (The Lua of an OpenResty ``*_by_lua_block``, which its module reads, is skipped by
``_lex`` and not modelled here: none of these files has one; tests/test_nginx_refusals.py covers it.)
"""

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.parsers.nginx import LEX_ERROR, _lex, _unescape
from scanner.stack import classify, sniff_nginx
from tests.conftest import FIXTURES, shared_path

_WS = " \t\r\n"


def _reference(text: str):
    """ngx_conf_read_token one character at a time, yielding (word, line, quoted), the structural
    characters and comments as words, and a refused character after a quoted word as (message,
    line, LEX_ERROR) -- then reading on as if a space followed the quote, as dkscan does."""
    n = len(text)
    pos = 0

    def line_at(i: int) -> int:
        return text.count("\n", 0, i) + 1

    while pos < n:
        ch = text[pos]
        if ch in _WS:
            pos += 1
            continue
        if ch == "#":  # sharp_comment: to the end of the line
            end = text.find("\n", pos)
            end = n if end < 0 else end
            yield text[pos:end], line_at(pos), False
            pos = end
            continue
        if ch in "{};":
            yield ch, line_at(pos), False
            pos += 1
            continue
        if ch in "\"'":  # s_quoted / d_quoted: to the unescaped quote
            i = pos + 1
            while i < n and text[i] != ch:
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                yield _unescape(text[pos + 1:n]), line_at(pos), True
                return  # the end of the file inside the quotes
            yield _unescape(text[pos + 1:i]), line_at(pos), True
            pos = i + 1
            if pos < n and text[pos] not in _WS + ";{)":  # need_space
                yield f'unexpected "{text[pos]}"', line_at(pos), LEX_ERROR
            continue
        start, variable = pos, False
        while pos < n:
            ch = text[pos]
            if ch == "\\":  # quoted: the next character, whatever it is
                pos += 2
                variable = False
                continue
            if ch == "{" and variable:
                pos += 1
                continue
            variable = ch == "$"
            if ch in _WS or ch in ";{":
                break
            pos += 1
        pos = min(pos, n)
        yield _unescape(text[start:pos]), line_at(start), False


def _nginx_files() -> list[str]:
    roots = [FIXTURES, shared_path("corpus"), shared_path("peer-suites", "gixy-ng")]
    out = []
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                path = os.path.join(dirpath, name)
                kind = classify(name)
                if kind not in ("nginx", "conf?") and not (kind is None and name.endswith((".conf", ".nginx", ".txt", ".tmpl", ".template"))):
                    continue
                try:
                    with open(path, encoding="utf-8") as fh:
                        text = fh.read()
                except (OSError, UnicodeDecodeError):
                    continue
                if kind == "nginx" or sniff_nginx(text) or "gixy" in path:
                    out.append(path)
    return sorted(out)


FILES = _nginx_files()


def test_there_are_many_nginx_files():
    assert len(FILES) > 300, len(FILES)


def test_identical_on_every_nginx_file():
    differ = []
    for path in FILES:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        if list(_lex(text)) != list(_reference(text)):
            differ.append(path)
    assert not differ, differ[:10]


def test_identical_on_truncated_and_mutated_files():
    rnd = random.Random(8)
    sample = rnd.sample(FILES, min(60, len(FILES)))
    for path in sample:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()[:3000]
        for _ in range(10):
            cut = rnd.randint(0, len(text))
            variants = [text[:cut], text[:cut] + "\\", text[:cut] + '"' + text[cut:], text[:cut] + "${" + text[cut:],
                        text.replace("\n", "\r\n"), text[:cut] + "#" + text[cut:], text.replace(";", "\\;", 3),
                        text[:cut] + "}" + text[cut:], text.replace(" ", "\x0c", 3)]
            for v in variants:
                assert list(_lex(v)) == list(_reference(v)), (path, cut, v[:200])


ATOMS = list("\\\"'#${};\n \t\r\x0bab$\x85\xa0\u2028()") + ["${", "\\\n", "\\\"", "\\'", "location ", "# c\n", "}", "c};",
                                                          "add_header X \"a b\";\n", '"q"}', "${{", "\\t", "\\n"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(ATOMS), max_size=40).map("".join))
def test_identical_on_generated_text(text):
    assert list(_lex(text)) == list(_reference(text))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_identical_on_any_text(text):
    assert list(_lex(text)) == list(_reference(text))


@pytest.mark.parametrize("text", ["", "\\", "a\\", "#", "# x", "# x\\\n", "'a", "\"a\\\"", "${a b}", "$\\{", "a ${b}c;", "x\\\ny;",
                                  "a c};", '"a"}', '"a"b', "a#b", "x\x0cy;", '"a\\\\"', "'a\\'b'"])
def test_identical_on_edges(text):
    assert list(_lex(text)) == list(_reference(text))


def test_words_as_nginx_reads_them():
    assert [t for t, _, _ in _lex("add_header X c};")] == ["add_header", "X", "c}", ";"]
    assert [t for t, _, _ in _lex("set $a ${b}c;")] == ["set", "$a", "${b}c", ";"]
    assert [t for t, _, _ in _lex('x "a\\"b" \'c\\\\d\' e\\tf;')] == ["x", 'a"b', "c\\d", "e\tf", ";"]
    assert list(_lex('x "a"}'))[2] == ('unexpected "}"', 1, LEX_ERROR)
