"""``dkscan audit --shard K/N`` and ``dkscan merge``: the merged shard reports are, byte for byte,
the report of one audit of the whole monorepo (JSON and SARIF), and a deployment's shard depends on
its own directory only (adding unrelated deployments moves none)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.engine import PARALLEL_MIN_UNITS, _shard_groups
from scanner.merge import MergeError, merge_texts, parse_shard, shard_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import write_monorepo  # noqa: E402  the benchmark's generator

sys.path.pop(0)


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DKSCAN_JOBS": "2", "SOURCE_DATE_EPOCH": "1767225600",
           "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def mono(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    mono = d / "mono"
    write_monorepo(mono, PARALLEL_MIN_UNITS + 1, random.Random(7), ROOT / "fixtures" / "studios-dk")
    # files outside every deployment (shard 1's), and an inline suppression (suppressed findings)
    (mono / "tools").mkdir()
    (mono / "tools" / "deploy.sh").write_text("#!/bin/sh\ncurl -k https://example.com/x | sh\n")
    dotenv = mono / "stack-0003" / ".env.extra"
    dotenv.write_text("# dkscan: ignore[DATA007] reason: rotated by the vault\nAPI_SECRET=Zq8vN3kR1pXw7YtLm2Hc\n")
    return d


@pytest.mark.parametrize("n", [2, 3])
def test_merged_shards_are_the_single_run(mono, n):
    fmt_args = ["--format", "json", "-o", "{o}.json", "--format", "sarif", "-o", "{o}.sarif",
                "--include-suppressed"]
    full = _cli("audit", "mono", *[a.format(o="full") for a in fmt_args], cwd=mono)
    assert full.returncode == 1, full.stderr
    for k in range(1, n + 1):
        r = _cli("audit", "mono", "--shard", f"{k}/{n}", *[a.format(o=f"s{k}of{n}") for a in fmt_args], cwd=mono)
        assert r.returncode in (0, 1), r.stderr
    counts = [json.loads((mono / f"s{k}of{n}.json").read_text())["counts"]["findings"] for k in range(1, n + 1)]
    assert sum(1 for c in counts if c) >= 2  # the deployments really were split
    for ext in ("json", "sarif"):
        r = _cli("merge", *[f"s{k}of{n}.{ext}" for k in range(1, n + 1)], "-o", f"merged{n}.{ext}", cwd=mono)
        assert r.returncode == 0, r.stderr
        assert (mono / f"merged{n}.{ext}").read_bytes() == (mono / f"full.{ext}").read_bytes()
    full_doc = json.loads((mono / "full.json").read_text())
    assert full_doc["counts"]["suppressed"] >= 1 and any(f["path"].startswith("tools/") for f in full_doc["findings"])


def test_merge_refuses_what_is_not_one_audit(mono, tmp_path):
    r = _cli("audit", "mono/stack-0001", "--shard", "1/2", "--format", "json", "-o", str(tmp_path / "a.json"),
             "--fail-on", "high", cwd=mono)
    assert r.returncode in (0, 1), r.stderr
    r = _cli("audit", "mono/stack-0001", "--shard", "2/2", "--format", "json", "-o", str(tmp_path / "b.json"),
             cwd=mono)
    for args in ([str(tmp_path / "a.json"), str(tmp_path / "b.json")],  # another fail-on: not one audit
                 [str(tmp_path / "a.json"), str(mono / "full.sarif")]):  # two formats
        r = _cli("merge", *args, cwd=mono)
        assert r.returncode == 2 and "merge" in r.stderr
    (tmp_path / "bad.json").write_text("{not json")
    assert _cli("merge", str(tmp_path / "bad.json"), cwd=mono).returncode == 2
    for bad in ("0/2", "3/2", "x", "1/0", "1/2/3"):
        r = _cli("audit", "mono/stack-0001", "--shard", bad, cwd=mono)
        assert r.returncode == 2, (bad, r.stderr)


def test_one_deployment_is_shard_one(tmp_path):
    with pytest.raises(ValueError):
        parse_shard("2/1")
    assert parse_shard("2/5") == (2, 5)
    whole = [[tmp_path]]  # one deployment alone is shard 1's
    assert _shard_groups(whole, tmp_path, (1, 3)) == whole
    assert _shard_groups(whole, tmp_path, (2, 3)) == []
    with pytest.raises(MergeError):
        merge_texts([])


_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_. é/", min_size=1, max_size=12).filter(
    lambda s: s.strip("/") and "//" not in s and not s.startswith(".") and ".." not in s)


@settings(max_examples=60, deadline=None)
@given(st.lists(_name, min_size=2, max_size=12, unique=True), st.lists(_name, max_size=6, unique=True),
       st.integers(1, 6))
def test_shards_partition_the_deployments_stably(tmp_path_factory, names, more, n):
    root = tmp_path_factory.mktemp("root")
    names = list(dict.fromkeys(Path(d.strip("/")).as_posix() for d in names))
    more = [m for m in dict.fromkeys(Path(d.strip("/")).as_posix() for d in more) if m not in names]

    def shards(deployments):
        for d in deployments:
            (root / d).mkdir(parents=True, exist_ok=True)
        groups = [[root / d] for d in deployments]
        return {k: [g[0].relative_to(root).as_posix() for g in _shard_groups(groups, root, (k, n))]
                for k in range(1, n + 1)}

    before = shards(names)
    got = [d for k in before for d in before[k]]
    assert sorted(got) == sorted(Path(d).as_posix() for d in names)  # each once, none lost
    after = shards(names + more)  # unrelated deployments added: none of the old ones moves
    old = {Path(d).as_posix() for d in names}
    for k in range(1, n + 1):
        assert [d for d in after[k] if d in old] == before[k]
    assert all(shard_of(d, n) == shard_of(d, n) and 1 <= shard_of(d, n) <= n for d in names)


def _shard_docs(mono, n, ext):
    return [(mono / f"s{k}of{n}.{ext}").read_text() for k in range(1, n + 1)]


@pytest.mark.parametrize("ext", ["json", "sarif"])
def test_merge_refuses_a_duplicate_a_missing_or_another_audits_shard(mono, ext, tmp_path):
    """Shards record K/N and the audit's deployment list: an incomplete merge never says "pass"."""
    n = 3
    if not (mono / f"s1of{n}.{ext}").exists():
        test_merged_shards_are_the_single_run(mono, n)
    docs = _shard_docs(mono, n, ext)
    assert merge_texts(docs)[1] == (mono / f"full.{ext}").read_text()
    assert "dkscan/shard" not in merge_texts(docs)[1] and '"shard"' not in merge_texts(docs)[1]
    bad = {"duplicate": [docs[0], docs[1], docs[1]], "missing": [docs[0], docs[2]], "lone": [docs[1]],
           "twice": [docs[0], docs[0], docs[1], docs[2]]}
    for why, texts in bad.items():
        with pytest.raises(MergeError):
            merge_texts(texts)
    # a shard of an audit of other deployments (one fewer): same N, another deployment list
    r = _cli("audit", "mono", "--exclude", "stack-0001", "--shard", f"2/{n}", "--format", ext, "-o",
             str(tmp_path / f"other.{ext}"), "--include-suppressed", cwd=mono)
    assert r.returncode in (0, 1), r.stderr
    with pytest.raises(MergeError, match="another audit"):
        merge_texts([docs[0], (tmp_path / f"other.{ext}").read_text(), docs[2]])
    # the full report itself is no shard
    with pytest.raises(MergeError, match="not a shard"):
        merge_texts([(mono / f"full.{ext}").read_text()])
    r = _cli("merge", f"s1of{n}.{ext}", f"s1of{n}.{ext}", cwd=mono)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "shard" in r.stderr


_json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                           max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_merge_of_malformed_shapes_is_a_merge_error(mono, data):
    """Any JSON value in place of any part of a real shard report: a MergeError (exit 2), never
    another exception (exit 4)."""
    n = 2
    if not (mono / f"s1of{n}.json").exists():
        test_merged_shards_are_the_single_run(mono, n)
    ext = data.draw(st.sampled_from(["json", "sarif"]))
    docs = [json.loads(t) for t in _shard_docs(mono, n, ext)]
    target = docs[data.draw(st.integers(0, n - 1))]
    # walk down a random path and replace what is there
    node, key = None, None
    cur = target
    for _ in range(data.draw(st.integers(0, 6))):
        if isinstance(cur, dict) and cur:
            k = data.draw(st.sampled_from(sorted(cur)))
        elif isinstance(cur, list) and cur:
            k = data.draw(st.integers(0, len(cur) - 1))
        else:
            break
        node, key, cur = cur, k, cur[k]
    if node is None:
        docs[0] = data.draw(_json_value)
    else:
        node[key] = data.draw(_json_value)
    try:
        merge_texts([json.dumps(d) for d in docs])
    except MergeError:
        pass
