"""prometheus.yml: positioned YAML plus the scrape jobs and their static targets."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Document, ParseError
from .compose import yaml_comments
from .yamlnodes import YMap, YNode, YScalar, YSeq, parse_yaml, secret_marks


class Target:
    """One scrape target of a prometheus job."""

    host: str
    port: int | None
    node: YScalar
    job: str

    __match_args__ = ("host", "port", "node", "job")

    def __init__(self, host, port, node, job):
        self.host = host
        self.port = port
        self.node = node
        self.job = job

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.host, self.port, self.node, self.job) == (other.host, other.port, other.node, other.job)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was


@dataclass(repr=False)
class PrometheusDocument(Document):
    """A parsed prometheus configuration."""

    root: YNode | None = None
    comments: list[tuple[int, str]] = field(default_factory=list)

    @property
    def jobs(self) -> list[YMap]:
        if not isinstance(self.root, YMap):
            return []
        sc = self.root.get("scrape_configs")
        return [j for j in sc if isinstance(j, YMap)] if isinstance(sc, YSeq) else []

    def job_name(self, job: YMap) -> str:
        return job.str("job_name") or ""

    def targets(self) -> list[Target]:
        out: list[Target] = []
        for job in self.jobs:
            name = self.job_name(job)
            statics = job.get("static_configs")
            if not isinstance(statics, YSeq):
                continue
            for sc in statics:
                if not isinstance(sc, YMap):
                    continue
                tg = sc.get("targets")
                if not isinstance(tg, YSeq):
                    continue
                for t in tg:
                    if isinstance(t, YScalar) and t.value is not None:
                        host, _, port = str(t).rpartition(":") if ":" in str(t) else (str(t), "", "")
                        try:
                            p = int(port) if port else None
                        except ValueError:
                            p = None
                        out.append(Target(host or str(t), p, t, name))
        return out


def looks_like_prometheus(root: YNode | None) -> bool:
    return isinstance(root, YMap) and any(k in root for k in ("scrape_configs", "global", "rule_files", "alerting"))


def parse(text: str, path: str) -> PrometheusDocument:
    doc = PrometheusDocument(path=path, text=text)
    try:
        root, errors = parse_yaml(text)
        doc.root = root
        doc.secret_marks = secret_marks(text, root)  # values of secret keys, as written
        doc.errors.extend(errors)
        doc.comments = yaml_comments(text)
        if root is not None and not isinstance(root, YMap):
            doc.errors.append(ParseError("prometheus configuration must be a mapping", root.line, root.col))
        elif isinstance(root, YMap):
            sc = root.get("scrape_configs")
            if sc is not None and not isinstance(sc, YSeq):
                doc.errors.append(ParseError("scrape_configs must be a list", sc.line, sc.col))
    except Exception as exc:  # noqa: BLE001
        doc.errors.append(ParseError(f"internal parser error: {exc.__class__.__name__}", 1, 1))
    return doc
