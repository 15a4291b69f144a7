"""Application: container runtime privileges and images (compose, Dockerfile)."""

from __future__ import annotations

from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.yamlnodes import YScalar
from scanner.registry import rule

from ._util import yloc


@rule("APP001", "privileged-container", "critical", files="compose",
      refs="CWE-250; CIS 5.5; KICS privileged_containers_enabled; sg privileged-service", fix="unsafe")
def privileged_container(stack):
    """A container runs privileged.

    ## What it does
    Flags `privileged: true` on a compose service.

    ## Why is this bad?
    A privileged container has every capability, every device and no seccomp or AppArmor
    confinement: root inside it is root on the host.

    ## Example
    ```yaml
    backend:
      privileged: true
    ```

    ## Use instead
    Remove the key and add only the capability the service needs with `cap_add`.

    ## Fix safety
    Unsafe: a service that really needs a device or capability will fail to start.

    ## References
    CWE-250; CIS Docker Benchmark 5.5; KICS privileged_containers_enabled.
    """
    for svc in stack.services:
        node = svc.get("privileged")
        if isinstance(node, YScalar) and node.value in (True, "true"):
            key = svc.node.key("privileged")
            fix = None
            if key is not None and node.line == key.line:
                line_text = svc.doc.line_text(key.line)
                start = Location(svc.doc.path, key.line, 1)
                end = Location(svc.doc.path, key.line + 1, 1)
                if line_text.strip().startswith("privileged"):
                    fix = Fix("delete `privileged: true`", (Edit(Location(svc.doc.path, start.start_line, 1, end.start_line, 1), ""),), "unsafe")
            yield hit(yloc(svc.doc.path, node), f"service '{svc.name}' runs privileged: root in the container is root on the host",
                      fix=fix, snippet_key=f"{svc.name}:privileged")
