"""The SQL parser: psql masking, statement positions, the slow path, function-body checks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.parsers.sql import SqlDocument, mask_psql, parse


def ok(text: str) -> SqlDocument:
    doc = parse(text, "init.sql")
    assert doc.errors == [], doc.errors
    return doc


def test_meta_commands_and_variables_are_masked_at_equal_length():
    text = (
        "\\set app_pw `cat /run/secrets/app`\n"
        "\\connect app app_owner\n"
        "CREATE ROLE app LOGIN PASSWORD :'app_pw';\n"
        "CREATE TABLE :\"tbl\" (id int);\n"
        "SELECT :limit;\n"
        "SELECT 'CREATE DATABASE x' WHERE false\\gexec\n"
        "SELECT 1;\n"
    )
    doc = ok(text)
    assert len(doc.masked) == len(text)
    assert [i for i, c in enumerate(doc.masked) if c == "\n"] == [i for i, c in enumerate(text) if c == "\n"]
    kinds = [type(s.node).__name__ for s in doc.statements]
    assert kinds == ["CreateRoleStmt", "CreateStmt", "SelectStmt", "SelectStmt", "SelectStmt"]
    assert [s.line for s in doc.statements] == [3, 4, 5, 6, 7]
    role = doc.statements[0]
    pw = text.index(":'app_pw'")
    assert doc.is_masked(pw, pw + len(":'app_pw'")), "PASSWORD :'pw' must be known as a psql variable"
    assert role.text.startswith("CREATE ROLE app") and ":'app_pw'" in role.text  # original text kept
    metas = [text[s:e] for s, e, kind in doc.masked_spans if kind == "meta"]
    assert metas[0].startswith("\\set app_pw") and metas[1] == "\\connect app app_owner"


def test_backslashes_and_colons_inside_literals_and_bodies_are_untouched():
    text = (
        "SELECT E'a\\\\b', 'c:d', $$ \\set x :y $$;\n"
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $body$ SELECT 'x\\y' || ':z' $body$;\n"
    )
    doc = ok(text)
    assert doc.masked == text
    assert doc.masked_spans == []


def test_mask_keeps_casts_and_slices():
    masked, spans, _ = mask_psql("SELECT a::int, arr[1:2] FROM t;\n")
    assert masked == "SELECT a::int, arr[1:2] FROM t;\n" and spans == []


def test_statement_positions_and_node_locations_in_the_fast_path():
    text = "-- header\n\nCREATE TABLE a (id int);\n  GRANT SELECT ON a TO PUBLIC;\n"
    doc = ok(text)
    create, grant = doc.statements
    assert (create.line, create.col, create.end_line) == (3, 1, 3)
    assert (grant.line, grant.col) == (4, 3)
    spec = grant.node.grantees[0]
    assert text[grant.base + spec.location:].startswith("PUBLIC")


def test_a_rejected_statement_is_reported_at_its_line_and_the_rest_is_parsed():
    text = "CREATE TABLE a (id int);\nCREATE TABEL b (id int);\nGRANT SELECT ON a TO PUBLIC;\n"
    doc = parse(text, "init.sql")
    assert len(doc.errors) == 1 and doc.errors[0].line == 2
    assert "TABEL" in doc.errors[0].message
    good = [s for s in doc.statements if s.node is not None]
    assert [type(s.node).__name__ for s in good] == ["CreateStmt", "GrantStmt"]
    grant = good[1]
    assert grant.line == 3
    # node locations count from the statement's base, also in the slow path
    assert text[grant.base + grant.node.grantees[0].location:].startswith("PUBLIC")


def test_plpgsql_body_errors_are_reported():
    doc = parse(
        "CREATE TABLE t (id int);\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  x := 1;\n  RETURN 1;\nEND $$;\n"
        "DO $$ BEGIN RETURN 1; END $$;\n",
        "init.sql",
    )
    assert [(e.line, "PL/pgSQL" in e.message) for e in doc.errors] == [(2, True), (7, True)]
    assert '"x" is not a known variable' in doc.errors[0].message


def test_sql_body_and_language_errors_are_reported():
    doc = parse(
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $$ SELEC 1 $$;\n"
        "CREATE FUNCTION h() RETURNS int AS $$ SELECT 1 $$;\n",
        "init.sql",
    )
    assert [e.line for e in doc.errors] == [1, 2]
    assert "SELEC" in doc.errors[0].message and "no language" in doc.errors[1].message


def test_valid_bodies_pass():
    doc = ok(
        "CREATE FUNCTION a() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n"
        "CREATE FUNCTION b() RETURNS int RETURN 1;\n"
        "CREATE FUNCTION c() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.x := now(); RETURN NEW; END $$;\n"
        "CREATE FUNCTION d(p text) RETURNS SETOF int LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY EXECUTE format('SELECT %L', p); END $$;\n"
        "CREATE FUNCTION e() RETURNS int LANGUAGE c AS 'mylib', 'e';\n"
        "DO LANGUAGE plpgsql $$ DECLARE v int; BEGIN SELECT 1 INTO v; END $$;\n"
    )
    data, err = ok("DO $$ BEGIN NULL; END $$;").statements[0].plpgsql()
    assert err is None and data[0]["PLpgSQL_function"]["action"]
    assert len(doc.statements) == 6


def test_unterminated_literal_falls_back_to_line_masking():
    doc = parse("\\set x 1\nSELECT 'unterminated;\n", "init.sql")
    assert doc.errors, "PostgreSQL rejects an unterminated literal"
    assert doc.masked.startswith(" " * len("\\set x 1"))


SQLISH = st.text(alphabet=st.sampled_from(list("SELECT abc;:'\"$\\\n()-*/=1gexc")), max_size=80)


@settings(max_examples=300, deadline=None)
@given(SQLISH)
def test_parse_never_raises_and_masking_keeps_offsets(text):
    doc = parse(text, "fuzz.sql")
    assert len(doc.masked) == len(text)
    assert [i for i, c in enumerate(doc.masked) if c == "\n"] == [i for i, c in enumerate(text) if c == "\n"]
    for s in doc.statements:
        assert 1 <= s.line <= s.end_line <= text.count("\n") + 1
        assert text[s.offset:].startswith(s.text)
