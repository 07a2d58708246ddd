"""``python -m bench.run [--quick] [--no-write]``: every benchmark against the fakes on
loopback; prints the figures and writes ``bench/RESULTS.md``.

``--quick`` runs tiny sizes (a smoke run, well under a minute: its figures mean nothing);
``--no-write`` leaves RESULTS.md alone; ``--only 8`` (repeatable) runs those benchmarks
alone and replaces only their sections (and their rows of the targets) in RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from bench import (
    first_link,
    idle_cycle,
    inbound_latency,
    many_guilds,
    memory,
    outbound_latency,
    outbound_process,
    push,
    results,
    scale,
)
from bench.common import Section, Target, median, ms
from bot.inbound.engine import PARALLEL_TICKETS
from bot.pacing import GLOBAL_BURST, GLOBAL_PER_SECOND

RESULTS = Path(__file__).with_name("RESULTS.md")


@dataclass(frozen=True)
class Sizes:
    idle: tuple[int, ...] = idle_cycle.SIZES
    idle_cycles: int = idle_cycle.ENGINE_CYCLES
    naive_runs: int = idle_cycle.NAIVE_RUNS
    inbound: dict[str, float] | None = None
    outbound_replies: int = 240
    outbound_runs: int = 3
    first_link_tickets: int = 1_000
    guilds: dict[str, float] | None = None
    memory_tickets: int = 10_000
    memory_runs: int = 2
    memory_cycles: int = 3
    push: dict[str, object] | None = None
    scale: dict[str, float] | None = None


FULL = Sizes()
QUICK = Sizes(
    idle=(100,),
    idle_cycles=2,
    naive_runs=1,
    inbound={
        "interval": 1.0,
        "active_tickets": 1,
        "quiet_tickets": 1,
        "active_seconds": 2.0,
        "quiet_after": 0.5,
        "quiet_spread": 1.0,
    },
    outbound_replies=20,
    outbound_runs=1,
    first_link_tickets=1,
    guilds={
        "guilds": 3,
        "tickets": 5,
        "interval": 1.0,
        "phase_seconds": 2.5,
        "slow_seconds": 1.0,
        "rounds": 1,
        "settle_intervals": 1.0,
    },
    memory_tickets=200,
    memory_runs=1,
    memory_cycles=1,
    push={"active_tickets": 1, "quiet_tickets": 1, "seconds": 2.0, "sizes": (100,)},
    scale={"guilds": 3, "tickets": 5, "interval": 1.0, "seconds": 2.5},
)


def timed(build: Callable[[], Section]) -> Section:
    started = time.monotonic()
    section = build()
    section.seconds = time.monotonic() - started
    print(section.markdown(), flush=True)
    return section


def idle(sizes: Sizes) -> Section:
    rows = idle_cycle.run(sizes.idle, engine_cycles=sizes.idle_cycles, naive_runs=sizes.naive_runs)
    table = [
        [
            f"{r['tickets']:,}",
            str(r["open"]),
            f"{r['engine_median']:g} / {r['engine_max']}",
            str(r["limit_max"]),
            f"{r['engine_ms']:.0f}",
            f"{r['naive']:,}",
            f"{r['naive_ms']:.0f}",
            f"{r['naive'] / r['engine_max']:.0f}x",
        ]
        for r in rows
    ]
    biggest = rows[-1]
    ratio = biggest["naive"] / biggest["engine_max"]
    at_limit = all(r["engine_max"] <= r["limit_max"] for r in rows)
    return Section(
        title="1. Idle cycle cost (engine, FakeSellApp on loopback)",
        setup=(
            "Tickets 1% open, two messages each; after the first link, "
            f"{sizes.idle_cycles} idle cycles one interval apart (median and max), next to a naive "
            f"poller (list everything, read every ticket) measured {sizes.naive_runs}x "
            "(median) in the same run. Limit = list pages + open tickets due in that cycle."
        ),
        headers=[
            "tickets",
            "open",
            "engine req/cycle (median / max)",
            "limit (max)",
            "engine ms",
            "naive req/cycle",
            "naive ms",
            "naive / engine (max)",
        ],
        rows=table,
        targets=[
            Target("every idle cycle at or under the limit", at_limit, "asserted per cycle"),
            Target(
                f"at {biggest['tickets']:,} tickets >= 10x fewer requests than naive",
                ratio >= 10,
                f"{ratio:.0f}x (engine's worst cycle: every open ticket due at once)",
            ),
        ],
        notes=[
            "The engine's max is a cycle where every open ticket is due; between those, "
            "backoff of quiet open tickets leaves the list pages only (the median).",
        ],
    )


def inbound(sizes: Sizes) -> Section:
    return asyncio.run(inbound_latency.run(**(sizes.inbound or {})))  # type: ignore[arg-type]


def outbound(sizes: Sizes) -> Section:
    process, engine = [], []
    for _ in range(sizes.outbound_runs):
        process.append(
            outbound_process.summary(
                asyncio.run(outbound_process.run(replies=sizes.outbound_replies))
            )
        )
        lat = asyncio.run(outbound_latency.run(sizes.outbound_replies, 10, 0.02, 0.08))
        engine.append(outbound_process.summary([x / 1000 for x in lat]))
    rows = []
    for name, runs in (
        ("real process (member_says -> POST)", process),
        ("engine only (accept -> POST)", engine),
    ):
        rows.append(
            [
                name,
                str(len(runs)),
                ms(median([r[0] for r in runs])),
                ms(median([r[1] for r in runs])),
                ms(max(r[2] for r in runs)),
            ]
        )
    p99 = median([r[1] for r in process])
    return Section(
        title="3. Outbound latency (staff message event -> POST at the fake SellApp)",
        setup=(
            f"{sizes.outbound_replies} replies per run round-robin over 10 open tickets, one every "
            "20 ms; the real process polls inbound at 2 s meanwhile; the engine-only figure is "
            "bench/outbound_latency.py (reactions take 80 ms there). Figures are the medians "
            "over runs of each run's median and p99, in ms; max over all runs."
        ),
        headers=["path", "runs", "median ms", "p99 ms", "max ms"],
        rows=rows,
        notes=[
            "The engine alone (same store, client and fake) is the floor; the gap to the real "
            "process is the process's single event loop, which also runs the gateway, the "
            "reaction for every reply (a Discord REST call each), the 2 s inbound polls and "
            "their SQLite commits (synchronous=FULL on disk). Not profiled here: a reply whose "
            "event lands while the loop is busy with those waits for them. What would narrow "
            "it (unverified): make sure delivery never waits behind feedback; reactions "
            "could be batched or deferred while the outbox is non-empty), and keep inbound "
            "commits off the hot path (one transaction per cycle instead of per ticket).",
        ],
        targets=[
            Target(
                "p99 under 50 ms on loopback (real process)",
                p99 * 1000 < 50,
                f"p99 {p99 * 1000:.1f} ms",
            )
        ],
    )


def first(sizes: Sizes) -> Section:
    r = asyncio.run(first_link.run(tickets=sizes.first_link_tickets))
    per_ticket = r.seconds / r.tickets
    return Section(
        title=f"4. First link of a big store, measured at {r.tickets} tickets (not 1,000)",
        setup=(
            f"{r.tickets} open tickets x 5 messages through the real process into a fake Discord "
            "enforcing 50 req/s in all and 5 messages / 5 s per channel. Ceiling = 6 requests per "
            "ticket / 50 per s. One run (it is the slowest figure here)."
        ),
        headers=[
            "tickets",
            "first thread -> last post s",
            "ready -> last post s",
            "ceiling s",
            "share of ceiling",
            "429s",
        ],
        rows=[
            [
                str(r.tickets),
                f"{r.seconds:.1f}",
                f"{r.from_ready:.1f}",
                f"{r.ceiling:.1f}",
                f"{r.share:.0%}",
                str(r.http_429),
            ]
        ],
        targets=[
            Target("80% or more of the rate-limit ceiling", r.share >= 0.8, f"{r.share:.0%}"),
            Target("no more than a handful of 429s", r.http_429 <= 5, f"{r.http_429}"),
        ],
        notes=[
            f"Time is linear in tickets: {per_ticket:.1f} s per ticket, so 1,000 tickets "
            f"would take about {per_ticket * 1000 / 60:.0f} min against a 120 s ceiling.",
            "What bounds it: the pacer. `InboundSync.run_cycle` works on up to "
            f"{PARALLEL_TICKETS} tickets at once (`PARALLEL_TICKETS`, a worker pool over the "
            "oldest-first list; threads are "
            "still created oldest first, one after the other), so a thread waiting out its 5 "
            "messages / 5 s bucket (discord.py sleeps pre-emptively when it hits 0) no longer "
            "stalls the rest. Every Discord request of the adapters passes one token bucket "
            f"(`bot/pacing.py`: {GLOBAL_PER_SECOND:.0f} req/s, bursts of {GLOBAL_BURST}, under "
            "50 in any sliding second), so the best is 6 requests a ticket / "
            f"{GLOBAL_PER_SECOND:.0f} per s = {GLOBAL_PER_SECOND / 50:.0%} of the 50 req/s "
            f"ceiling (measured: {r.share:.0%}). No 429s: the pacer stays under the global "
            "limit, discord.py "
            "waits out the per-thread ones.",
            "What it would take: fewer requests per ticket, e.g. post a ticket's history as "
            "fewer Discord messages (one message carries up to 10 embeds: 5 SellApp messages -> "
            "1 post, 2 requests a ticket, ceiling 40 s for 1,000 tickets). Raising the pacer "
            f"towards 50 req/s would gain at most {1 - GLOBAL_PER_SECOND / 50:.0%} and risk "
            "global 429s, which discord.py "
            "only learns of from a 429.",
        ],
    )


def guilds(sizes: Sizes) -> Section:
    kwargs = sizes.guilds or {}
    phases = asyncio.run(many_guilds.run(**kwargs))  # type: ignore[arg-type]
    n, t = int(kwargs.get("guilds", 200)), int(kwargs.get("tickets", 50))
    interval = float(kwargs.get("interval", 5.0))
    rows = [
        [
            p.name,
            str(p.polls),
            f"{p.cycle_ms:.0f}",
            f"{p.fast_median:.2f}",
            f"{p.fast_p99:.2f}",
            f"{p.fast_max:.2f}",
            "-" if p.slow_max is None else f"{p.slow_max:.2f}",
        ]
        for p in phases
    ]
    normal = [p for p in phases if p.slow_max is None]
    slow = [p for p in phases if p.slow_max is not None]
    worst_normal = max(p.fast_max for p in normal)
    worst_slow = max(p.fast_max for p in slow)
    added = worst_slow - worst_normal
    ok = added <= 0.1 * interval
    return Section(
        title=f"5. Many guilds: {n} guilds x {t} tickets on one process",
        setup=(
            "One open ticket per guild, each guild its own store and key; poll interval "
            f"{interval:g} s. "
            f"Phases of {kwargs.get('phase_seconds', 20.0):g} s alternate normal / one store slow "
            f"(+{kwargs.get('slow_seconds', 6.0):g} s on every request). A guild's wait = the time "
            "between two of its `poll done` lines (interval + its cycle). Seconds, except cycle ms."
        ),
        headers=[
            "phase",
            "polls",
            "cycle ms (median)",
            "fast wait median",
            "fast wait p99",
            "fast wait max",
            "slow guild's wait max",
        ],
        rows=rows,
        targets=[
            Target(
                "a slow store adds nothing to the others' waits",
                ok,
                f"fast guilds' longest wait {worst_slow:.2f} s with the slow store vs "
                f"{worst_normal:.2f} s without ({added:+.2f} s; nothing = within 10% of the "
                "interval)",
            )
        ],
    )


def rss(sizes: Sizes) -> Section:
    none = [
        asyncio.run(memory.peak_kib(tickets=0, cycles=sizes.memory_cycles))
        for _ in range(sizes.memory_runs)
    ]
    many = [
        asyncio.run(memory.peak_kib(tickets=sizes.memory_tickets, cycles=sizes.memory_cycles))
        for _ in range(sizes.memory_runs)
    ]
    a, b = median(none) / 1024, median(many) / 1024
    return Section(
        title="6. Memory: peak RSS of the real process",
        setup=(
            f"VmHWM after {sizes.memory_cycles} poll(s) (interval 1 s), median of "
            f"{sizes.memory_runs} runs each; the "
            "database seeded through Store (1% open, every ticket mapped to a thread) and the "
            "fake SellApp listing the same tickets."
        ),
        headers=["tracked tickets", "peak RSS MiB", "runs (MiB)"],
        rows=[
            ["0", f"{a:.1f}", ", ".join(f"{x / 1024:.1f}" for x in none)],
            [f"{sizes.memory_tickets:,}", f"{b:.1f}", ", ".join(f"{x / 1024:.1f}" for x in many)],
        ],
        targets=[
            Target(
                f"{sizes.memory_tickets:,} tickets under 50 MB more than none",
                (b - a) * 1.048576 < 50,
                f"+{b - a:.1f} MiB",
            )
        ],
    )


def pushed(sizes: Sizes) -> Section:
    return push.run(**(sizes.push or {}))  # type: ignore[arg-type]


def scaled(sizes: Sizes) -> Section:
    kwargs = sizes.scale or {}
    return scale.section(scale.run_all(**kwargs), float(kwargs.get("seconds", 120.0)))


BENCHMARKS = (idle, inbound, outbound, first, guilds, rss, pushed, scaled)


def header(command: str, total: float) -> str:
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"- command: `{command}`",
            f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; took {total / 60:.1f} min",
            f"- cores (`os.cpu_count()`): {os.cpu_count()}; "
            f"{platform.machine()} {platform.system()}",
            f"- Python {platform.python_version()}, discord.py {version('discord.py')}, "
            f"httpx {version('httpx')}, aiohttp {version('aiohttp')}",
            "- everything on loopback against tests/fakes; the fakes share one Python process, "
            'the bot is its own process where it says "real process". Latency figures that '
            "involve the real process use a database on disk; seeded-state figures (5, 6) use "
            "/dev/shm.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument(
        "--only",
        type=int,
        action="append",
        choices=range(1, len(BENCHMARKS) + 1),
        metavar="N",
        help="run benchmark N only (repeatable); RESULTS.md keeps the others' figures",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    chosen = [BENCHMARKS[n - 1] for n in sorted(set(args.only or []))] or list(BENCHMARKS)
    started = time.monotonic()
    sections = [timed(lambda b=b: b(sizes)) for b in chosen]
    total = time.monotonic() - started
    command = " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])])
    rows = results.target_rows(sections)
    print(results.targets_table(rows))
    print(f"\ntotal {total:.0f} s")
    if args.no_write:
        return
    if args.only and RESULTS.exists():
        text = results.merge(RESULTS.read_text(), sections, rerun_line(command, total))
    else:
        text = header(command, total) + "\n".join(s.markdown() for s in sections)
        text += "\n" + results.targets_table(rows)
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


def rerun_line(command: str, total: float) -> str:
    return (
        f"- re-run alone: `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
        f"took {total / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
