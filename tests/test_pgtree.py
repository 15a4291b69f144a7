"""scanner.parsers.pgtree: libpg_query's JSON as nodes equal to pglast's AST, field for field, and
the simplest nodes printed as pglast's RawStream prints them; pglast's AST is not imported to audit."""

import enum
import subprocess
import sys
from pathlib import Path

import pglast
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pglast import ast as real
from pglast.stream import RawStream

from scanner.parsers import pgtree

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def norm_real(v):
    if isinstance(v, tuple):
        return ("tuple",) + tuple(norm_real(x) for x in v)
    if isinstance(v, enum.Enum):
        return ("str", v.name)  # pgtree gives an enum as its member name
    if isinstance(v, real.Node):
        return (type(v).__name__,) + tuple((f, norm_real(getattr(v, f))) for f in v.__slots__)
    return (type(v).__name__, v)


def norm_mine(v):
    if isinstance(v, tuple):
        return ("tuple",) + tuple(norm_mine(x) for x in v)
    if isinstance(v, pgtree.Node):
        assert set(vars(v)) <= set(v._fields), f"{type(v).__name__} holds fields pglast has not"
        assert list(vars(v)) == [f for f in v._fields if f in vars(v)], f"{type(v).__name__}: fields out of order"
        return (type(v).__name__,) + tuple((f, norm_mine(getattr(v, f))) for f in v._fields)
    return (type(v).__name__, v)


def same_parse(text: str):
    """Both parses of ``text``: equal trees, or the same error."""
    try:
        want = pglast.parse_sql(text)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        with pytest.raises(type(exc)) as got:
            pgtree.parse_sql(text)
        assert got.value.args == exc.args
        return None, None
    got = pgtree.parse_sql(text)
    assert norm_mine(got) == norm_real(want)
    return want, got


def nodes(v, cls):
    if isinstance(v, tuple):
        for x in v:
            yield from nodes(x, cls)
    elif isinstance(v, cls):
        yield v
        for f in (v.__slots__ if cls is real.Node else v._fields):
            yield from nodes(getattr(v, f), cls)


def printed(node):
    try:
        return RawStream()(node)
    except Exception as exc:  # noqa: BLE001 - compared
        return ("error", type(exc).__name__)


def same_printing(want, got):
    """Every node prints the same: pglast's printer over ``to_pglast`` of ours, and ``print_simple``
    wherever it prints."""
    simple = 0
    for a, b in zip(nodes(want, real.Node), nodes(got, pgtree.Node), strict=True):
        if isinstance(a, (real.String, real.Integer, real.Float, real.Boolean, real.BitString)):
            continue
        expected = printed(a)
        assert printed(pgtree.to_pglast(b)) == expected, type(a).__name__
        mine = pgtree.print_simple(b)
        if mine is not None:
            simple += 1
            assert mine == expected, type(a).__name__
    return simple


def test_fields_are_generated_from_the_installed_pglast():
    from scanner.parsers import pgtree_fields

    assert Path(pgtree_fields.__file__).read_text(encoding="utf-8") == pgtree.generate_fields(), \
        "regenerate: python -m scanner.parsers.pgtree --generate"


def _scripts():
    roots = [ROOT / "fixtures", SHARED / "corpus"]
    return sorted(p for r in roots if r.is_dir() for p in r.rglob("*.sql"))


def test_every_script_of_the_fixtures_and_corpus_parses_as_pglast_parses_it():
    scripts = _scripts()
    assert len(scripts) > 50
    simple = 0
    for path in scripts:
        text = path.read_text(encoding="utf-8", errors="replace")
        want, got = same_parse(text)
        if want is not None:
            simple += same_printing(tuple(r.stmt for r in want), tuple(r.stmt for r in got))
    assert simple > 100  # print_simple did print: the comparison compared something


# -- generated statements --------------------------------------------------------------------------

IDENT = st.sampled_from(["a", "user_id", "Name", "é", "ü𝄞x", "select", "user", "order", "left", "x y", 'q"t',
                         "pg_catalog", "coalesce", "current_setting", "public", "count", "tenant_id"])
QIDENT = IDENT.map(lambda s: '"' + s.replace('"', '""') + '"')
NAME = st.one_of(st.sampled_from(["a", "t", "user_id", "tenant_id", "x1"]), QIDENT)
STRING = st.text(st.sampled_from("ab'é𝄞 \\%$"), max_size=6).map(lambda s: "'" + s.replace("'", "''") + "'")
NUMBER = st.sampled_from(["0", "1", "-1", "42", "1.5", "-0.25", "1e3", "9223372036854775808"])
CONST = st.one_of(STRING, NUMBER, st.sampled_from(["true", "false", "null", "TRUE", "b'101'", "x'1f'"]))
TYPE = st.one_of(
    st.sampled_from(["int", "integer", "bigint", "smallint", "text", "boolean", "bool", "real", "float8",
                     "double precision", "numeric", "numeric(10, 2)", "varchar", "varchar(20)", "char",
                     "char(1)", "char(3)", "\"char\"", "character varying(5)", "timestamp", "timestamptz",
                     "timestamp(3) with time zone", "time", "timetz", "interval", "interval hour to minute",
                     "interval(2)", "bit varying", "varbit(3)", "uuid", "jsonb", "public.mytype", "t.c%TYPE",
                     "text[]", "int[3][]", "\"My Type\"", "pg_catalog.int4", "regclass", "setof int"]),
)


@st.composite
def expr(draw, depth=0):
    leaf = st.one_of(CONST, NAME, NAME.map(lambda n: "t." + n), st.just("t.*"),
                     st.sampled_from(["current_user", "session_user", "now()", "$1"]))
    if depth > 2:
        return draw(leaf)
    sub = expr(depth + 1)
    form = draw(st.integers(0, 11))
    if form == 0:
        return draw(leaf)
    if form == 1:
        return f"{draw(NAME)}({', '.join(draw(st.lists(sub, max_size=3)))})"
    if form == 2:
        return f"{draw(sub)} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if form == 3:
        return f"{draw(sub)} {draw(st.sampled_from(['=', '<>', '+', '-', '*', '||', 'AND', 'OR', '<', 'LIKE']))} {draw(sub)}"
    if form == 4:
        return f"NOT {draw(sub)}"
    if form == 5:
        return f"({draw(sub)})::{draw(TYPE.filter(lambda t: not t.startswith('setof') and '%' not in t))}"
    if form == 6:
        return f"CAST({draw(sub)} AS {draw(TYPE.filter(lambda t: not t.startswith('setof') and '%' not in t))})"
    if form == 7:
        return f"coalesce({draw(sub)}, {draw(sub)})"
    if form == 8:
        return f"current_setting({draw(STRING)}, {draw(st.sampled_from(['true', 'false']))})"
    if form == 9:
        return "count(*)"
    if form == 10:
        return f"CASE WHEN {draw(sub)} THEN {draw(sub)} ELSE {draw(sub)} END"
    return f"{draw(sub)} IN ({draw(sub)}, {draw(sub)})"


@st.composite
def statement(draw):
    e = draw(expr())
    form = draw(st.integers(0, 5))
    if form == 0:
        return f"SELECT {e}"
    if form == 1:
        return f"CREATE POLICY p ON {draw(NAME)} USING ({e}) WITH CHECK ({draw(expr())})"
    if form == 2:
        args = ", ".join(f"{draw(NAME)} {draw(TYPE.filter(lambda t: not t.startswith('setof')))}"
                         for _ in range(draw(st.integers(0, 3))))
        return f"CREATE FUNCTION f({args}) RETURNS {draw(TYPE)} AS $$ SELECT 1 $$ LANGUAGE sql"
    if form == 3:
        return f"CREATE TABLE {draw(NAME)} ({draw(NAME)} {draw(TYPE.filter(lambda t: not t.startswith('setof') and '%' not in t))} DEFAULT {e})"
    if form == 4:
        return f"INSERT INTO t (a, b) VALUES ({e}, {draw(expr())})"
    return f"-- {draw(IDENT)}\nUPDATE t SET a = {e} WHERE {draw(expr())};\nSELECT {draw(expr())}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statement(), min_size=1, max_size=3))
def test_generated_statements_parse_and_print_as_pglast(stmts):
    text = ";\n".join(stmts)
    want, got = same_parse(text)
    if want is not None:
        same_printing(tuple(r.stmt for r in want), tuple(r.stmt for r in got))


@pytest.mark.parametrize("text", ["", "  ", "select 1", "select 'é';", "-- 𝄞\nselect 1; select 2", "select 1;\n-- é",
                                  "selec 1", "select '\ud800'", "create role r password 'p'; select $$𝄞$$"])
def test_edges_parse_as_pglast(text):
    same_parse(text)


def test_auditing_sql_imports_neither_pglast_ast_nor_its_printer():
    """The bundled stack (SQL with functions, policies printed in messages) is audited without
    pglast's AST, enums or printer modules being executed."""
    code = ("import sys; from pathlib import Path; from scanner.engine import audit; "
            "r = audit([Path('fixtures/studios-dk')], jobs=1); "
            "print(sorted({f.rule for f in r.findings if f.rule in ('DATA045', 'DATA046', 'APP061', 'DATA053')})); "
            "print(type(sys.modules['pglast.ast']).__name__, type(sys.modules['pglast.enums']).__name__, "
            "'pglast.stream' in sys.modules, 'pglast.printers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rules, modules = out.stdout.strip().splitlines()[-2:]
    assert rules == "['APP061', 'DATA045', 'DATA046', 'DATA053']"
    assert modules == "_Deferred _Deferred False False"


def test_deferred_modules_load_when_used():
    code = ("from scanner.parsers.pgtree import pglast_parser, parse_sql, to_pglast; pglast_parser(); "
            "import sys; from pglast.stream import RawStream; "
            "print(RawStream()(to_pglast(parse_sql('select a from t where b is not null')[0].stmt)), "
            "type(sys.modules['pglast.ast']).__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "SELECT a FROM t WHERE b IS NOT NULL module"
