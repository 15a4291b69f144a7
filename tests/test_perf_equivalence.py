"""The performance rewrites behave exactly like what they replaced.

- ``Redactor``: every secret replaced as a whole token, longest first (one linear search per value:
  the former single alternation backtracked over long values at every position); a 4-character prefix
  index picks the values to search for, and must not change the result.
- ``shell_split``: ``shlex.split`` (POSIX, no comments, falling back to ``str.split``) with a cache and
  a direct split for text without quotes or backslashes.
- the SQL parser's line index: ``line_col`` from a precomputed newline index.
- ``rules.helpers.sql.children``: only the slots pglast types as able to hold a node are read.
- git: the work tree and ``git ls-files`` are cached per process, and a ``git add`` is seen.
"""

import os
import random
import re
import shlex
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.parsers.base import line_col, shell_split
from scanner.secrets import Redactor
from tests.conftest import FIXTURES, shared_path


def _alternation(values: set[str], text: str) -> str:
    """The Redactor without its index: every value, longest first, replaced as a whole token."""
    from scanner.secrets import _token_pattern

    if not values or not text:
        return text
    for v in sorted(values, key=lambda v: (-len(v), v)):
        text = re.sub(_token_pattern(v), "***", text)
    return text


ALPHA = "ab\"<&x'\n\\é$ "


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=ALPHA, max_size=9), max_size=12), st.lists(st.text(alphabet=ALPHA, max_size=40), max_size=5),
       st.integers(0, 1000))
def test_redactor_same_as_one_alternation(values, texts, seed):
    red = Redactor(values)
    rnd = random.Random(seed)
    known = sorted(red._values)
    for text in texts:
        if known:
            at = rnd.randint(0, len(text))
            text = text[:at] + rnd.choice(known) + text[at:]  # make overlaps and containments likely
        assert red(text) == _alternation(red._values, text)
        assert red(text) == _alternation(red._values, text)  # second call: from the memo


def test_redactor_many_values_and_later_additions():
    rnd = random.Random(5)
    values = ["".join(rnd.choice("abcdefgh23456789") for _ in range(rnd.choice([4, 5, 8, 24]))) for _ in range(3000)]
    red = Redactor(values)
    text = " ".join(rnd.choice(values) + rnd.choice(["", "x", "ab"]) for _ in range(200))
    assert red(text) == _alternation(red._values, text)
    red.add("zzzzqqqq")  # the index and the memo are rebuilt
    assert red("a zzzzqqqq b") == "a *** b"


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=" \t\r\n\x0b\xa0ab=-$#;'\"\\", max_size=20))
def test_shell_split_same_as_shlex(text):
    try:
        expected = shlex.split(text)
    except ValueError:
        expected = text.split()
    assert shell_split(text) == expected
    assert shell_split(text) == expected  # cached


def test_sql_line_index_same_as_line_col():
    from scanner.parsers.sql import SqlDocument, _line_col

    rnd = random.Random(2)
    for _ in range(3000):
        text = "".join(rnd.choice("ab\n\r") for _ in range(rnd.randint(0, 30)))
        doc = SqlDocument(path="x.sql", text=text)
        for offset in range(-2, len(text) + 3):
            assert _line_col(doc, offset) == line_col(text, offset)


def _all_slot_children(node):
    """Every child node of ``node`` in every one of its fields (``scanner.parsers.pgtree``'s nodes
    carry pglast's fields, in pglast's order)."""
    from scanner.parsers.pgtree import Node

    for slot in type(node)._fields:
        value = getattr(node, slot, None)
        if isinstance(value, Node):
            yield slot, value
        elif isinstance(value, tuple):
            todo = list(reversed(value))
            while todo:
                item = todo.pop()
                if isinstance(item, Node):
                    yield slot, item
                elif isinstance(item, tuple):
                    todo.extend(reversed(item))


def test_sql_children_skip_only_scalar_slots():
    from rules.helpers.sql import children
    from scanner.parsers import sql

    roots = [FIXTURES, shared_path("corpus")]
    nodes = 0
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                if not name.endswith(".sql"):
                    continue
                with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as fh:
                    doc = sql.parse(fh.read(), name)
                todo = [s.node for s in doc.statements if s.node is not None]
                while todo:
                    node = todo.pop()
                    nodes += 1
                    expected = [(slot, id(child)) for slot, child in _all_slot_children(node)]
                    assert [(slot, id(child)) for slot, child in children(node)] == expected, type(node)
                    todo.extend(child for _slot, child in _all_slot_children(node))
    assert nodes > 2000


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_cache_sees_an_add(tmp_path):
    from scanner.stack import build_stack

    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    env.pop("GIT_DIR", None)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    for i in range(2):
        d = tmp_path / f"stack-{i}"
        d.mkdir()
        (d / "docker-compose.yml").write_text("services:\n  app:\n    image: nginx:1.27\n    env_file: .env\n")
        (d / ".env").write_text("DB_PASSWORD=hunter2hunter2\n")
    one = build_stack([tmp_path / "stack-0"])
    two = build_stack([tmp_path / "stack-1"])
    assert one.git_tracked(".env") is False and two.git_tracked(".env") is False
    subprocess.run(["git", "-C", str(tmp_path), "add", "stack-1/.env"], check=True, env=env)
    again = build_stack([tmp_path / "stack-1"])
    assert again.git_tracked(".env") is True
    assert build_stack([tmp_path / "stack-0"]).git_tracked(".env") is False
    outside = tmp_path.parent / (tmp_path.name + "-not-a-repo")
    outside.mkdir()
    assert build_stack([outside]).in_git is (subprocess.run(["git", "-C", str(outside), "rev-parse"], capture_output=True).returncode == 0)
