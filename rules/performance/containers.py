"""Performance (containers): memory, CPU and pids limits, their sum against the host, shared memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.compose import in_service, insert_in_service, service_node_loc, unknown_vars
from rules.helpers.locations import svc_loc
from scanner.config import parse_size
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.yamlnodes import YMap, YScalar
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


def memory_limit(svc) -> YScalar | None:
    """The memory limit node: ``deploy.resources.limits.memory``, else ``mem_limit``."""
    node = svc.limit("memory")
    return node if isinstance(node, YScalar) and node.value not in (None, "") else None


def cpu_limit(svc) -> YScalar | None:
    """``deploy.resources.limits.cpus``, else ``cpus``, else ``cpu_quota``."""
    node = svc.limit("cpus")
    if isinstance(node, YScalar) and node.value not in (None, ""):
        return node
    quota = svc.get("cpu_quota")
    return quota if isinstance(quota, YScalar) and quota.value not in (None, "") else None


def _replicas(svc) -> int:
    deploy = svc.get("deploy")
    if isinstance(deploy, YMap) and isinstance(deploy.get("replicas"), YScalar):
        return svc.replicas
    scale = svc.get("scale")
    if isinstance(scale, YScalar):
        try:
            return max(0, int(str(scale)))
        except ValueError:
            pass
    return svc.replicas


def _gib(n: int) -> str:
    if n % (1024 ** 3) == 0:
        return f"{n // 1024 ** 3}G"
    if n % (1024 ** 2) == 0:
        return f"{n // 1024 ** 2}M"
    return f"{n / 1024 ** 3:.2f}G"


@rule("PERF001", "memory-limit-missing", "medium", files="compose", refs="CWE-770; CIS 5.11; KICS memory_not_limited", fix="manual")
def memory_limit_missing(stack: Stack):
    """A container has no memory limit.

    ## What it does
    Flags a service with neither `deploy.resources.limits.memory` nor `mem_limit`, whatever the
    compose file's `version:` (KICS skips files without one; Docker Compose v2 applies both keys).
    The finding points at the service.

    ## Why is this bad?
    One leaking or overloaded container takes all the host's memory; the kernel's OOM killer then
    picks a victim — often PostgreSQL, the largest process — instead of the culprit.

    ## Example
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
    ```

    ## Use instead
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
      deploy:
        resources:
          limits:
            memory: 1G
    ```

    ## Fix safety
    Manual: the limit must come from the service's measured usage.

    ## References
    CWE-770; CIS Docker Benchmark 5.11; KICS memory_not_limited.
    """
    for svc in stack.services:
        if memory_limit(svc) is None:
            yield hit(svc_loc(svc), f"service '{svc.name}' has no memory limit: it can take all the host's memory",
                      snippet_key=f"{svc.name}:memory")


@rule("PERF002", "cpu-limit-missing", "low", files="compose", refs="CWE-400; CIS 5.12; KICS cpus_not_limited", fix="manual")
def cpu_limit_missing(stack: Stack):
    """A container has no CPU limit.

    ## What it does
    Flags a service with neither `deploy.resources.limits.cpus`, `cpus` nor `cpu_quota`, whatever
    the file's `version:`. The finding points at the service.

    ## Why is this bad?
    A busy loop, a regex backtrack or a traffic spike in one container starves the others (the
    gateway stops answering while the backend burns every core).

    ## Example
    ```yaml
    worker:
      image: ghcr.io/acme/worker:1.4.2
    ```

    ## Use instead
    ```yaml
    worker:
      image: ghcr.io/acme/worker:1.4.2
      deploy:
        resources:
          limits:
            cpus: "1.0"
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-400; CIS Docker Benchmark 5.12; KICS cpus_not_limited.
    """
    for svc in stack.services:
        if cpu_limit(svc) is None:
            yield hit(svc_loc(svc), f"service '{svc.name}' has no CPU limit: it can starve the other containers",
                      snippet_key=f"{svc.name}:cpus")


@rule("PERF003", "pids-limit-missing", "low", files="compose", refs="CWE-770; CIS 5.29; KICS pids_limit_not_set", fix="safe")
def pids_limit_missing(stack: Stack):
    """A container can create unlimited processes.

    ## What it does
    Flags a service without `pids_limit` or `deploy.resources.limits.pids`, or with a value ≤ 0
    (`-1` and `0` mean unlimited).

    ## Why is this bad?
    A fork bomb, or a bug spawning threads or processes in a loop, exhausts the host's process
    table and every container (and sshd) fails to fork.

    ## Example
    ```yaml
    backend:
      pids_limit: -1
    ```

    ## Use instead
    ```yaml
    backend:
      pids_limit: 512
    ```

    ## Fix safety
    Safe: 512 is far above what a web service, database or cache uses in normal operation.

    ## References
    CWE-770; CIS Docker Benchmark 5.29; KICS pids_limit_not_set.
    """
    for svc in stack.services:
        node = svc.limit("pids")
        if isinstance(node, YScalar) and node.value not in (None, ""):
            if unknown_vars(node):
                continue
            try:
                value = int(str(node).strip())
            except ValueError:
                continue
            if value > 0:
                continue
            fix = None
            if in_service(svc, node) and node.line == node.end_line:
                fix = Fix("set the pids limit to 512", (Edit(Location(svc.doc.path, node.line, node.col, node.line, node.end_col), "512"),))
            yield hit(service_node_loc(svc, node), f"service '{svc.name}' sets pids limit {value}: unlimited processes",
                      fix=fix, snippet_key=f"{svc.name}:pids")
            continue
        edit = insert_in_service(svc, ["pids_limit: 512"])
        yield hit(svc_loc(svc), f"service '{svc.name}' has no pids limit: a fork bomb exhausts the host's process table",
                  fix=Fix("add `pids_limit: 512`", (edit,)) if edit else None, snippet_key=f"{svc.name}:pids")


@rule("PERF004", "memory-limits-exceed-host", "medium", files="compose+config", refs="CWE-770", fix="manual")
def memory_limits_exceed_host(stack: Stack):
    """The containers' memory limits add up to more than the host has.

    ## What it does
    Computes `mem_sum = Σ memory limit × replicas` over a compose project's services (limits from
    `deploy.resources.limits.memory`, else `mem_limit`; replicas from `deploy.replicas`, else
    `scale`) and compares it with the policy's `host.memory` (default 8 GiB). The finding points at
    the largest limit; the message prints the arithmetic.

    ## Why is this bad?
    Limits that do not fit are no protection: under load the containers reach their limits together
    and the host swaps or the kernel's OOM killer fires before any container limit does.

    ## Example
    backend 3 × 2G + postgres 2G + redis 1G + minio 1G = 10G > host.memory 8G.

    ## Use instead
    Lower the limits (leave room for the kernel, page cache and Docker itself), or set
    `host.memory` in `.dkscan.yaml` to the real machine.

    ## Fix safety
    Manual.

    ## References
    CWE-770.
    """
    host = parse_size(stack.policy.get("host.memory", "8g"))
    if not host:
        return
    for doc in stack.compose_docs:
        total = 0
        parts = []
        biggest = None
        for svc in doc.services.values():
            node = memory_limit(svc)
            if node is None or unknown_vars(node):
                continue
            size = parse_size(str(node))
            if not size:
                continue
            n = _replicas(svc)
            total += size * n
            parts.append(f"{svc.name} {n} × {_gib(size)}" if n != 1 else f"{svc.name} {_gib(size)}")
            if biggest is None or size * n > biggest[0]:
                biggest = (size * n, svc, node)
        if biggest is None or total <= host:
            continue
        _, svc, node = biggest
        yield hit(service_node_loc(svc, node), f"memory limits add up to {_gib(total)} ({' + '.join(parts)}) > host.memory {_gib(host)}",
                  related=[svc_loc(s) for s in doc.services.values() if s is not svc and memory_limit(s) is not None][:10],
                  snippet_key=f"mem_sum:{doc.path}")


@rule("PERF021", "postgres-shm-default", "low", files="compose", fix="safe")
def postgres_shm_default(stack: Stack):
    """PostgreSQL runs with Docker's 64 MB `/dev/shm`.

    ## What it does
    Flags a postgres service without `shm_size` (and without a `tmpfs` or volume at `/dev/shm`,
    and not sharing the host's IPC namespace).

    ## Why is this bad?
    PostgreSQL allocates parallel-query and dynamic shared memory in `/dev/shm`; Docker gives
    containers 64 MB. Parallel hash joins and sorts then fail with `could not resize shared memory
    segment … No space left on device` under real load, not in tests.

    ## Example
    ```yaml
    postgres:
      image: postgres:16.4
    ```

    ## Use instead
    ```yaml
    postgres:
      image: postgres:16.4
      shm_size: 256m
    ```

    ## Fix safety
    Safe: shared memory is only used on demand, within the container's memory limit.

    ## References
    PostgreSQL documentation, resource consumption (dynamic_shared_memory_type); Docker `--shm-size`.
    """
    for svc in stack.services:
        if svc.role != "postgres" or svc.get("shm_size") is not None:
            continue
        if str(svc.str("ipc") or "").lower() == "host":
            continue
        tmpfs = svc.get("tmpfs")
        tmpfs_targets = [str(tmpfs)] if isinstance(tmpfs, YScalar) else [str(t) for t in (tmpfs or [])] if not isinstance(tmpfs, YMap) else []
        if any(t.split(":", 1)[0].rstrip("/") == "/dev/shm" for t in tmpfs_targets):
            continue
        if any((m.target or "").rstrip("/") == "/dev/shm" for m in svc.volumes):
            continue
        edit = insert_in_service(svc, ["shm_size: 256m"])
        yield hit(svc_loc(svc), f"service '{svc.name}' (postgres) keeps Docker's 64 MB /dev/shm: parallel queries fail under load",
                  fix=Fix("add `shm_size: 256m`", (edit,)) if edit else None, snippet_key=f"{svc.name}:shm_size")
