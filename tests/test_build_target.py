"""Issue 15: the stage that runs is the stage compose builds (``build.target``), for every rule that
judges "the final stage" (DockerfileDocument.final_stage is the one answer)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.config import Policy
from scanner.engine import audit
from scanner.stack import build_stack


def _write(tmp: Path, compose: str, dockerfile: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "docker-compose.yml").write_text(compose)
    (tmp / "Dockerfile").write_text(dockerfile)
    return tmp


def _compose(target: str | None, second: str | None = "absent") -> str:
    text = "services:\n  api:\n    build:\n      context: .\n"
    if target is not None:
        text += f"      target: {target}\n"
    if second != "absent":
        text += "  worker:\n    build:\n      context: .\n"
        if second is not None:
            text += f"      target: {second}\n"
    return text


# stage names and whether the stage sets a USER
stages_st = st.lists(st.tuples(st.sampled_from(["alpine:3.20", "debian:bookworm-slim", "scratch"]), st.booleans()),
                     min_size=1, max_size=5)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stages=stages_st, data=st.data())
def test_final_stage_is_the_target(tmp_path_factory, stages, data):
    lines, starts = [], []
    for i, (image, user) in enumerate(stages):
        starts.append(len(lines) + 1)
        lines.append(f"FROM {image} AS s{i}")
        lines.append("RUN true" if image != "scratch" else "COPY x /x")
        if user:
            lines.append("USER 10001")
    pick = data.draw(st.one_of(st.none(), st.integers(0, len(stages) - 1)))
    target = None if pick is None else f"S{pick}"  # compose matches stage names case-insensitively
    root = _write(tmp_path_factory.mktemp("bt"), _compose(target), "\n".join(lines) + "\n")
    stack = build_stack([root], Policy())
    df = stack.dockerfiles[0]
    want = len(stages) - 1 if pick is None else pick
    assert df.final_stage.index == want
    result = audit([root], Policy(), select=["APP031"], root=root)
    got = [f.location.start_line for f in result.findings if f.rule == "APP031"]
    # APP031 judges the stage that runs: it fires at that stage's FROM iff that stage has no USER
    assert got == ([] if stages[want][1] else [starts[want]])


def test_services_that_disagree_leave_the_last_stage(tmp_path):
    root = _write(tmp_path, _compose("builder", None), "FROM alpine:3.20 AS builder\nRUN true\nFROM scratch\nCOPY --from=builder /x /x\n")
    assert build_stack([root], Policy()).dockerfiles[0].final_stage.index == 1
    root2 = _write(tmp_path / "two", _compose("builder", "builder"), "FROM alpine:3.20 AS builder\nRUN true\nFROM scratch\nCOPY --from=builder /x /x\n")
    assert build_stack([root2], Policy()).dockerfiles[0].final_stage.index == 0


def test_unknown_target_falls_back_to_the_last_stage(tmp_path):
    root = _write(tmp_path, _compose("nosuch"), "FROM alpine:3.20 AS a\nFROM alpine:3.20 AS b\n")
    assert build_stack([root], Policy()).dockerfiles[0].final_stage.index == 1


def test_app031_on_scratch_blames_the_built_builder(tmp_path):
    """The issue's case: compose builds `target: builder`; APP031 pointed at `FROM scratch`."""
    root = _write(tmp_path, _compose("builder"),
                  "FROM golang:1.23 AS builder\nRUN go build -o /app .\nFROM scratch\nCOPY --from=builder /app /app\n")
    result = audit([root], Policy(), select=["APP031", "APP047"], root=root)
    by_rule = {f.rule: f for f in result.findings}
    assert by_rule["APP031"].location.start_line == 1
    assert "target stage `builder`" in by_rule["APP031"].message
    assert by_rule["APP047"].location.path == "docker-compose.yml" and by_rule["APP047"].location.start_line == 5
