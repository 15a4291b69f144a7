"""The nginx parser's own lexer (a performance rewrite) yields exactly crossplane's tokens.

``scanner.parsers.nginx._lex`` replaced crossplane's per-character generator lexer, which was most of
the cost of an nginx file. Identity is checked on every nginx file we have (the bundled stacks and
rule fixtures, ../shared/corpus, gixy-ng's test suite) and on generated text dense in the characters
the lexer treats specially (quotes, escapes, ``#``, ``${``, braces, odd whitespace, truncation).
"""

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.parsers.nginx import _lex, _lex_crossplane
from scanner.stack import classify, sniff_nginx
from tests.conftest import FIXTURES, shared_path


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
        if list(_lex(text)) != list(_lex_crossplane(text)):
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
                        text.replace("\n", "\r\n"), text[:cut] + "#" + text[cut:], text.replace(";", "\\;", 3)]
            for v in variants:
                assert list(_lex(v)) == list(_lex_crossplane(v)), (path, cut, v[:200])


ATOMS = list("\\\"'#${};\n \t\r\x0bab$\x85\xa0\u2028") + ["${", "\\\n", "\\\"", "\\'", "location ", "# c\n", "}", "add_header X \"a b\";\n"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(ATOMS), max_size=40).map("".join))
def test_identical_on_generated_text(text):
    assert list(_lex(text)) == list(_lex_crossplane(text))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_identical_on_any_text(text):
    assert list(_lex(text)) == list(_lex_crossplane(text))


@pytest.mark.parametrize("text", ["", "\\", "a\\", "#", "# x", "# x\\\n", "'a", "\"a\\\"", "${a b}", "$\\{", "a ${b}c;", "x\\\ny;"])
def test_identical_on_edges(text):
    assert list(_lex(text)) == list(_lex_crossplane(text))
