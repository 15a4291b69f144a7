"""What the probe's rules (rules/live/) share: the headers and statuses they look for in the running gateway's answers."""

from __future__ import annotations

import re

from scanner.model import Location
from scanner.lazyre import LazyRe

MODERN = ("TLSv1.2", "TLSv1.3")
ERROR_HEADERS = ("strict-transport-security", "content-security-policy", "x-content-type-options",
                 "x-frame-options", "referrer-policy")
# add_header without `always` applies to these statuses only (ngx_http_headers_module)
ADD_HEADER_STATUSES = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308}
VERSIONED_SERVER = re.compile(r"^[A-Za-z][\w.+-]*/\d")
STATUS_BODY = LazyRe(r"Active connections:|^# (HELP|TYPE) |\"_links\"\s*:|/debug/pprof/|Types of profiles available|"
                         r"Apache Server Status|Server Version:|Total Accesses:", re.M)


def probed(*urls: str) -> list[Location]:
    """The URLs a probe finding observed, as its related locations (each once, in order): a drift
    finding points at the config line that promised otherwise, and the URL is where the live gateway
    did not keep the promise (rules catalog, LIVE: "with the URL as related location"). SARIF gives
    them as ``relatedLocations`` with the absolute URL as ``artifactLocation.uri``."""
    return [Location(u) for u in dict.fromkeys(urls)]


def level_label(level) -> str:
    if level is None or level.d is None:
        return "the server"
    if level.name == "location":
        return "location " + " ".join(level.args)
    return level.name
