"""Operational rules that read nginx with compose: includes that resolve to nothing, certificates
that renew without nginx ever loading them."""

from __future__ import annotations

import glob as globmod
import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.locations import nloc, svc_loc
from rules.helpers.services import mentions_nginx_reload
from scanner.model import hit
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

# Files the nginx images ship (official image, Debian/Ubuntu packages).
IMAGE_FILES = {"mime.types", "fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params", "koi-utf", "koi-win",
               "win-utf", "proxy_params", "fastcgi-php.conf", "snakeoil.conf", "nginx.conf", "default.conf"}
IMAGE_DIRS = ("/etc/nginx/modules/", "/usr/share/nginx/modules/", "/etc/nginx/modules-enabled/", "/usr/lib/nginx/modules/")
# Populated at run time by another container or the image's entrypoint.
RUNTIME_PREFIXES = ("/etc/letsencrypt/", "/etc/ssl/", "/var/lib/", "/run/", "/var/run/", "/tmp/")


def _mount_for(svc, cpath: str):
    """The volume/bind of ``svc`` with the longest target containing ``cpath`` (or None)."""
    best = None
    for m in svc.volumes:
        tgt = (m.target or "").rstrip("/") or "/"
        if cpath == tgt or cpath.startswith(tgt.rstrip("/") + "/"):
            if best is None or len(tgt) > len(best.target.rstrip("/")):
                best = m
    return best


def _official_nginx(svc) -> bool:
    """The official image (``nginx``, ``nginxinc/nginx-unprivileged``): dkscan knows what it ships."""
    image = (svc.image or "").split("@")[0]
    name = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return name in ("nginx", "library/nginx", "docker.io/nginx", "docker.io/library/nginx", "nginxinc/nginx-unprivileged")


def _gateway_mount(sf):
    for svc, target in sf.mounted_by:
        if svc.role == "gateway":
            return svc, target
    return None, None


def _include_problems(stack: Stack):
    return stack.memo("includes", lambda: list(_compute_includes(stack)))


def _compute_includes(stack: Stack):
    from scanner.parsers.nginx import NginxDocument

    for rel, sf in sorted(stack.files.items()):
        if sf.kind != "nginx" or not isinstance(sf.doc, NginxDocument):
            continue
        svc, _target = _gateway_mount(sf)
        if svc is None:
            continue  # without the gateway's mounts nothing says where an include points
        templates = any((m.target or "").rstrip("/") == "/etc/nginx/templates" for m in svc.volumes)
        for d in sf.doc.walk():
            if d.name != "include" or not d.args:
                continue
            pattern = d.args[0]
            if "$" in pattern:
                continue
            cpath = posixpath.normpath(pattern if pattern.startswith("/") else posixpath.join("/etc/nginx", pattern))
            base = posixpath.basename(cpath)
            mount = _mount_for(svc, cpath)
            if cpath.startswith(RUNTIME_PREFIXES):
                continue
            if (base in IMAGE_FILES or cpath.startswith(IMAGE_DIRS)) and (mount is None or not mount.is_bind):
                continue  # the image's own file (a bind mount over its directory would hide it)
            is_glob = globmod.has_magic(cpath)
            if mount is None:
                # not mounted: the image's own files (conf.d/default.conf), a built image's COPY, or
                # whatever a non-official image ships
                if svc.build_context is not None or is_glob or not _official_nginx(svc):
                    continue
                if cpath.startswith("/etc/nginx/conf.d/") and templates:
                    continue
                yield ("OPS063", d, f"`include {pattern}`: no mount of service '{svc.name}' provides {cpath} and the nginx image does not ship it (nginx -t fails)", None, svc)
                continue
            if not mount.is_bind or not mount.source or mount.source.startswith(("/", "~", "$")):
                continue  # named volume, or a host path outside the repository: filled elsewhere
            if cpath.startswith("/etc/nginx/conf.d/") and templates:
                continue  # the image renders templates into conf.d at start
            host = stack.host_path(svc, cpath)
            if host is None or host.startswith(".."):
                continue
            if is_glob:
                if stack.glob_files(host):
                    continue
                if stack.git_ignored(posixpath.dirname(host)) is True:  # a subprocess: asked last
                    continue
                yield ("OPS064", d, f"`include {pattern}` matches no file: {host} is empty on the host (the servers meant to be there are not loaded)", host, svc)
            elif not stack.exists(host):
                if stack.git_ignored(host) is True:
                    continue
                yield ("OPS063", d, f"`include {pattern}` resolves through service '{svc.name}''s mounts to {host}, which does not exist (nginx -t fails)", host, svc)


@rule("OPS063", "include-missing", "high", files="nginx+compose", refs="nginx core docs")
def include_missing(stack: Stack):
    """An nginx `include` points at a file the gateway container will not have.

    ## What it does
    Resolves each non-glob `include` of a gateway's configuration through the gateway's compose
    mounts (relative paths from `/etc/nginx`) and flags one whose host file does not exist, or whose
    container path no mount provides (official `nginx` image only: another image may ship it).
    Files the nginx image ships (`mime.types`, `*_params`, unless a bind mount hides its
    directory), named volumes, certbot's `/etc/letsencrypt`, git-ignored paths and images built
    from a local Dockerfile (which may `COPY` the file) are skipped.

    ## Why is this bad?
    nginx refuses to start (`open() "/etc/nginx/snippets/ssl.conf" failed`): the gateway container
    restarts in a loop and the whole site is down after the next deploy.

    ## Example
    ```nginx
    include /etc/nginx/snippets/security.conf;   # ./nginx/snippets/ is not mounted
    ```

    ## Use instead
    Mount the file (`./nginx/snippets:/etc/nginx/snippets:ro`) or fix the path.

    ## Fix safety
    Manual.

    ## References
    nginx core module documentation (`include`).
    """
    for rid, d, msg, host, svc in _include_problems(stack):
        if rid == "OPS063":
            yield hit(nloc(d), msg, related=[svc_loc(svc)], snippet_key=f"include:{d.args[0]}")


@rule("OPS064", "include-glob-empty", "medium", files="nginx+compose", refs="nginx core docs")
def include_glob_empty(stack: Stack):
    """An nginx `include` glob matches no file.

    ## What it does
    Resolves each glob `include` (`conf.d/*.conf`) through the gateway's bind mounts and flags one
    that matches no file on the host.

    ## Why is this bad?
    nginx accepts an empty glob silently: the virtual hosts meant to be there are simply missing,
    and requests fall to the default server (the nginx welcome page, or another site).

    ## Example
    ```nginx
    include /etc/nginx/conf.d/*.conf;   # ./nginx/conf.d/ holds only site.conf.disabled
    ```

    ## Use instead
    Put the server files where the glob looks, or mount the right directory.

    ## Fix safety
    Manual.

    ## References
    nginx core module documentation (`include`).
    """
    for rid, d, msg, host, svc in _include_problems(stack):
        if rid == "OPS064":
            yield hit(nloc(d), msg, related=[svc_loc(svc)], snippet_key=f"include:{d.args[0]}")


_HOOK = LazyRe(r"--(deploy|post|renew)-hook\b")


def _mount_keys(stack: Stack, svc) -> set[str]:
    """Identities of what a service mounts: host paths (normalised) and named volumes."""
    out = set()
    base = posixpath.dirname(svc.doc.path)
    for m in svc.volumes:
        if not m.source:
            continue
        if m.is_bind:
            src = m.source if m.source.startswith(("/", "~", "$")) else posixpath.normpath(posixpath.join(base, m.source))
            out.add("bind:" + src.rstrip("/"))
        else:
            out.add("vol:" + m.source)
    return out


def _svc_text(svc) -> str:
    parts = [svc.command_text("command"), svc.command_text("entrypoint")]
    labels = svc.get("labels")
    if labels is not None:
        parts.append(str(labels.plain()))
    return " ".join(p for p in parts if p)


@rule("OPS047", "certificate-renewal-no-reload", "medium", files="compose+nginx", refs="Certbot docs (renewal hooks)")
def certificate_renewal_no_reload(stack: Stack):
    """Certificates are renewed, but nginx never loads the new ones.

    ## What it does
    For a certbot service sharing its certificate directory with a gateway, flags the certbot
    service when no `certbot renew` loop runs, or when nothing reloads nginx after a renewal: no
    `--deploy-hook`/`--post-hook` (nor a mounted `renewal-hooks` directory) on the certbot side, and
    no periodic `nginx -s reload` (or `HUP`) in the gateway's or another service's command.

    ## Why is this bad?
    nginx reads certificates at start and on reload only. certbot writes the renewed certificate
    to disk, nginx keeps serving the old one, and 90 days after issuance every browser gets a
    certificate error although renewal "works".

    ## Example
    ```yaml
    certbot:
      entrypoint: "/bin/sh -c 'trap exit TERM; while :; do certbot renew; sleep 12h & wait $${!}; done'"
    ```

    ## Use instead
    ```yaml
    nginx:
      command: "/bin/sh -c 'while :; do sleep 6h & wait $${!}; nginx -s reload; done & nginx -g \\"daemon off;\\"'"
    ```

    ## Fix safety
    Manual.

    ## References
    Certbot documentation, renewal hooks; nginx "Controlling nginx" (reload).
    """
    gateways = stack.services_by_role("gateway")
    certbots = stack.services_by_role("certbot")
    if not gateways or not certbots:
        return
    all_text = {id(s): _svc_text(s) for s in stack.services}
    for cb in certbots:
        keys = _mount_keys(stack, cb)
        served = [g for g in gateways if keys & _mount_keys(stack, g)]
        if not served:
            continue
        text = all_text[id(cb)]
        words = text.split()
        if not text.strip():
            renew = False  # the image's default command is `certbot --help`-like: issues nothing, renews nothing
        else:
            renew = "renew" in words or "renew" in re.split(r"[\s;'\"&|]+", text)
        reloads = bool(_HOOK.search(text)) or any(mentions_nginx_reload(all_text[id(s)]) for s in stack.services if s is not cb)
        reloads = reloads or any((m.target or "").rstrip("/").endswith("renewal-hooks") or "/renewal-hooks/" in (m.target or "") for m in cb.volumes)
        if not reloads:
            # a renewal-hooks/deploy script in the host directory certbot mounts at /etc/letsencrypt
            for m in cb.volumes:
                if (m.target or "").rstrip("/") == "/etc/letsencrypt" and m.is_bind and m.source and not m.source.startswith(("/", "~", "$")):
                    host = posixpath.normpath(posixpath.join(posixpath.dirname(cb.doc.path), m.source, "renewal-hooks"))
                    if not host.startswith("..") and stack.glob_files(posixpath.join(host, "*/*")):
                        reloads = True
        if renew and reloads:
            continue
        gw = served[0]
        if not renew:
            msg = f"certbot service '{cb.name}' runs no `certbot renew` loop: the certificates '{gw.name}' serves expire after 90 days"
        else:
            msg = f"certbot service '{cb.name}' renews certificates but nothing reloads '{gw.name}' (no --deploy-hook, no periodic `nginx -s reload`): nginx keeps serving the old certificate until it expires"
        yield hit(svc_loc(cb), msg, related=[svc_loc(gw)], snippet_key=f"{cb.name}:{'reload' if renew else 'renew'}")
