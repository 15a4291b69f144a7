"""Monorepo-scale reporting mechanisms that must not change a single byte.

* The JSON report is streamed one finding at a time (``json_report.write_json``) with our own
  indenting emitter: its bytes are exactly ``json.dumps(doc, indent=2, ensure_ascii=False)``; above
  ``PARALLEL_MIN_FINDINGS`` forked processes render it a slice each.
* A pooled audit's parent answers ``line_text`` from an index of line starts, not a list of lines.
* The merge of a pooled audit's units removes duplicates only units that overlap can have.
"""

import datetime
import io
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner import engine
from scanner.report.json_report import dumps, render_json, write_json
from tests.conftest import FIXTURES

STACKS = [FIXTURES / "studios-dk", FIXTURES / "studios-dk-compliant"] + sorted(
    p for p in (FIXTURES / "rules").glob("*/bad*") if p.is_dir())[::7]


# -- streamed JSON ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=3))
def test_dumps_is_json_dumps_indent_2(value, level):
    expected = json.dumps(value, indent=2, ensure_ascii=False)
    if level:  # as if nested `level` deep: every line but the first indented by 2 * level more
        expected = expected.replace("\n", "\n" + "  " * level)
    assert dumps(value, level) == expected


def test_dumps_rejects_what_json_rejects():
    with pytest.raises(TypeError):
        dumps({1: "x"})
    with pytest.raises(TypeError):
        dumps({"x": object()})


@pytest.mark.parametrize("path", STACKS[:6], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_streamed_report_is_the_json_dumps_of_its_document(path):
    result = engine.audit([path], jobs=1)
    buf = io.StringIO()
    write_json(result, buf)
    text = buf.getvalue()
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    assert render_json(result).split('"generated"')[0] == text.split('"generated"')[0]


def test_report_to_file_is_streamed_and_atomic(tmp_path, monkeypatch):
    """A failure in the middle of the JSON report leaves the previous report file untouched and no
    temp file behind."""
    from click.testing import CliRunner

    from scanner import cli
    from scanner.report import json_report

    out = tmp_path / "report.json"
    out.write_text("previous\n")
    calls = {"n": 0}
    real = json_report.finding_dict

    def failing(result, f):
        calls["n"] += 1
        if calls["n"] == 50:
            raise OSError(28, "No space left on device")
        return real(result, f)

    monkeypatch.setattr(json_report, "finding_dict", failing)
    r = CliRunner().invoke(cli.main, ["audit", str(FIXTURES / "studios-dk"), "--output", str(out)])
    assert r.exit_code == 2, r.output
    assert "cannot write" in r.output
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    monkeypatch.setattr(json_report, "finding_dict", real)
    r = CliRunner().invoke(cli.main, ["audit", str(FIXTURES / "studios-dk"), "--output", str(out)])
    assert r.exit_code == 1
    assert json.loads(out.read_text())["counts"]["findings"] > 100


# -- the parent's light documents ---------------------------------------------------------------

@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="ab \t\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029é"))
def test_light_document_text_and_lines_are_the_files(text):
    from scanner.engine import LightDocument
    from scanner.parsers.base import Document

    light, full = LightDocument("f", text), Document("f", text)
    assert isinstance(light.__dict__["_packed"], bytes) and "text" not in light.__dict__  # held compressed
    assert light.text == text and light.lines == text.splitlines()
    n = len(text.splitlines())
    assert [light.line_text(i) for i in range(-1, n + 3)] == [full.line_text(i) for i in range(-1, n + 3)]


def test_monorepo_texts_stay_compressed_in_the_parent(tmp_path):
    """In a pooled audit the parent's documents hold no text: it is compressed in the audit's
    spill file (``engine._Spilled``); a report that reads every file (HTML snippets) keeps only a
    few of them unpacked at a time."""
    from scanner.engine import _UNPACKED, _UNPACKED_MAX, LightDocument

    for i in range(max(engine.PARALLEL_MIN_UNITS, _UNPACKED_MAX + 4)):
        d = tmp_path / f"s{i}"
        d.mkdir()
        (d / "docker-compose.yml").write_text(f"services:\n  app{i}:\n    image: nginx:latest\n    privileged: true\n")
    result = engine.audit([tmp_path], jobs=2)
    docs = [sf.doc for sf in result.stack.files.values()]
    assert len(docs) > _UNPACKED_MAX
    assert all(isinstance(d, LightDocument) and "_packed" not in d.__dict__ for d in docs)
    assert all(isinstance(d.__dict__["_spilled"][1], int) for d in docs)  # (spill file, offset, length)
    assert all("text" not in d.__dict__ and "_lines" not in d.__dict__ for d in docs)
    from scanner.report import render

    _UNPACKED.clear()
    html = render("html", result)  # a snippet per finding: every file's lines are read
    assert result.findings and "privileged" in html
    assert 0 < len(_UNPACKED) <= _UNPACKED_MAX


def test_parallel_json_rendering_gives_the_same_bytes(monkeypatch):
    """Above PARALLEL_MIN_FINDINGS the findings are rendered by forked processes, a slice each."""
    from scanner.report import json_report

    result = engine.audit([FIXTURES / "studios-dk"], jobs=1)
    serial = io.StringIO()
    monkeypatch.setenv("DKSCAN_JOBS", "1")
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    write_json(result, serial, when=when)
    monkeypatch.setenv("DKSCAN_JOBS", "2")
    monkeypatch.setattr(json_report, "PARALLEL_MIN_FINDINGS", 10)
    monkeypatch.setattr(json_report, "_SLICE", 7)  # many slices, the last one short
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    parallel = io.StringIO()
    write_json(result, parallel, when=when)
    assert forks, "the renderers were not forked"
    assert len(result.findings) > 100
    assert parallel.getvalue() == serial.getvalue()


def test_overlapping_paths_still_give_each_finding_once(tmp_path):
    """A file named on the command line inside a deployment is audited twice in a pooled run (its
    deployment, and the files-outside-deployments unit); the merge removes the duplicates."""
    for i in range(engine.PARALLEL_MIN_UNITS):
        d = tmp_path / f"s{i}"
        d.mkdir()
        (d / "docker-compose.yml").write_text(f"services:\n  app{i}:\n    image: nginx:latest\n    privileged: true\n")
    extra = tmp_path / "s0" / "docker-compose.yml"
    pooled = engine.audit([tmp_path, extra], jobs=2)
    keys = [(f.rule, f.location, f.message) for f in pooled.findings]
    assert len(keys) == len(set(keys))
    single = engine.audit([tmp_path, extra], jobs=1)
    assert [(f.rule, f.location, f.message) for f in single.findings] == keys


def test_light_documents_interleaved_beyond_the_unpacked_cache():
    from scanner.engine import _UNPACKED_MAX, LightDocument

    texts = [f"doc {i}\nline two of {i}\n" * (i + 1) for i in range(_UNPACKED_MAX * 3)]
    docs = [LightDocument(f"f{i}", t) for i, t in enumerate(texts)]
    for _ in range(2):
        for i in list(range(len(docs))) + list(reversed(range(len(docs)))):
            assert docs[i].text == texts[i]
            assert docs[i].line_text(2) == f"line two of {i}"
            assert docs[i].lines == texts[i].splitlines()


def _render_in_daemon(_):
    from scanner.report import json_report

    json_report.PARALLEL_MIN_FINDINGS = 10
    result = engine.audit([FIXTURES / "studios-dk"], jobs=1)
    buf = io.StringIO()
    write_json(result, buf, when=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    return buf.getvalue()


def test_a_daemonic_process_renders_serially(monkeypatch):
    """Inside a pool worker (daemonic: it may not fork children) the report is rendered in-process."""
    import multiprocessing as mp

    monkeypatch.setenv("DKSCAN_JOBS", "2")
    with mp.get_context("fork").Pool(1) as pool:
        text = pool.map(_render_in_daemon, [0])[0]
    assert json.loads(text)["counts"]["findings"] > 100
