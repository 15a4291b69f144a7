"""Gateway, nginx version (GW094): the gateway's nginx is exposed to a published nginx security
advisory (rules.helpers.nginx_cve) or past end of life (rules.helpers.eol)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.compose import image_parts
from rules.helpers.eol import (
    bump_fix,
    compose_image,
    cycle_of,
    eol_data,
    from_image,
    image_cycles,
    when,
)
from rules.helpers.locations import svc_loc
from rules.helpers.nginx import nginx_version
from rules.helpers.nginx_cve import (
    FEATURE_NAMES,
    exposed,
    features,
    fixed_target,
    show,
    table,
    version3,
)
from scanner.model import Edit, Fix, hit
from scanner.registry import rule
from scanner.parsers.base import small_int

NGINX_IMAGES = ("nginx", "nginx-unprivileged")

if TYPE_CHECKING:
    from scanner.stack import Stack


def _gateway_image(stack: Stack, svc):
    """The image line that decides the gateway's nginx: its compose ``image:``, or the root ``FROM``
    of the stage its Dockerfile runs."""
    if svc.build is not None:
        from rules.helpers.dockerfile import (
            stage_chain,  # only for a gateway built from a Dockerfile
        )

        doc = stack.service_dockerfile(svc)
        stage = doc.final_stage if doc is not None else None
        if stage is not None:
            return from_image(doc, stage_chain(doc, stage)[-1])
    return compose_image(svc)


def _is_nginx_image(ref: str) -> bool:
    """The image is nginx's own (``nginx``, ``nginxinc/nginx-unprivileged``, ``bitnami/nginx``...): the
    repositories the EOL data maps to nginx, whose tags are nginx versions."""
    return image_parts(ref)[0].rsplit("/", 1)[-1].lower() in NGINX_IMAGES


@rule("GW094", "nginx-known-cve", "high", files="nginx+compose", refs="gixy nginx_cves; nginx security advisories", fix="unsafe")
def nginx_known_cve(stack: Stack):
    """The gateway's nginx version has a published security advisory, or is past end of life.

    ## What it does
    Reads the gateway's nginx version (policy `nginx.version`, else the tag of its compose `image:`
    or of the `FROM nginx:` its Dockerfile runs) and reports it, once per gateway at the image line,
    when it is:

    - exposed to an nginx security advisory of the table shipped with dkscan
      (`scanner/data/nginx_cves.json`, from https://nginx.org/en/security_advisories.html): the
      version lies in a vulnerable range and is not at or above the fixed release of its own
      branch (`1.20.1` fixes the 1.20 branch of CVE-2021-23017, `1.21.0` the mainline). Advisories
      in a module or protocol count only when the configuration uses it: the resolver (a
      `resolver` directive), HTTP/2 (`http2` on a `listen`, or `http2 on`), HTTP/3 (`quic` on a
      `listen`, `http3 on`), the mp4 module (`mp4`) and the mail proxy (a `mail` block). When no
      configuration of the gateway was read, only the advisories that need no module are judged.
      The others (CVE-2013-2028, CVE-2016-4450, CVE-2017-7529, CVE-2025-23419) fire on the version alone;
    - or past end of life: its `major.minor` cycle's end of life in the endoflife.date snapshot
      (`eol.data`, the data APP013 uses; nginx images are left to this rule) is on or before
      `clock.today`. A version older than every cycle the snapshot knows is end of life too.

    The message lists the advisories (CVE ids, what they are, the fixed releases) and the EOL date.
    Floating tags (`nginx:latest`, `stable`, `mainline`, `alpine`, no tag) are not judged, nor
    images other than nginx's own (`nginx`, `nginx-unprivileged`, `bitnami/nginx`) whose tags are
    not nginx versions (`nginxproxy/nginx-proxy`, `openresty/openresty`) unless `nginx.version` says; a partial tag (`nginx:1.20`) counts as the latest release of its line.

    ## Why is this bad?
    The gateway is the one process every request from the internet reaches first. A published
    advisory comes with a public description of the bug (CVE-2021-23017: a 1-byte overwrite by a
    spoofed DNS answer to the resolver; CVE-2025-23419: TLS session reuse that skips client
    certificate checks); an end-of-life branch receives no fixes for the next one.

    ## Example
    ```yaml
    services:
      nginx:
        image: nginx:1.20.0-alpine      # CVE-2021-23017 with `resolver 127.0.0.11;`
    ```

    ## Use instead
    ```yaml
        image: nginx:1.28.0-alpine      # a supported stable branch
    ```

    ## Fix safety
    Unsafe: the fix bumps the tag — to the fixed release of the same branch when the branch is still
    supported, else to the oldest supported branch (APP013's bump); an image pinned by digest needs
    the digest of the new tag too. Test the new nginx before deploying it (directives are
    deprecated between branches: `listen ... http2`, `ssl on`).

    ## References
    gixy nginx_cves; nginx security advisories (https://nginx.org/en/security_advisories.html);
    endoflife.date (https://endoflife.date/nginx).
    """
    data = eol_data(stack)
    tab = table()
    today = stack.policy.today()
    configured = bool(stack.policy.get("nginx.version"))
    for svc in stack.services_by_role("gateway"):
        configs = [c for c in stack.nginx_configs if c.service is svc]
        img = _gateway_image(stack, svc)
        if not (configured and configs) and (img is None or not _is_nginx_image(img.ref)):
            continue  # nginx-proxy, openresty, a custom image: its tag is not nginx's version
        v = nginx_version(stack, svc)
        if v.floating or v.parts is None or len(v.parts) < 2:
            continue
        ver = version3(v.parts)
        used = features(configs) if configs else None
        advisories = exposed(ver, used, tab)
        # end of life
        eol_text, cycle = None, None
        if data is not None and "nginx" in data.products:
            cycle = cycle_of(data, "nginx", f"{v.parts[0]}.{v.parts[1]}")
            if cycle is not None:
                until = data.until(cycle)
                if until is not None and until <= today:
                    eol_text = f"the {cycle.cycle} branch reached end of life on {when(until)} (endoflife.date snapshot of {data.snapshot})"
            else:
                known = [tuple(n for p in c.cycle.split(".") if (n := small_int(p)) is not None) for c in data.products["nginx"]["cycles"]]
                oldest = min(known) if known else None
                if oldest is not None and tuple(v.parts[:2]) < oldest:
                    eol_text = (f"the {v.parts[0]}.{v.parts[1]} branch is older than every nginx branch the endoflife.date snapshot "
                                f"of {data.snapshot} knows (oldest {'.'.join(map(str, oldest))}): long past end of life")
        if not advisories and eol_text is None:
            continue
        parts = []
        for a in advisories:
            why = f" — the configuration uses {FEATURE_NAMES[a.feature]}" if a.feature else ""
            fixes = " and ".join(show(f) for f in a.fixed)
            parts.append(f"{', '.join(a.cves)}: {a.title}{why}, fixed in {fixes}")
        text = [f"exposed to {'; '.join(parts)}"] if parts else []
        if eol_text:
            text.append(eol_text)
        if used is None and not eol_text and parts:
            text.append("no configuration of the gateway was read: advisories of modules were not judged")
        where = img.loc if img is not None else svc_loc(svc)
        shown = f"`{img.ref}`" if img is not None and not configured else f"nginx.version {v.text}"
        fix = None
        run = None
        if img is not None and not configured and data is not None:
            run = next((r for r in image_cycles(data, img.ref) if r.main and r.cycle.product == "nginx"), None)
        if run is not None:
            target = fixed_target(ver, advisories) if eol_text is None and len(v.parts) == 3 else None
            span = img.span(run.start, run.end)
            if target is not None and span is not None:
                fix = Fix(f"bump nginx {show(ver)} to {show(target)}", (Edit(span, show(target)),))
            elif eol_text is not None or target is None:
                fix = bump_fix(data, img, run, today)
        yield hit(where, f"gateway '{svc.name}' runs nginx {show(ver)} ({shown}): " + "; ".join(text) + f" (nginx advisories as of {tab.snapshot})",
                  fix=fix, snippet_key=f"nginx-{show(ver)}")
