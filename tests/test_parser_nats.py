from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.parsers.base import Document
from scanner.parsers.nats import NatsBlock, NatsDocument, parse


def ok(text: str) -> NatsDocument:
    doc = parse(text, "nats.conf")
    assert doc.errors == [], doc.errors
    return doc


def test_three_separators_and_positions():
    doc = ok("port: 4222\nhost = 0.0.0.0\nserver_name nats-1\n")
    port, host, name = doc.root.entries
    assert (port.key, port.value, port.line, port.col) == ("port", 4222, 1, 1)
    assert (port.value_line, port.value_col, port.end_line, port.end_col) == (1, 7, 1, 11)
    assert port.raw == "4222" and not port.quoted and not port.is_ref
    assert (host.value, host.value_col) == ("0.0.0.0", 8)
    assert (name.value, name.line, name.value_col) == ("nats-1", 3, 13)


def test_scalar_types():
    doc = ok(
        "a: true\nb: no\nc: ON\nd: 1MB\ne: 8mb\nf: 1k\ng: 1G\nh: 1.5\ni: -3\n"
        "j: \"2m\"\nk: 10s\nl: 2m\nm: 1Ki\nn: 'raw \\n'\no: \"esc\\t\\\"q\\\"\"\n"
    )
    get = lambda k: doc.root.get(k).value  # noqa: E731
    assert get("a") is True and get("b") is False and get("c") is True
    assert get("d") == 1024 * 1024 and get("e") == 8 * 1024 * 1024
    assert get("f") == 1000 and get("g") == 1000**3
    assert get("h") == 1.5 and get("i") == -3
    assert get("j") == "2m" and doc.root.get("j").quoted
    assert get("k") == "10s"
    assert get("l") == 2_000_000  # unquoted 2m is an integer in nats-server too
    assert doc.root.get("l").raw == "2m"
    assert get("m") == 1024
    assert get("n") == "raw \\n"
    assert get("o") == 'esc\t"q"'


def test_quoted_value_positions():
    doc = ok('server_name: "nats_internal_broker"\n')
    e = doc.root.get("server_name")
    assert (e.value_col, e.end_col) == (14, 36)
    assert e.raw == '"nats_internal_broker"' and e.quoted


def test_blocks_with_and_without_colon_nested():
    text = """
jetstream {
    store_dir: "/data"
    limits: {
        max_mem: 1G
    }
}
authorization: {
  token: $TOKEN
}
"""
    doc = ok(text)
    js = doc.root.get("jetstream")
    assert isinstance(js.value, NatsBlock)
    assert (js.line, js.col, js.value_line, js.value_col, js.end_line, js.end_col) == (2, 1, 2, 11, 7, 2)
    assert js.raw == ""
    limits = js.value.get("LIMITS")  # case-insensitive
    assert limits.value.get("max_mem").value == 1000**3
    assert (limits.value.line, limits.value.col) == (4, 13)
    auth = doc.root.get("authorization").value
    assert auth.get("token").is_ref and auth.get("token").value == "$TOKEN"


def test_arrays_single_and_multi_line_and_of_blocks():
    text = """
listen_list = [ "a:1", 'b:2', c ]
routes [
  nats://r1:6222   # first
  nats://r2:6222,
]
users = [
  {user: alice, password: $ALICE_PASS}
  {user: bob, password: "bob", permissions: {publish: ["x.>"]}}
]
"""
    doc = ok(text)
    assert doc.root.get("listen_list").value == ["a:1", "b:2", "c"]
    assert doc.root.get("routes").value == ["nats://r1:6222", "nats://r2:6222"]
    users = doc.root.get("users").value
    assert all(isinstance(u, NatsBlock) for u in users)
    assert users[0].get("user").value == "alice"
    assert users[0].get("password").is_ref
    assert users[1].get("permissions").value.get("publish").value == ["x.>"]
    assert (users[1].line, users[1].col) == (9, 3)
    assert (4, "first") in doc.comments


def test_references_everywhere_including_array_items():
    text = "TOKEN: s3cret\nport: $PORT\nroutes: [$R1, nats://x, $R2]\nauthorization { token: $TOKEN }\n"
    doc = ok(text)
    refs = [(r.key, r.value, r.line, r.col) for r in doc.references]
    assert ("port", "$PORT", 2, 1) in refs
    assert ("routes", "$R1", 3, 10) in refs and ("routes", "$R2", 3, 25) in refs
    assert ("token", "$TOKEN", 4, 17) in refs
    assert len(refs) == 4
    token_ref = next(r for r in doc.references if r.value == "$TOKEN")
    assert token_ref.ref_name == "TOKEN"
    assert doc.variable("TOKEN").value == "s3cret"
    assert doc.variable("NOPE") is None


def test_include_directive():
    doc = ok('include ./accounts.conf\nauthorization {\n  include "auth.conf"\n}\n')
    assert [(i.value, i.line, i.value_col, i.quoted) for i in doc.includes] == [
        ("./accounts.conf", 1, 9, False),
        ("auth.conf", 3, 11, True),
    ]
    assert doc.root.get("include").value == "./accounts.conf"


def test_comments_hash_and_slashes():
    doc = ok("# one\n// two\nport: 1 # three\nurl: nats://h:4222 // four\n")
    assert doc.comments == [(1, "one"), (2, "two"), (3, "three"), (4, "four")]
    assert doc.root.get("url").value == "nats://h:4222"


def test_semicolons_and_commas_end_values():
    doc = ok("a: 1; b: 2\nm { x: 1, y: 2; z: 3 }\n")
    assert doc.root.get("a").value == 1 and doc.root.get("b").value == 2
    assert [e.key for e in doc.root.get("m").value.entries] == ["x", "y", "z"]


def test_whole_file_wrapped_in_braces():
    doc = ok("{\n  port: 4222\n}\n")
    assert doc.root.get("port").value == 4222


def test_get_last_wins_and_all():
    doc = ok("port: 1\nPORT: 2\n")
    assert doc.root.get("port").value == 2
    assert [e.value for e in doc.root.all("Port")] == [1, 2]


def test_unclosed_brace_keeps_what_parsed():
    doc = parse("port: 1\njetstream {\n  store_dir: /data\n", "nats.conf")
    assert len(doc.errors) == 1
    assert (doc.errors[0].line, doc.errors[0].col) == (2, 11)
    assert doc.root.get("port").value == 1
    assert doc.root.get("jetstream").value.get("store_dir").value == "/data"


def test_unclosed_bracket_and_stray_brace():
    doc = parse("a: [1, 2\n", "nats.conf")
    assert [(e.line, e.col) for e in doc.errors] == [(1, 4)]
    assert doc.root.get("a").value == [1, 2]
    doc = parse("a: 1\n}\nb: 2\n", "nats.conf")
    assert [(e.line, e.col) for e in doc.errors] == [(2, 1)]
    assert doc.root.get("b").value == 2


def test_unterminated_string():
    doc = parse('a: "open\nb: 2\n', "nats.conf")
    assert doc.errors and (doc.errors[0].line, doc.errors[0].col) == (1, 4)


def test_missing_value_and_garbage_after_value():
    doc = parse("a:\nb: 1 2\nc: 3\n", "nats.conf")
    assert [(e.line, e.col) for e in doc.errors] == [(1, 3), (2, 6)]
    assert doc.root.get("c").value == 3


def test_paren_block_string():
    doc = ok("cert: (\n-----BEGIN-----\nabc\n)\nport: 1\n")
    assert doc.root.get("cert").value == "-----BEGIN-----\nabc"
    assert doc.root.get("port").value == 1


def test_deep_nesting_does_not_blow_the_stack():
    doc = parse("a " + "{b " * 5000, "nats.conf")
    assert isinstance(doc, NatsDocument) and doc.errors


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fuzz_text(text):
    assert isinstance(parse(text, "nats.conf"), Document)


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_fuzz_binary(data):
    assert isinstance(parse(data.decode("utf-8", errors="replace"), "nats.conf"), NatsDocument)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", ":", "=", " ", "\n", "{", "}", "[", "]", ",", ";", '"', "'", "$V", "1MB", "#", "//", "(", ")", "include ", "\\x"])))
def test_fuzz_tokens(parts):
    assert isinstance(parse("".join(parts), "nats.conf"), NatsDocument)
