"""Service load test: `kefu serve` under concurrent customers, driven from another process over loopback.

    python benchmarks/service.py --quick       # ~1.5 min: 8 s of turns at concurrency 4, 50 streams
    python benchmarks/service.py               # 30 s of turns at concurrency 8, 200 streams, 200 SSE listeners
    python benchmarks/service.py --home H      # reuse a KEFU_HOME that already holds the demo knowledge base

Steps, in one run:

1. a KEFU_HOME with ``examples/demo-kb`` ingested through the ``kefu`` CLI (unless ``--home``), and a
   widget key from ``kefu keys create``;
2. the baseline, in a worker subprocess before the server starts: every question of
   ``examples/demo_questions.jsonl`` answered single-threaded by ``Engine.answerer.ask`` (retrieval and
   answer only) and by ``ChatService.post`` (the whole turn: NLU, dialog, store; no HTTP);
3. ``kefu serve`` as a subprocess (``KEFU_RATE_LIMIT_IP_PER_MIN=0``, ``KEFU_RATE_LIMIT_KEY_PER_MIN=0``,
   ``OMP_NUM_THREADS=1``), then from this process with httpx (async):
   (a) sustained turns: ``--concurrency`` customers, each posting messages back to back (a new
       conversation every ``--turns-per-conversation`` turns) for ``--duration`` seconds;
   (b) ``--streams`` concurrent streamed turns (POST ``stream: true``), all started at once;
   (c) ``--streams`` live-event listeners (GET .../events) held open while turns run on their
       conversations: accepted, delivered, delivery lag, and what the listeners cost the turns;
   (d) the server's memory (VmRSS / VmHWM) and CPU time (from /proc) between the phases.

Latencies are measured by the client (request sent → response read). The server's CPU time per
turn is the steadier figure on a shared machine. Writes ``benchmarks/results/service.json``
(``service-quick.json`` with ``--quick``).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    latency_summary,
    load_demo_questions,
    log,
    percentile,
    print_table,
    write_results,
)

KEFU = Path(sys.executable).with_name("kefu")
TARGETS = {"turns_per_s": 50.0, "p95_ms": 200.0, "errors": 0}
TENANT = "default"
IDLE_LISTEN_S = 3.0


# ======================================================================== setup

def kefu_env(**extra: str) -> dict[str, str]:
    """The environment for kefu subprocesses: no KEFU_* of the caller's shell, one OpenMP thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update({"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    env.update(extra)
    return env


def kefu(home: Path, *args: str) -> str:
    cmd = [str(KEFU), "--home", str(home), *args]
    done = subprocess.run(cmd, cwd=ROOT, env=kefu_env(), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def prepare_home(home: Path, fresh: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"home": str(home), "fresh": fresh}
    if fresh:
        started = time.perf_counter()
        report = json.loads(kefu(home, "ingest", str(ROOT / "examples" / "demo-kb"), "--source", "demo-kb",
                                 "--json"))
        out["ingest_s"] = round(time.perf_counter() - started, 1)
        out["ingest"] = report["totals"]
        log(f"ingested examples/demo-kb in {out['ingest_s']}s: {report['totals']}")
    key = json.loads(kefu(home, "keys", "create", "--kind", "widget", "--label", "service benchmark"))
    out["key"] = key["key"]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ======================================================================== baseline (worker subprocess)

def worker_baseline(args: dict[str, Any]) -> dict[str, Any]:
    """Single-threaded, in-process: ``answerer.ask`` and the whole turn (``ChatService.post``)."""
    from kefu.config import Config
    from kefu.engine import Engine

    engine = Engine(Config.load(args["home"], env={}))
    questions = args["questions"]
    answerer, service = engine.answerer, engine.service
    started = time.perf_counter()
    answerer.ask(TENANT, questions[0])
    service.nlu(TENANT).warm_up()
    load_s = time.perf_counter() - started
    # One unmeasured pass of each: the first time through costs 2-3x (tokeniser dictionaries, page cache).
    started = time.perf_counter()
    conv = service.start(TENANT, channel="bench")
    for q in questions:
        answerer.ask(TENANT, q)
        service.post(TENANT, conv.id, q)
    out: dict[str, Any] = {"load_s": round(load_s, 1), "warmup_s": round(time.perf_counter() - started, 1),
                           "questions": len(questions)}

    times: list[float] = []
    modes: dict[str, int] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    for q in questions:
        t0 = time.perf_counter()
        answer = answerer.ask(TENANT, q)
        times.append(time.perf_counter() - t0)
        modes[answer.mode] = modes.get(answer.mode, 0) + 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out["ask"] = {**latency_summary(times), "p99_ms": round(percentile([t * 1000 for t in times], 99), 2),
                  "turns_per_s": round(len(times) / wall, 1), "cpu_ms_per_turn": round(cpu * 1000 / len(times), 1),
                  "modes": modes}

    times = []
    wall, cpu = time.perf_counter(), time.process_time()
    for i, q in enumerate(questions):
        if i % args["turns_per_conversation"] == 0:
            conv = service.start(TENANT, channel="bench")
        t0 = time.perf_counter()
        service.post(TENANT, conv.id, q)
        times.append(time.perf_counter() - t0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out["post"] = {**latency_summary(times), "p99_ms": round(percentile([t * 1000 for t in times], 99), 2),
                   "turns_per_s": round(len(times) / wall, 1), "cpu_ms_per_turn": round(cpu * 1000 / len(times), 1)}
    engine.close()
    return out


def run_baseline(home: Path, questions: list[str], turns_per_conversation: int) -> dict[str, Any]:
    payload = json.dumps({"home": str(home), "questions": questions,
                          "turns_per_conversation": turns_per_conversation}, ensure_ascii=False)
    done = subprocess.run([sys.executable, __file__, "--worker", "baseline", "--worker-args", payload],
                          cwd=ROOT, env=kefu_env(), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"baseline worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ======================================================================== the server process

class Server:
    """``kefu serve`` in a subprocess; memory and CPU time read from /proc."""

    def __init__(self, home: Path, port: int, log_path: Path) -> None:
        self.home, self.port, self.log_path = home, port, log_path
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 300) -> float:
        env = kefu_env(KEFU_RATE_LIMIT_IP_PER_MIN="0", KEFU_RATE_LIMIT_KEY_PER_MIN="0")
        self.log_file = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        started = time.perf_counter()
        self.proc = subprocess.Popen([str(KEFU), "--home", str(self.home), "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"kefu serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise SystemExit(f"kefu serve did not answer /healthz within {timeout:.0f}s:\n{self.log_tail()}")

    def memory(self) -> dict[str, float]:
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name = line.split(":")[0]
            if name in ("VmRSS", "VmHWM", "Threads"):
                value = int(line.split()[1])
                out[name] = value if name == "Threads" else round(value / 1024, 1)
        return out

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "log_file", None):
            self.log_file.close()


# ======================================================================== load

class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.samples: list[str] = []
        self.handoffs = 0
        self.roles: dict[str, int] = {}
        self.sent_at: dict[int, float] = {}  # reply message id -> when its turn's response was read

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(what[:300])

    def summary(self, wall: float) -> dict[str, Any]:
        ms = [t * 1000 for t in self.latencies]
        return {"turns": len(ms), "wall_s": round(wall, 2), "turns_per_s": round(len(ms) / wall, 1) if wall else 0,
                **latency_summary(self.latencies), "p99_ms": round(percentile(ms, 99), 2),
                "errors": self.errors, "error_samples": self.samples, "handoffs": self.handoffs,
                "reply_roles": self.roles}


async def new_conversation(client, tally: Tally | None = None) -> str | None:
    try:
        r = await client.post("/v1/conversations", json={"channel": "bench"})
    except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
        if tally:
            tally.error(f"create: {type(exc).__name__}: {exc}")
        return None
    if r.status_code != 201:
        if tally:
            tally.error(f"create: {r.status_code} {r.text}")
        return None
    return r.json()["conversation"]["id"]


async def post_turn(client, conv: str, text: str, tally: Tally) -> dict | None:
    t0 = time.perf_counter()
    try:
        r = await client.post(f"/v1/conversations/{conv}/messages", json={"text": text})
    except Exception as exc:  # noqa: BLE001
        tally.error(f"turn: {type(exc).__name__}: {exc}")
        return None
    took = time.perf_counter() - t0
    if r.status_code != 200:
        tally.error(f"turn: {r.status_code} {r.text}")
        return None
    tally.latencies.append(took)
    body = r.json()
    tally.handoffs += body.get("handoff") is not None
    for reply in body.get("replies", []):
        tally.roles[reply["role"]] = tally.roles.get(reply["role"], 0) + 1
    return body


async def sustained(client, questions: list[str], concurrency: int, duration: float,
                    per_conversation: int, convs: list[str] | None = None) -> tuple[Tally, float]:
    """``concurrency`` customers posting back to back until ``duration`` runs out.

    With ``convs`` the customers post to those conversations (customer i to convs[i::concurrency])
    instead of opening their own.
    """
    tally = Tally()
    deadline = time.perf_counter() + duration

    async def customer(i: int) -> None:
        n = i * 7  # customers start at different questions
        mine = convs[i::concurrency] if convs else []
        conv = None
        while time.perf_counter() < deadline:
            if mine:
                conv = mine[n % len(mine)]
            elif n % per_conversation == 0 or conv is None:
                conv = await new_conversation(client, tally)
                if conv is None:
                    await asyncio.sleep(0.05)
                    continue
            body = await post_turn(client, conv, questions[n % len(questions)], tally)
            if body:
                done = time.perf_counter()
                for reply in body["replies"]:
                    tally.sent_at[reply["id"]] = done
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(customer(i) for i in range(concurrency)))
    return tally, time.perf_counter() - started


async def stream_turn(client, conv: str, text: str) -> dict[str, Any]:
    """One streamed turn: time to the first event, time to ``done``, the events seen."""
    t0 = time.perf_counter()
    first = None
    events: dict[str, int] = {}
    event = None
    try:
        async with client.stream("POST", f"/v1/conversations/{conv}/messages",
                                 json={"text": text, "stream": True}) as r:
            if r.status_code != 200:
                return {"ok": False, "error": f"{r.status_code} {(await r.aread()).decode()[:200]}"}
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    first = first or time.perf_counter() - t0
                    events[event] = events.get(event, 0) + 1
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    ok = events.get("done") == 1 and events.get("turn") == 1
    return {"ok": ok, "first_s": first, "total_s": time.perf_counter() - t0, "events": events,
            "error": None if ok else f"incomplete stream: {events}"}


async def streaming_burst(client, questions: list[str], n: int) -> dict[str, Any]:
    convs = await asyncio.gather(*(new_conversation(client) for _ in range(n)))
    convs = [c for c in convs if c]
    started = time.perf_counter()
    results = await asyncio.gather(*(stream_turn(client, c, questions[i % len(questions)])
                                     for i, c in enumerate(convs)))
    wall = time.perf_counter() - started
    ok = [r for r in results if r["ok"]]
    errors = [r["error"] for r in results if not r["ok"]]
    return {"streams": n, "conversations_opened": len(convs), "completed": len(ok), "errors": n - len(ok),
            "error_samples": errors[:5], "wall_s": round(wall, 2),
            "turns_per_s": round(len(ok) / wall, 1) if wall else 0,
            "first_event": latency_summary([r["first_s"] for r in ok]) if ok else {},
            "complete": latency_summary([r["total_s"] for r in ok]) if ok else {},
            "deltas_per_stream": round(sum(r["events"].get("delta", 0) for r in ok) / max(1, len(ok)), 1)}


async def listen(client, conv: str, accepted: asyncio.Event, arrivals: dict[int, float], state: dict) -> None:
    """A widget's live-event connection: note when each message arrives."""
    try:
        async with client.stream("GET", f"/v1/conversations/{conv}/events") as r:
            if r.status_code != 200:
                state["errors"].append(f"{r.status_code} {(await r.aread()).decode()[:200]}")
                return
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event:
                    if not accepted.is_set():
                        accepted.set()
                    if event == "message":
                        arrivals[json.loads(line[5:])["id"]] = time.perf_counter()
                    elif event == "error":
                        state["errors"].append(line[:200])
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001
        state["errors"].append(f"{type(exc).__name__}: {exc}")


async def listeners_phase(client, server: Server, questions: list[str], n: int, concurrency: int,
                          duration: float) -> dict[str, Any]:
    convs = [c for c in await asyncio.gather(*(new_conversation(client) for _ in range(n))) if c]
    arrivals: dict[int, float] = {}
    state: dict[str, list] = {"errors": []}
    flags = [asyncio.Event() for _ in convs]
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(listen(client, c, f, arrivals, state)) for c, f in zip(convs, flags)]
    try:
        await asyncio.wait_for(asyncio.gather(*(f.wait() for f in flags)), timeout=60)
    except TimeoutError:
        pass
    accepted = sum(f.is_set() for f in flags)
    open_s = time.perf_counter() - t0
    cpu0, t0 = server.cpu_s(), time.perf_counter()
    await asyncio.sleep(IDLE_LISTEN_S)  # what the open connections cost with nothing to deliver
    idle_cpu_pct = round((server.cpu_s() - cpu0) * 100 / (time.perf_counter() - t0), 1)
    log(f"  {accepted}/{len(convs)} listeners accepted in {open_s:.1f}s, idle server CPU {idle_cpu_pct}% of a "
        f"core; turns for {duration:g}s")
    tally, wall = await sustained(client, questions, concurrency, duration, 10**9, convs)
    await asyncio.sleep(1.0)  # the listeners poll every 0.3 s
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sent_at = tally.sent_at
    lags = [arrivals[m] - sent_at[m] for m in sent_at if m in arrivals]
    ms = [x * 1000 for x in lags]
    return {"listeners": n, "accepted": accepted, "open_s": round(open_s, 2), "idle_server_cpu_pct": idle_cpu_pct,
            "listener_errors": len(state["errors"]),
            "listener_error_samples": state["errors"][:5], "turns": tally.summary(wall),
            "replies_sent": len(sent_at), "replies_delivered": len(lags),
            "delivery_lag_ms": {"p50": round(percentile(ms, 50), 1), "p95": round(percentile(ms, 95), 1),
                                "max": round(max(ms), 1) if ms else float("nan")}}


async def drive(server: Server, key: str, questions: list[str], args) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.streams + args.concurrency + 50,
                          max_keepalive_connections=args.streams + args.concurrency + 50)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=server.base, headers={"X-Kefu-Key": key}, limits=limits,
                                 timeout=httpx.Timeout(120.0, connect=30.0)) as client:
        warm = Tally()
        t0 = time.perf_counter()

        async def warm_up(i: int) -> None:  # every question once, unmeasured, like the baseline's warm-up
            conv = await new_conversation(client, warm)
            for q in questions[i::args.concurrency]:
                await post_turn(client, conv, q, warm)

        await asyncio.gather(*(warm_up(i) for i in range(args.concurrency)))
        out["warmup"] = {"turns": len(warm.latencies), "errors": warm.errors, "error_samples": warm.samples,
                         "wall_s": round(time.perf_counter() - t0, 1)}
        out["memory_idle"] = server.memory()
        cpu0, t0 = server.cpu_s(), time.perf_counter()
        await asyncio.sleep(IDLE_LISTEN_S)
        out["idle_server_cpu_pct"] = round((server.cpu_s() - cpu0) * 100 / (time.perf_counter() - t0), 1)

        log(f"(a) sustained: {args.concurrency} customers for {args.duration:g}s")
        cpu0, client0 = server.cpu_s(), _client_cpu()
        tally, wall = await sustained(client, questions, args.concurrency, args.duration, args.turns_per_conversation)
        out["sustained"] = tally.summary(wall)
        turns = max(1, out["sustained"]["turns"])
        out["sustained"]["server_cpu_ms_per_turn"] = round((server.cpu_s() - cpu0) * 1000 / turns, 1)
        out["sustained"]["client_cpu_ms_per_turn"] = round((_client_cpu() - client0) * 1000 / turns, 1)
        out["memory_after_sustained"] = server.memory()
        s = out["sustained"]
        log(f"    {s['turns_per_s']} turns/s, p95 {s['p95_ms']} ms, errors {s['errors']}")

        log(f"(b) {args.streams} streamed turns at once")
        cpu0 = server.cpu_s()
        out["streaming"] = await streaming_burst(client, questions, args.streams)
        out["streaming"]["server_cpu_ms_per_turn"] = round(
            (server.cpu_s() - cpu0) * 1000 / max(1, out["streaming"]["completed"]), 1)
        out["memory_after_streaming"] = server.memory()
        b = out["streaming"]
        log(f"    {b['completed']}/{b['streams']} complete in {b['wall_s']}s, errors {b['errors']}")

        log(f"(c) {args.streams} live-event listeners while turns run")
        cpu0 = server.cpu_s()
        out["listeners"] = await listeners_phase(client, server, questions, args.streams, args.concurrency,
                                                 args.listen_duration)
        lt = out["listeners"]["turns"]
        lt["server_cpu_ms_per_turn"] = round((server.cpu_s() - cpu0) * 1000 / max(1, lt["turns"]), 1)
        out["memory_after_listeners"] = server.memory()
        c = out["listeners"]
        log(f"    {c['accepted']}/{c['listeners']} accepted, {c['replies_delivered']}/{c['replies_sent']} "
            f"delivered, {lt['turns_per_s']} turns/s, p95 {lt['p95_ms']} ms")
    return out


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ======================================================================== report

def check_targets(result: dict[str, Any]) -> dict[str, Any]:
    s = result["load"]["sustained"]
    return {
        f"≥ {TARGETS['turns_per_s']:g} turns/s": {"measured": s["turns_per_s"],
                                                  "met": s["turns_per_s"] >= TARGETS["turns_per_s"]},
        f"p95 ≤ {TARGETS['p95_ms']:g} ms": {"measured": s["p95_ms"], "met": s["p95_ms"] <= TARGETS["p95_ms"]},
        "0 errors (all phases)": {"measured": result["errors_total"], "met": result["errors_total"] == 0},
    }


def report(result: dict[str, Any]) -> None:
    base, load = result["baseline"], result["load"]
    s, b, c = load["sustained"], load["streaming"], load["listeners"]
    ct = c["turns"]
    http_rate = s["turns_per_s"]
    rows = [
        ["in-process Answerer.ask (1 thread)", base["ask"]["turns_per_s"], base["ask"]["p50_ms"],
         base["ask"]["p95_ms"], base["ask"]["p99_ms"], 0, base["ask"]["cpu_ms_per_turn"], base["ask"]["n"]],
        ["in-process ChatService.post (1 thread)", base["post"]["turns_per_s"], base["post"]["p50_ms"],
         base["post"]["p95_ms"], base["post"]["p99_ms"], 0, base["post"]["cpu_ms_per_turn"], base["post"]["n"]],
        [f"HTTP turns, {result['options']['concurrency']} customers", http_rate, s["p50_ms"], s["p95_ms"],
         s["p99_ms"], s["errors"], s["server_cpu_ms_per_turn"], s["turns"]],
        [f"HTTP streamed turns, {b['streams']} at once", b["turns_per_s"], b["complete"].get("p50_ms"),
         b["complete"].get("p95_ms"), "-", b["errors"], b["server_cpu_ms_per_turn"], b["completed"]],
        [f"HTTP turns with {c['listeners']} SSE listeners open", ct["turns_per_s"], ct["p50_ms"], ct["p95_ms"],
         ct["p99_ms"], ct["errors"] + c["listener_errors"], ct["server_cpu_ms_per_turn"], ct["turns"]],
    ]
    print_table(f"kefu serve under load (loadavg at start {result['loadavg'][0]}, "
                f"{os.cpu_count()} cores; noisy)",
                ["measure", "turns/s", "p50 ms", "p95 ms", "p99 ms", "errors", "CPU ms/turn", "n"], rows)
    ratio = result["ratios"]
    mem = [load[k] for k in ("memory_idle", "memory_after_sustained", "memory_after_streaming",
                             "memory_after_listeners")]
    print_table("overheads, streams, listeners, memory", ["measure", "value"], [
        ["turns/s: in-process ask ÷ HTTP (x)", ratio["ask_over_http_turns_per_s"]],
        ["turns/s: in-process ChatService.post ÷ HTTP (x)", ratio["post_over_http_turns_per_s"]],
        ["CPU/turn: HTTP server ÷ in-process ask (x)", ratio["server_cpu_over_ask_cpu"]],
        ["CPU/turn: HTTP server ÷ in-process ChatService.post (x)", ratio["server_cpu_over_post_cpu"]],
        ["load generator CPU ms per HTTP turn (same 2 cores)", s["client_cpu_ms_per_turn"]],
        ["server CPU idle / with listeners idle (% of a core)",
         f"{load['idle_server_cpu_pct']} / {c['idle_server_cpu_pct']}"],
        ["streams complete / opened", f"{b['completed']} / {b['streams']}"],
        ["stream first event p50 / p95 (ms)", f"{b['first_event'].get('p50_ms')} / {b['first_event'].get('p95_ms')}"],
        ["listeners accepted", f"{c['accepted']} / {c['listeners']} in {c['open_s']} s"],
        ["replies delivered to listeners", f"{c['replies_delivered']} / {c['replies_sent']}"],
        ["delivery lag p50 / p95 (ms)", f"{c['delivery_lag_ms']['p50']} / {c['delivery_lag_ms']['p95']}"],
        ["server VmRSS idle → after (MB)", " → ".join(str(m["VmRSS"]) for m in mem)],
        ["server VmHWM peak (MB)", mem[-1]["VmHWM"]],
        ["server threads idle → after", " → ".join(str(m["Threads"]) for m in mem)],
    ])
    print_table("targets (2 cores)", ["target", "measured", "met"],
                [[k, v["measured"], "yes" if v["met"] else "NO"] for k, v in result["targets"].items()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run: 8 s, concurrency 4, 50 streams")
    parser.add_argument("--duration", type=float, default=None, help="seconds of sustained turns (default 30)")
    parser.add_argument("--concurrency", type=int, default=None, help="simulated customers (default 8)")
    parser.add_argument("--streams", type=int, default=None,
                        help="concurrent streamed turns, and SSE listeners (default 200)")
    parser.add_argument("--listen-duration", type=float, default=None,
                        help="seconds of turns while the listeners are open (default 15)")
    parser.add_argument("--turns-per-conversation", type=int, default=4,
                        help="customer turns before a customer starts a new conversation")
    parser.add_argument("--home", type=Path, default=None,
                        help="an existing KEFU_HOME holding the demo knowledge base (default: a fresh temp one)")
    parser.add_argument("--port", type=int, default=None, help="server port (default: a free one)")
    parser.add_argument("--name", default=None, help="results file name (default service / service-quick)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps({"baseline": worker_baseline}[args.worker](json.loads(args.worker_args)),
                         ensure_ascii=False))
        return 0
    quick = args.quick
    args.duration = args.duration or (8.0 if quick else 30.0)
    args.concurrency = args.concurrency or (4 if quick else 8)
    args.streams = args.streams or (50 if quick else 200)
    args.listen_duration = args.listen_duration or (5.0 if quick else 15.0)
    name = args.name or ("service-quick" if quick else "service")
    rows = load_demo_questions()
    if not rows:
        raise SystemExit("examples/demo_questions.jsonl is missing")
    questions = [r["q"] for r in rows]

    started = time.perf_counter()
    loadavg = [round(x, 2) for x in os.getloadavg()]
    log(f"load average at start: {loadavg} on {os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="kefu-bench-service-"))
    home = args.home.resolve() if args.home else work / "home"
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
               if not k.startswith("worker")}
    result: dict[str, Any] = {"options": options, "loadavg": loadavg}
    server = None
    try:
        setup = prepare_home(home, fresh=args.home is None)
        key = setup.pop("key")
        result["setup"] = setup
        log(f"baseline: {len(questions)} questions in-process (worker subprocess)")
        result["baseline"] = run_baseline(home, questions, args.turns_per_conversation)
        log(f"    ask {result['baseline']['ask']['turns_per_s']}/s, post {result['baseline']['post']['turns_per_s']}/s")
        port = args.port or free_port()
        server = Server(home, port, work / "server.log")
        result["server_start_s"] = round(server.start(), 1)
        log(f"kefu serve on :{port} answered /healthz after {result['server_start_s']}s (pid {server.proc.pid})")
        result["load"] = asyncio.run(drive(server, key, questions, args))
        result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        tail = server.log_tail()
        result["server_log_errors"] = sum(1 for line in tail.splitlines() if "error" in line.lower())
        if result["server_log_errors"]:
            result["server_log_tail"] = tail[-1500:]
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    load = result["load"]
    result["errors_total"] = (load["warmup"]["errors"] + load["sustained"]["errors"] + load["streaming"]["errors"]
                              + load["listeners"]["turns"]["errors"] + load["listeners"]["listener_errors"]
                              + (load["listeners"]["listeners"] - load["listeners"]["accepted"])
                              + (load["listeners"]["replies_sent"] - load["listeners"]["replies_delivered"]))
    http = max(load["sustained"]["turns_per_s"], 1e-9)
    result["ratios"] = {
        "ask_over_http_turns_per_s": round(result["baseline"]["ask"]["turns_per_s"] / http, 2),
        "post_over_http_turns_per_s": round(result["baseline"]["post"]["turns_per_s"] / http, 2),
        "server_cpu_over_ask_cpu": round(load["sustained"]["server_cpu_ms_per_turn"]
                                         / max(result["baseline"]["ask"]["cpu_ms_per_turn"], 1e-9), 2),
        "server_cpu_over_post_cpu": round(load["sustained"]["server_cpu_ms_per_turn"]
                                          / max(result["baseline"]["post"]["cpu_ms_per_turn"], 1e-9), 2),
    }
    result["targets"] = check_targets(result)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    report(result)
    path = write_results(name, result, argv)
    print(f"\nwrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path} "
          f"in {result['wall_seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
