"""Every real public stack in ../shared/corpus audits without a crash or an internal error."""

import pytest

from scanner.engine import audit
from tests.conftest import shared_path

CORPUS = shared_path("corpus")
STACKS = sorted(p for p in CORPUS.iterdir() if p.is_dir())
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE-NOTE.txt")


@pytest.mark.parametrize("stack_dir", STACKS, ids=[p.name for p in STACKS])
def test_corpus_stack_audits_cleanly(stack_dir):
    result = audit([stack_dir])
    internal = [f for f in result.findings if f.rule == "OPS082"]
    assert not internal, [f.message for f in internal]
    assert result.stack.files, "discovery found nothing"
    for f in result.findings:
        assert f.location.start_line >= 1 and f.location.path


def test_every_corpus_file_alone():
    assert len(FILES) > 50
    for path in FILES:
        result = audit([path])
        internal = [f.message for f in result.findings if f.rule == "OPS082"]
        assert not internal, (path, internal)
