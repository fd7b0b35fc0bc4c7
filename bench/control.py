"""The control plane's /v1 API under wrk: ours against a raw-ASGI floor on the same stack, one core.

One `thecloud serve` process pinned to CPU 1 with taskset, wrk (one thread) pinned to CPU 0, over
127.0.0.1. The floor is `bench.control_floor` under uvicorn with uvloop and httptools, pinned the
same way, doing the same LMDB state store get, put and list without framework, auth or audit.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import httpx

from bench.context import RunContext
from bench.lb_processes import process_cpu
from bench.results import BenchResult, Case, Target
from bench.stats import Stats
from bench.wrk import WrkRun
from bench.wrk import wrk as wrk_run

NAME = "control"
ANCHORS = ("uvicorn", "uvloop", "httptools")

SERVER_CPU: Final = "1"
WRK_CPU: Final = "0"
CONNECTIONS: Final = 32
PAGE: Final = 100
#: wrk cannot hold a rate; 20 connections each pausing 10 ms between requests cap it at 2,000/s.
RATE_CONNECTIONS: Final = 20
RATE_DELAY_MS: Final = 10
STARTUP_TIMEOUT: Final = 30.0
REPO: Final = Path(__file__).resolve().parents[1]

_POST_LUA: Final = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local prefix = "b"
local n = 0
function init(args)
  prefix = args[1]
end
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"name":"' .. prefix .. '-' .. n .. '"}')
end
"""
_DELAY_LUA: Final = f"""
function delay()
  return {RATE_DELAY_MS}
end
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THECLOUD_")}
    source = os.pathsep.join(str(REPO / part) for part in ("core", "dataplane", "control"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), source, env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


@contextmanager
def _serving(
    command: Sequence[str], port: int, workdir: Path, name: str, env: dict[str, str]
) -> Iterator[tuple[str, int]]:
    """Runs command pinned to SERVER_CPU until the block ends; yields its base URL and PID
    (taskset execs the command) once healthy."""
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *command],
            cwd=workdir,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not healthy after {STARTUP_TIMEOUT} s")
            time.sleep(0.1)
        yield base, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wrk(
    url: str,
    seconds: int,
    *,
    connections: int = CONNECTIONS,
    headers: Sequence[str] = (),
    script: Path | None = None,
    script_args: Sequence[str] = (),
) -> WrkRun:
    """One wrk run (one thread, pinned to WRK_CPU); fails on any socket error or on over 1%
    non-2xx answers (fewer are tolerated and recorded)."""
    run = wrk_run(
        url, seconds, connections, WRK_CPU, headers, script=script, script_args=script_args
    )
    if run.socket_errors:
        raise RuntimeError(f"wrk against {url}: {run.socket_errors} socket errors: {run}")
    if run.non_2xx * 100 > run.requests:
        raise RuntimeError(f"wrk against {url}: over 1% non-2xx answers: {run}")
    return run


def _repeat(
    ctx: RunContext,
    label: str,
    runs: int,
    seconds: int,
    url: str,
    *,
    cpu_of: tuple[int, list[float]] | None = None,
    **kw: object,
) -> list[WrkRun]:
    """`runs` wrk runs of `seconds`. With `cpu_of` = (server PID, list), each run's server CPU
    microseconds (user + system, all threads) per answered request are appended to the list."""
    out = []
    for i in range(runs):
        ctx.progress(f"{label} ({i + 1}/{runs}, {seconds} s)")
        extra = dict(kw)
        if "script_args" in extra:
            extra["script_args"] = [f"{extra['script_args']}{i}"]
        before = None if cpu_of is None else process_cpu(cpu_of[0])
        run = wrk(url, seconds, **extra)  # type: ignore[arg-type]
        if cpu_of is not None and before is not None:
            spent = process_cpu(cpu_of[0]) - before
            cpu_of[1].append(1e6 * (spent.user + spent.system) / max(run.requests, 1))
        out.append(run)
    return out


def _bootstrap(state_dir: Path, workdir: Path) -> tuple[str, str, str]:
    """`thecloud admin bootstrap`; returns (token, tenant id, admin service account id)."""
    command = [sys.executable, "-m", "thecloud.control.cli", "admin", "bootstrap"]
    command += ["--state-dir", str(state_dir), "--tenant", "bench"]
    made = subprocess.run(
        command,
        check=False,
        cwd=workdir,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if made.returncode != 0:
        raise RuntimeError(f"bootstrap failed:\n{made.stderr}")
    tenant = re.search(r"\b(tnt-\S+?),?\s", made.stderr + " ")
    account = re.search(r"\b(sva-\S+?)[,.]?\s", made.stderr + " ")
    if tenant is None or account is None:
        raise RuntimeError(f"cannot read bootstrap's output:\n{made.stderr}")
    return made.stdout.strip(), tenant.group(1), account.group(1)


async def _seed(state_dir: Path, tenant_id: str, count: int) -> None:
    """Creates count service accounts through the IAM Directory, before the server starts."""
    from thecloud.control.api.services import STORE_DIR
    from thecloud.control.iam import Directory
    from thecloud.core.state import LmdbStateStore

    async with await LmdbStateStore.open(state_dir / STORE_DIR) as store:
        accounts = Directory(store).service_accounts
        for start in range(0, count, 500):
            await asyncio.gather(
                *(
                    accounts.create(tenant_id, f"seed-{i:05d}")
                    for i in range(start, min(count, start + 500))
                )
            )


def _walk(client: httpx.Client, first: str, token_param: str, next_field: str) -> list[float]:
    """Fetches every page; returns each page's wall time in ms."""
    times = []
    url: str | None = first
    while url is not None:
        began = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - began) * 1e3
        response.raise_for_status()
        times.append(elapsed)
        document = response.json()
        token = document[next_field]
        url = None if token is None else f"{first}&{token_param}={token}"
    return times


def _listing(
    ctx: RunContext, client: httpx.Client, first: str, token_param: str, next_field: str
) -> tuple[Stats, Stats, int]:
    """(per-page ms over every page of every walk, whole-walk ms, pages per walk)."""
    _walk(client, first, token_param, next_field)  # warm up
    pages: list[float] = []
    walks: list[float] = []
    count = 0
    for _ in range(ctx.pick(7, 3)):
        times = _walk(client, first, token_param, next_field)
        pages += times
        walks.append(sum(times))
        count = len(times)
    return Stats.of(pages), Stats.of(walks), count


def _stats(runs: list[WrkRun], field: str) -> Stats:
    return Stats.of([getattr(r, field) for r in runs])


def run(ctx: RunContext) -> BenchResult:
    """Every control-plane case, ours and the floor's, in one run."""
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        raise RuntimeError("python -m bench control needs wrk and taskset (apt install wrk)")
    result = BenchResult(NAME)
    seconds = ctx.pick(10, 1)
    runs = 3
    seeded = 10_000
    workdir = Path(tempfile.mkdtemp(prefix="bench-control-"))
    try:
        post_lua = workdir / "post.lua"
        post_lua.write_text(_POST_LUA)
        delay_lua = workdir / "delay.lua"
        delay_lua.write_text(_DELAY_LUA)
        state_dir = workdir / "state"
        ctx.progress("bootstrap and seed")
        token, tenant, account = _bootstrap(state_dir, workdir)
        began = time.perf_counter()
        asyncio.run(_seed(state_dir, tenant, seeded))
        seed_seconds = time.perf_counter() - began
        auth = f"Authorization: Bearer {token}"
        port = _free_port()
        serve = [sys.executable, "-m", "thecloud.control.cli", "serve"]
        serve += ["--port", str(port), "--state-dir", str(state_dir)]
        serve_env = _environment({"THECLOUD_LOG_LEVEL": "warning"})
        ours_get_cpu: list[float] = []
        floor_get_cpu: list[float] = []
        with _serving(serve, port, workdir, "serve", serve_env) as (base, server_pid):
            tenant_url = f"{base}/v1/tenants/{tenant}"
            get_url = f"{tenant_url}/service-accounts/{account}"
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
                client.get(get_url).raise_for_status()
                ctx.progress("listing")
                page, walk, pages = _listing(
                    ctx,
                    client,
                    f"{tenant_url}/service-accounts?limit={PAGE}",
                    "page_token",
                    "next_page_token",
                )
            ours_get = _repeat(
                ctx,
                "ours GET",
                runs,
                seconds,
                get_url,
                cpu_of=(server_pid, ours_get_cpu),
                headers=[auth],
            )
            ours_post = _repeat(
                ctx,
                "ours POST",
                runs,
                seconds,
                f"{tenant_url}/service-accounts",
                headers=[auth],
                script=post_lua,
                script_args="w",
            )
            ours_rate = _repeat(
                ctx,
                "ours GET at <= 2k/s",
                runs,
                seconds,
                get_url,
                headers=[auth],
                script=delay_lua,
                connections=RATE_CONNECTIONS,
            )
        floor_port = _free_port()
        floor = [sys.executable, "-m", "uvicorn", "bench.control_floor:app"]
        floor += ["--host", "127.0.0.1", "--port", str(floor_port), "--loop", "uvloop"]
        floor += ["--http", "httptools", "--ws", "none", "--lifespan", "on", "--no-access-log"]
        floor += ["--log-level", "warning"]
        floor_env = _environment(
            {"CONTROL_FLOOR_STORE": str(workdir / "floor"), "CONTROL_FLOOR_SEED": str(seeded)}
        )
        ctx.progress("floor: start and seed")
        with _serving(floor, floor_port, workdir, "floor", floor_env) as (floor_base, floor_pid):
            with httpx.Client(timeout=10) as client:
                ctx.progress("floor listing")
                floor_page, floor_walk, _ = _listing(
                    ctx, client, f"{floor_base}/list?limit={PAGE}", "after", "next"
                )
            floor_get = _repeat(
                ctx,
                "floor GET",
                runs,
                seconds,
                f"{floor_base}/get",
                cpu_of=(floor_pid, floor_get_cpu),
            )
            floor_post = _repeat(
                ctx,
                "floor POST",
                runs,
                seconds,
                f"{floor_base}/put",
                script=post_lua,
                script_args="f",
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    get_rps = _stats(ours_get, "rps")
    result.add(
        Case(
            "GET one service account vs floor (LMDB get)",
            "req/s",
            get_rps,
            _stats(floor_get, "rps"),
            Target(10_000, "higher"),
            "higher",
            details={"requests": sum(r.requests for r in ours_get)},
        )
    )
    result.add(
        Case(
            "  GET throughput ours/floor",
            "x",
            Stats.of([o.rps / f.rps for o, f in zip(ours_get, floor_get, strict=True)]),
            target=Target(0.5, "higher"),
            better="higher",
            note="per repetition, ours run i over floor run i",
        )
    )
    result.add(
        Case(
            "  GET server CPU per request",
            "us/req",
            Stats.of(ours_get_cpu),
            Stats.of(floor_get_cpu),
            note="user + system time of the server process (all threads) from /proc/PID/stat "
            "over each wrk run, per answered request; steadier than throughput on a shared "
            "machine",
        )
    )
    result.add(
        Case(
            "  GET CPU ours/floor (floor us / ours us)",
            "x",
            Stats.of([f / o for o, f in zip(ours_get_cpu, floor_get_cpu, strict=True)]),
            target=Target(0.5, "higher"),
            better="higher",
            note="per repetition: the floor's CPU per request over ours, the throughput ratio "
            "a core would reach if CPU were all it took",
        )
    )
    for label, field in (("p50", "p50_ms"), ("p99", "p99_ms")):
        result.add(
            Case(
                f"  GET {label} at {CONNECTIONS} connections",
                "ms",
                _stats(ours_get, field),
                _stats(floor_get, field),
            )
        )
    result.add(
        Case(
            "POST create service account vs floor (LMDB put)",
            "req/s",
            _stats(ours_post, "rps"),
            _stats(floor_post, "rps"),
            better="higher",
            note="unique names from a wrk Lua script; ours also checks the name and audits; "
            f"non-2xx answers: {sum(r.non_2xx for r in ours_post)} of "
            f"{sum(r.requests for r in ours_post)}",
            details={"non_2xx": sum(r.non_2xx for r in ours_post)},
        )
    )
    for label, field in (("p50", "p50_ms"), ("p99", "p99_ms")):
        result.add(
            Case(
                f"  POST {label} at {CONNECTIONS} connections",
                "ms",
                _stats(ours_post, field),
                _stats(floor_post, field),
            )
        )
    achieved = statistics.median(r.rps for r in ours_rate)
    result.add(
        Case(
            "GET p99 at <= 2k req/s",
            "ms",
            _stats(ours_rate, "p99_ms"),
            target=Target(5, "lower"),
            note=f"wrk holds no rate: {RATE_CONNECTIONS} connections, each pausing "
            f"{RATE_DELAY_MS} ms between requests (cap 2,000/s); achieved {achieved:,.0f} req/s",
            details={"achieved_rps": round(achieved), "p50_ms": _stats(ours_rate, "p50_ms").median},
        )
    )
    result.add(
        Case(
            f"page of {PAGE} out of {seeded:,} service accounts vs floor (LMDB list)",
            "ms",
            page,
            floor_page,
            Target(10, "lower"),
            note="httpx client in the bench process, wall time per page over every page of "
            "every walk",
        )
    )
    result.add(
        Case(f"  the whole walk ({pages} pages)", "ms", walk, floor_walk),
    )
    result.notes.append(
        f"server on CPU {SERVER_CPU}, wrk -t1 on CPU {WRK_CPU} (taskset), 127.0.0.1; "
        f"{runs} wrk runs of {seconds} s each, medians; {seeded:,} accounts seeded through the "
        f"IAM Directory in {seed_seconds:.1f} s before serving; floor = bench.control_floor "
        "(raw ASGI, uvicorn + uvloop + httptools, same LMDB state store, no auth or audit); "
        "ratios > 1: ours better"
    )
    return result
