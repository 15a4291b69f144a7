from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.parsers.base import Document
from scanner.parsers.dockerfile import DockerfileDocument, parse


def ok(text: str) -> DockerfileDocument:
    doc = parse(text, "Dockerfile")
    assert doc.errors == [], doc.errors
    return doc


def test_stages_names_platform_and_final_stage():
    doc = ok(
        "ARG BASE=alpine:3.19\n"
        "FROM --platform=$BUILDPLATFORM rust:1.75-alpine AS builder\n"
        "RUN cargo build\n"
        "FROM builder as test\n"
        "FROM scratch\n"
        "COPY --from=builder --chown=1000:1000 /app /app\n"
        "USER 1000\n"
    )
    assert [(s.index, s.image, s.name, s.line) for s in doc.stages] == [
        (0, "rust:1.75-alpine", "builder", 2),
        (1, "builder", "test", 4),
        (2, "scratch", None, 5),
    ]
    assert doc.stages[0].platform == "$BUILDPLATFORM"
    assert [i.cmd for i in doc.stages[0].instructions] == ["FROM", "RUN"]
    final = doc.final_stage
    assert final.image == "scratch"
    assert [i.cmd for i in final.instructions] == ["FROM", "COPY", "USER"]
    copy = final.instructions[1]
    assert copy.flags == {"from": "builder", "chown": "1000:1000"}
    assert copy.args == "/app /app"
    assert doc.stage("BUILDER") is doc.stages[0] and doc.stage("2") is doc.stages[2]
    assert doc.instructions[0].cmd == "ARG"  # before FROM: allowed, in no stage


def test_case_insensitive_keyword_and_col():
    doc = ok("from alpine\n  run echo hi\n")
    run = doc.instructions[1]
    assert (run.cmd, run.line, run.end_line, run.col, run.args) == ("RUN", 2, 2, 3, "echo hi")


def test_continuations_comments_and_blank_lines_inside():
    text = (
        "FROM debian\n"
        "RUN apt-get update \\\n"
        "    # a comment inside the continuation\n"
        "\n"
        "    && apt-get install -y curl \\\n"
        "    && rm -rf /var/lib/apt/lists/*\n"
        "USER app\n"
    )
    doc = ok(text)
    run = doc.instructions[1]
    assert run.args == "apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*"
    assert (run.line, run.end_line) == (2, 6)
    assert run.original == "\n".join(text.split("\n")[1:6])
    assert (3, "a comment inside the continuation") in doc.comments
    assert doc.instructions[2].line == 7
    # positions of args characters map back to the file
    idx = run.args.index("&& apt-get install")
    assert run.arg_pos(idx) == (5, 5)


def test_escape_directive_backtick():
    text = "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir `\n    C:\\\\Windows\nUSER ContainerUser\n"
    doc = ok(text)
    assert doc.escape == "`"
    assert doc.directives == {"escape": "`"}
    run = doc.instructions[1]
    assert run.args == "dir C:\\\\Windows" and (run.line, run.end_line) == (3, 4)


def test_directive_only_at_top():
    doc = ok("# comment\n# escape=`\nFROM a\nRUN x \\\n y\n")
    assert doc.escape == "\\" and doc.directives == {}
    assert doc.instructions[1].args == "x y"


def test_syntax_directive_and_crlf():
    doc = ok("# syntax=docker/dockerfile:1.4\r\nFROM alpine\r\nRUN a \\\r\n  b\r\n")
    assert doc.directives == {"syntax": "docker/dockerfile:1.4"}
    assert doc.instructions[1].args == "a b"


def test_heredocs():
    text = (
        "FROM alpine\n"
        "RUN <<EOF\n"
        "apk add git\n"
        "echo done\n"
        "EOF\n"
        "COPY <<-'CONF' /etc/app.conf\n"
        "\tkey=value\n"
        "\tCONF\n"
        "RUN cat <<A <<\"B\" > /x\n"
        "a-body\n"
        "A\n"
        "b-body\n"
        "B\n"
        "USER app\n"
    )
    doc = ok(text)
    run, copy, multi, user = doc.instructions[1:]
    assert run.heredocs == ["apk add git\necho done\n"]
    assert (run.line, run.end_line) == (2, 5)
    assert run.args == "<<EOF"
    assert copy.heredocs == ["key=value\n"] and copy.end_line == 8
    assert multi.heredocs == ["a-body\n", "b-body\n"] and multi.end_line == 13
    assert user.line == 14


def test_heredoc_markers_in_quotes_and_herestrings_are_not_heredocs():
    doc = ok("FROM a\nRUN echo '<<EOF' && cat <<<word\nUSER x\n")
    assert doc.instructions[1].heredocs == []


def test_unterminated_heredoc():
    doc = parse("FROM alpine\nRUN <<EOF\necho hi\n", "Dockerfile")
    assert [(e.line, "heredoc" in e.message) for e in doc.errors] == [(2, True)]
    assert doc.instructions[1].heredocs == ["echo hi\n"]


def test_exec_and_shell_form():
    doc = ok(
        'FROM a\nCMD ["node", "server.js"]\nENTRYPOINT /bin/sh -c x\nRUN [ "a", 1 ]\n'
        "RUN [not json\nHEALTHCHECK --interval=30s --timeout=3s CMD [\"curl\", \"-f\", \"http://localhost/\"]\n"
        "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"
    )
    cmd, ep, run_bad_type, run_bad, hc, shell = doc.instructions[1:]
    assert cmd.json == ["node", "server.js"]
    assert ep.json is None and ep.args == "/bin/sh -c x"
    assert run_bad_type.json is None
    assert run_bad.json is None and run_bad.args == "[not json"
    assert hc.flags == {"interval": "30s", "timeout": "3s"}
    assert hc.args.startswith("CMD ") and hc.json == ["curl", "-f", "http://localhost/"]
    assert shell.json == ["/bin/bash", "-o", "pipefail", "-c"]


def test_repeated_flags_and_mounts():
    doc = ok(
        "FROM a\nRUN --mount=type=secret,id=npm,target=/root/.npmrc \\\n"
        "    --mount=type=cache,target=/root/.npm --network=none npm ci\n"
        "ADD --checksum=sha256:abc https://x/y.tgz /y.tgz\n"
    )
    run, add = doc.instructions[1:]
    assert run.flags == {
        "mount": "type=secret,id=npm,target=/root/.npmrc type=cache,target=/root/.npm",
        "network": "none",
    }
    assert run.args == "npm ci"
    assert add.flags == {"checksum": "sha256:abc"} and add.args == "https://x/y.tgz /y.tgz"


def test_env_pairs():
    doc = ok(
        'FROM a\nENV A=1 B="x y" C=\'$HOME\' D=a\\ b\n'
        "ENV LEGACY some value here\n"
        "ARG NAME\nARG VERSION=1.2 OTHER\n"
        'LABEL org.opencontainers.image.title="My App" "quoted key"=v\n'
        "ENV MULTI=1 \\\n    SECOND=2\n"
        "RUN true\n"
    )
    env, legacy, arg1, arg2, label, multi, run = doc.instructions[1:]
    assert env.env_pairs() == [("A", "1", 2, 5), ("B", "x y", 2, 9), ("C", "$HOME", 2, 17), ("D", "a b", 2, 27)]
    assert legacy.env_pairs() == [("LEGACY", "some value here", 3, 5)]
    assert arg1.env_pairs() == [("NAME", "", 4, 5)]
    assert arg2.env_pairs() == [("VERSION", "1.2", 5, 5), ("OTHER", "", 5, 17)]
    assert label.env_pairs() == [("org.opencontainers.image.title", "My App", 6, 7), ("quoted key", "v", 6, 47)]
    assert multi.env_pairs() == [("MULTI", "1", 7, 5), ("SECOND", "2", 8, 5)]
    assert run.env_pairs() == []


def test_errors_do_not_stop_the_parse():
    doc = parse("RUN echo before\nFROM a\nRUNN typo\nUSER x\n", "Dockerfile")
    msgs = [(e.line, e.message) for e in doc.errors]
    assert sorted(line for line, _ in msgs) == [1, 3]
    assert any("RUNN" in m for _, m in msgs)
    assert any("before the first FROM" in m for _, m in msgs)
    assert [i.cmd for i in doc.instructions] == ["RUN", "FROM", "RUNN", "USER"]
    assert doc.final_stage.instructions[-1].cmd == "USER"


def test_missing_from():
    doc = parse("# only a comment\nARG X\n", "Dockerfile")
    assert any("FROM" in e.message for e in doc.errors)
    assert doc.final_stage is None and doc.stages == []


def test_empty_file():
    doc = parse("", "Dockerfile")
    assert doc.instructions == [] and doc.errors


def test_continuation_at_eof():
    doc = ok("FROM a\nRUN echo \\\n")
    assert doc.instructions[1].args == "echo" and doc.instructions[1].end_line == 2


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fuzz_text(text):
    doc = parse(text, "Dockerfile")
    assert isinstance(doc, Document)
    for ins in doc.instructions:
        ins.env_pairs()
        assert ins.line <= ins.end_line


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_fuzz_binary(data):
    assert isinstance(parse(data.decode("utf-8", errors="replace"), "Dockerfile"), DockerfileDocument)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["FROM a", "RUN", "ENV", "ARG", "LABEL", " ", "\n", "\\", "`", "# escape=`", "<<EOF", "EOF", "<<-X",
             "--mount=", '"', "'", "=", "[", "]", '["a"]', "#", "k=v", "\t"]
        )
    )
)
def test_fuzz_tokens(parts):
    doc = parse("".join(parts), "Dockerfile")
    assert isinstance(doc, DockerfileDocument)
    for ins in doc.instructions:
        ins.env_pairs()
