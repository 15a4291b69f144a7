"""End of life: which product cycles an image reference runs, and when each stops receiving fixes.

The data is an endoflife.date snapshot (``scanner/data/eol.json``, or the file the policy's
``eol.data`` names; refreshed by ``python -m scanner.eol_refresh``). An image maps to products by
its repository base name (``python``, ``golang``, ``postgres``...); an operating-system codename in
its tag counts as its own product (``python:3.11-buster`` → Debian 10, ``node:18-alpine3.16`` →
Alpine 3.16, ``eclipse-temurin:17-jammy`` → Ubuntu 22.04).

Tag matching is written here because no library maps Docker tags to endoflife.date cycles: the
version at the start of the tag is matched against the product's cycles on dot boundaries
(``3.7.17-slim`` → cycle ``3.7``; ``16.4-alpine`` → ``16``), the longest cycle first.

Also here, for every rule that judges a running image (APP013/APP014/APP046, GW094): :class:`ImageRef`
(an image reference with its location and how to edit a span of it), :func:`compose_image`,
:func:`from_image`, :func:`cycle_of` and :func:`bump_fix` (the bump-the-tag fix).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rules.helpers.compose import image_parts
from rules.helpers.locations import yloc
from scanner.model import Edit, Fix, Location
from scanner.parsers.yamlnodes import YScalar
from scanner.plain import frozen_error as _frozen, recursive_repr as _recursive_repr
from scanner.lazyre import LazyRe
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack

NAMES = {"debian": "Debian", "ubuntu": "Ubuntu", "alpine": "Alpine", "python": "Python", "go": "Go", "nodejs": "Node.js",
         "postgresql": "PostgreSQL", "redis": "Redis", "mysql": "MySQL", "mariadb": "MariaDB", "rust": "Rust",
         "nginx": "nginx", "ruby": "Ruby", "php": "PHP"}


def shipped_path() -> Path:
    """The snapshot shipped inside the package (``scanner/data/eol.json``)."""
    from scanner.fsutil import shipped

    return shipped("eol.json")


class EolDataError(ValueError):
    """The EOL data file cannot be read or has the wrong shape."""


class Cycle:
    product: str
    cycle: str
    eol: _dt.date | None  # None: still supported (``eol: false``)
    codename: str | None
    lts: _dt.date | None  # endoflife.date ``extendedSupport`` when a date

    __match_args__ = ("product", "cycle", "eol", "codename", "lts")

    def __init__(self, product, cycle, eol, codename, lts):
        object.__setattr__(self, "product", product)
        object.__setattr__(self, "cycle", cycle)
        object.__setattr__(self, "eol", eol)
        object.__setattr__(self, "codename", codename)
        object.__setattr__(self, "lts", lts)

    @_recursive_repr()
    def __repr__(self):
        return f"{self.__class__.__qualname__}(product={self.product!r}, cycle={self.cycle!r}, eol={self.eol!r}, codename={self.codename!r}, lts={self.lts!r})"

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.product, self.cycle, self.eol, self.codename, self.lts) == (other.product, other.cycle, other.eol, other.codename, other.lts)
        return NotImplemented

    def __hash__(self):
        return hash((self.product, self.cycle, self.eol, self.codename, self.lts))

    def __setattr__(self, name, value):
        if type(self) is Cycle or name in ("product", "cycle", "eol", "codename", "lts"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(Cycle, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is Cycle or name in ("product", "cycle", "eol", "codename", "lts"):
            raise _frozen(f"cannot delete field {name!r}")
        super(Cycle, self).__delattr__(name)


class EolData:
    snapshot: str
    products: dict  # product -> {"images": [...], "judge": "eol"|"extendedSupport", "cycles": [Cycle]}
    by_image: dict  # repository base name -> product
    codenames: dict  # codename -> Cycle (debian, ubuntu)

    __match_args__ = ("snapshot", "products", "by_image", "codenames")

    def __init__(self, snapshot, products, by_image, codenames):
        object.__setattr__(self, "snapshot", snapshot)
        object.__setattr__(self, "products", products)
        object.__setattr__(self, "by_image", by_image)
        object.__setattr__(self, "codenames", codenames)

    @_recursive_repr()
    def __repr__(self):
        return f"{self.__class__.__qualname__}(snapshot={self.snapshot!r}, products={self.products!r}, by_image={self.by_image!r}, codenames={self.codenames!r})"

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.snapshot, self.products, self.by_image, self.codenames) == (other.snapshot, other.products, other.by_image, other.codenames)
        return NotImplemented

    def __hash__(self):
        return hash((self.snapshot, self.products, self.by_image, self.codenames))

    def __setattr__(self, name, value):
        if type(self) is EolData or name in ("snapshot", "products", "by_image", "codenames"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(EolData, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is EolData or name in ("snapshot", "products", "by_image", "codenames"):
            raise _frozen(f"cannot delete field {name!r}")
        super(EolData, self).__delattr__(name)

    def until(self, c: Cycle) -> _dt.date | None:
        """The date images of the cycle stop receiving fixes: ``eol``, or the extended support the
        product's images keep (Debian LTS updates reach the same archive the images use)."""
        if self.products[c.product].get("judge") == "extendedSupport" and c.lts is not None:
            return c.lts
        return c.eol


def _date(value) -> _dt.date | None:
    if value is True:
        return _dt.date.min
    if not value:
        return None
    try:
        return _dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise EolDataError(f"bad date {str(value)[:20]!r}") from exc


def parse_data(raw: dict) -> EolData:
    """The snapshot from its JSON object; EolDataError when it has the wrong shape."""
    if not isinstance(raw, dict) or not isinstance(raw.get("products"), dict):
        raise EolDataError("no 'products' mapping")
    products, by_image, codenames = {}, {}, {}
    for name, prod in raw["products"].items():
        if not isinstance(prod, dict) or not isinstance(prod.get("cycles"), list):
            raise EolDataError(f"product {str(name)[:40]!r} has no 'cycles' list")
        cycles = []
        for row in prod["cycles"]:
            if not isinstance(row, dict) or "cycle" not in row:
                raise EolDataError(f"product {str(name)[:40]!r}: a cycle without 'cycle'")
            code = row.get("codename")
            code = str(code).split()[0].lower() if code else None
            lts = row.get("extendedSupport")
            c = Cycle(name, str(row["cycle"]), _date(row.get("eol")), code, None if isinstance(lts, bool) else _date(lts))
            cycles.append(c)
            if code:
                codenames[code] = c
        cycles.sort(key=lambda c: len(c.cycle), reverse=True)  # longest first: 10.11 before 10.1
        products[name] = {**prod, "cycles": cycles}
        for img in prod.get("images") or ():
            by_image[str(img).lower()] = name
    return EolData(str(raw.get("snapshot") or "unknown"), products, by_image, codenames)


def _load(path: str) -> EolData:
    try:
        st = Path(path).stat()
    except OSError as exc:
        raise EolDataError(exc.__class__.__name__) from exc
    return _load_version(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _load_version(path: str, _mtime: int, _size: int) -> EolData:
    """The parsed file, once per version of it (a monorepo's deployments share one parse)."""
    from scanner.fsutil import read_limited

    try:
        return parse_data(json.loads(read_limited(Path(path), 8 * 1024 * 1024)))
    except EolDataError:
        raise
    except (OSError, ValueError, RecursionError) as exc:
        raise EolDataError(exc.__class__.__name__) from exc


def eol_data(stack: Stack) -> EolData | None:
    """The EOL snapshot the policy names (``eol.data``, relative to the configuration file), else the
    shipped one; None (with a note) when it cannot be read.

    The configuration may come from the scanned repository, so ``eol.data`` names a file inside
    the configuration file's directory (symbolic links resolved), like ruff resolves paths relative
    to its configuration: an absolute path or one leaving that directory is refused before the
    filesystem is asked, so the note says the same whether such a file exists or not."""
    def compute():
        configured = stack.policy.get("eol.data")
        path = shipped_path()
        if configured:
            src = (Path(stack.policy.source).parent if stack.policy.source else stack.root).resolve()
            try:
                path = (src / str(configured)).resolve()
                path.relative_to(src)
            except (ValueError, OSError, RuntimeError):
                stack.note(f"end-of-life data '{configured}' is not a path inside the configuration file's directory: "
                           f"refused; APP013, APP014 and APP046 did not run")
                return None
        try:
            data = _load(str(path))
        except EolDataError as exc:
            stack.note(f"end-of-life data '{configured or 'shipped'}' could not be read ({exc}): APP013, APP014 and APP046 did not run")
            return None
        age = (stack.policy.today() - _date(data.snapshot)).days if re.fullmatch(r"\d{4}-\d\d-\d\d", data.snapshot) else None
        if age is not None and age > 365:
            stack.note(f"the end-of-life data is a snapshot of {data.snapshot} ({age} days old): cycles released since are "
                       f"unknown to it; refresh it with `python -m scanner.eol_refresh`")
        return data
    return stack.memo("eol_data", compute)


class Running:
    """One product cycle an image reference runs, and where its version is written in the reference."""

    cycle: Cycle
    start: int  # offset of the version (or codename) in the reference
    end: int
    main: bool  # the image's own product (not an OS codename in its tag)

    __match_args__ = ("cycle", "start", "end", "main")

    def __init__(self, cycle, start, end, main):
        object.__setattr__(self, "cycle", cycle)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "main", main)

    @_recursive_repr()
    def __repr__(self):
        return f"{self.__class__.__qualname__}(cycle={self.cycle!r}, start={self.start!r}, end={self.end!r}, main={self.main!r})"

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.cycle, self.start, self.end, self.main) == (other.cycle, other.start, other.end, other.main)
        return NotImplemented

    def __hash__(self):
        return hash((self.cycle, self.start, self.end, self.main))

    def __setattr__(self, name, value):
        if type(self) is Running or name in ("cycle", "start", "end", "main"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(Running, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is Running or name in ("cycle", "start", "end", "main"):
            raise _frozen(f"cannot delete field {name!r}")
        super(Running, self).__delattr__(name)


_VERSION = LazyRe(r"v?(\d+(?:\.\d+)*)")


def _match_cycle(data: EolData, product: str, version: str) -> Cycle | None:
    for c in data.products[product]["cycles"]:
        if version == c.cycle or version.startswith(c.cycle + "."):
            return c
    return None


def cycle_of(data: EolData, product: str, version: str) -> Cycle | None:
    """The product's cycle a version string belongs to (``1.20.0`` -> nginx ``1.20``), or None."""
    return _match_cycle(data, product, version) if product in data.products else None


def image_cycles(data: EolData, ref: str) -> list[Running]:
    """The product cycles an image reference runs (its own product, then OS codenames in its tag)."""
    if not ref or "$" in ref:
        return []
    repo, tag, _digest = image_parts(ref)
    if not tag:
        return []
    base = repo.rsplit("/", 1)[-1].lower()
    tag_at = len(repo) + 1
    out: list[Running] = []
    product = data.by_image.get(base)
    if product is not None:
        m = _VERSION.match(tag)
        c = _match_cycle(data, product, m.group(1)) if m else None
        if c is None and product in ("debian", "ubuntu"):
            word = re.match(r"[a-z]+", tag)
            c = data.codenames.get(word.group(0)) if word else None
            if c is not None and c.product == product:
                out.append(Running(c, tag_at, tag_at + word.end(), True))
                return out
        elif c is not None:
            out.append(Running(c, tag_at + m.start(1), tag_at + m.end(1), True))
    # OS codenames and alpineX.Y in the tag's words (after the version)
    for w in re.finditer(r"[A-Za-z]+[0-9.]*", tag):
        word = w.group(0).lower()
        if word in data.codenames and data.codenames[word].product != product:
            out.append(Running(data.codenames[word], tag_at + w.start(), tag_at + w.end(), False))
        elif word.startswith("alpine") and product != "alpine" and "alpine" in data.products:
            c = _match_cycle(data, "alpine", word[6:]) if word[6:] else None
            if c is not None:
                out.append(Running(c, tag_at + w.start(), tag_at + w.end(), False))
    return out


def when(d: _dt.date) -> str:
    """A date for a message (``eol: true`` without a date reads "a date endoflife.date does not give")."""
    return "a date endoflife.date does not give" if d == _dt.date.min else d.isoformat()


def describe(data: EolData, c: Cycle) -> str:
    name = NAMES.get(c.product, c.product)
    code = f" ({c.codename})" if c.codename else ""
    return f"{name} {c.cycle}{code}"


def lts_note(data: EolData, c: Cycle) -> str:
    """`` (end of its LTS; regular support ended …)`` when the date judged is the extended support."""
    until = data.until(c)
    if until is not None and until != c.eol and c.eol is not None:
        return f" (end of its LTS; regular security support ended {when(c.eol)})"
    return ""


def successor(data: EolData, c: Cycle, after: _dt.date) -> Cycle | None:
    """The oldest later cycle of the product still supported after ``after`` (the smallest bump)."""
    def key(x: Cycle):
        return tuple(n for p in x.cycle.split(".") if (n := small_int(p)) is not None)

    later = [x for x in data.products[c.product]["cycles"] if key(x) > key(c)]
    ok = [x for x in later if (data.until(x) is None or data.until(x) > after)]
    return min(ok, key=key) if ok else None


class ImageRef:
    """An image reference written in the stack: its text, where it is, and how to edit a span of it."""

    def __init__(self, ref: str, loc: Location, edit_at=None):
        self.ref = ref
        self.loc = loc
        self._edit_at = edit_at  # offset in ref -> (line, col), or None when the text is not as written

    def span(self, start: int, end: int) -> Location | None:
        if self._edit_at is None:
            return None
        a, b = self._edit_at(start), self._edit_at(end - 1)
        if a is None or b is None or a[0] != b[0]:
            return None
        return Location(self.loc.path, a[0], a[1], b[0], b[1] + 1)


def compose_image(svc) -> ImageRef | None:
    node = svc.get("image")
    if not isinstance(node, YScalar) or not str(node).strip():
        return None
    ref = str(node)
    doc = svc.doc
    edit_at = None
    if node.line == node.end_line and not getattr(node, "vars", None):
        text = doc.line_text(node.line)
        col0 = node.col - 1 + (1 if text[node.col - 1:node.col] in ("'", '"') else 0)
        if text[col0:col0 + len(ref)] == ref:
            def edit_at(i, line=node.line, col0=col0):
                return (line, col0 + i + 1)
    return ImageRef(ref, yloc(doc.path, node), edit_at)


def from_image(doc, stage) -> ImageRef | None:
    from rules.helpers.dockerfile import (  # only when a Dockerfile is read
        dockerfile_expand,
        global_args,
        ins_loc,
    )

    ins = stage.from_instruction
    words = ins.words()
    if not words:
        return None
    word, offset = words[0]
    ref = word
    if "$" in word:
        expanded = dockerfile_expand(word, global_args(doc))
        if not expanded:
            return None
        return ImageRef(expanded, ins_loc(doc, ins, offset, len(word)))
    raw = ins.args[offset:offset + len(word)]
    edit_at = (lambda i: ins.arg_pos(offset + i)) if raw == word else None
    return ImageRef(ref, ins_loc(doc, ins, offset, len(word)), edit_at)


def bump_fix(data, img: ImageRef, run, after: _dt.date) -> Fix | None:
    """The fix that bumps a running cycle's version in the image reference to the oldest later cycle
    still supported after ``after`` (None for an OS codename, or when the text is not as written)."""
    if not run.main:
        return None
    nxt = successor(data, run.cycle, after)
    where = img.span(run.start, run.end)
    if nxt is None or where is None:
        return None
    return Fix(f"bump {describe(data, run.cycle)} to {nxt.cycle}", (Edit(where, nxt.cycle),))
