#!/usr/bin/env python3
"""The floor: what any scanner of these files must pay, with the same parsers dkscan uses.

    python benchmarks/floor.py PATH...

Start Python, import only the parser libraries the files present need, read every file dkscan
would read and parse the ones a library parses: YAML (compose, prometheus, alert rules) composed to
positioned nodes by PyYAML's C loader, as dkscan does; nginx configurations lexed and parsed by
crossplane (includes followed, as dkscan follows them); SQL parsed by libpg_query through pglast's
C entry point straight to JSON (no Python syntax tree); shell scripts (``*.sh``, ``*.bash``, a shell
shebang) parsed by tree-sitter-bash, as dkscan parses them. Dockerfiles, dotenv files,
sshd/Fail2Ban/NATS configs are only read: no library parses them. Prints the number of files and
YAML nodes / nginx directives / SQL statements seen (so the work cannot be optimised away) and
exits 0. dkscan's cost against this script, measured in the same run, is what benchmarks/run.py
reports as "x the floor".
"""

from __future__ import annotations

import os
import sys

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox"}


def _kind(path: str) -> str:
    low = os.path.basename(path).lower()
    parent = os.path.basename(os.path.dirname(path)).lower()
    if low.endswith((".yml", ".yaml")):
        return "yaml"
    if low.endswith(".sql"):
        return "sql"
    if low.endswith(".conf") and ("nginx" in low or parent in ("conf.d", "nginx", "sites-enabled", "http.d")):
        return "nginx"
    if low.endswith((".sh", ".bash")):
        return "shell"
    return "text"


def files(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        if os.path.isfile(p):
            out.append(p)
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            out.extend(os.path.join(dirpath, f) for f in sorted(filenames))
    return out


def main(argv: list[str]) -> int:
    found = files(argv or ["."])
    kinds = {f: _kind(f) for f in found}
    seen = {"files": 0, "yaml_nodes": 0, "nginx_directives": 0, "sql_bytes": 0, "shell_nodes": 0}
    needed = set(kinds.values())
    if "yaml" in needed:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if "nginx" in needed:
        import crossplane
    if "sql" in needed:
        from pglast.parser import parse_sql_json
    shell_parser = None
    parsed_nginx: set[str] = set()
    for path in found:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        seen["files"] += 1
        kind = kinds[path]
        if kind == "text" and raw.startswith(b"#!") and any(sh in raw[:raw.find(b"\n")] for sh in (b"sh", b"bash")):
            kind = "shell"
        text = raw.decode("utf-8", "replace")
        try:
            if kind == "yaml":
                for doc in yaml.compose_all(text, Loader=loader):
                    stack = [doc]
                    while stack:
                        node = stack.pop()
                        seen["yaml_nodes"] += 1
                        value = getattr(node, "value", None)
                        if isinstance(value, list):
                            for item in value:
                                stack.extend(item if isinstance(item, tuple) else (item,))
            elif kind == "nginx" and os.path.realpath(path) not in parsed_nginx:
                payload = crossplane.parse(path, catch_errors=True, check_ctx=False, check_args=False)
                for conf in payload["config"]:
                    parsed_nginx.add(os.path.realpath(conf["file"]))
                    todo = list(conf["parsed"])
                    while todo:
                        d = todo.pop()
                        seen["nginx_directives"] += 1
                        todo.extend(d.get("block", ()))
            elif kind == "sql":
                seen["sql_bytes"] += len(parse_sql_json(text))
            elif kind == "shell":
                if shell_parser is None:
                    import tree_sitter
                    import tree_sitter_bash

                    shell_parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
                seen["shell_nodes"] += shell_parser.parse(raw).root_node.descendant_count
        except Exception:  # noqa: BLE001 - a file a library rejects still cost its read and its parse
            pass
    print(" ".join(f"{k}={v}" for k, v in seen.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
