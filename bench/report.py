"""The bench's figures as one markdown report: the tables of docs/performance.md."""

from __future__ import annotations

from typing import Any

from bench.api_load import percentile

TARGET_LIMIT_RATIO = 0.8
TARGET_LOCK_P99_MS = 250
TARGET_NAIVE_RATIO = 20
TARGET_API_P99_RATIO = 1.5
TARGET_GROWTH_RATIO = 1.2


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput (the lower middle of an even count)."""
    ordered = sorted(runs, key=rate)
    return ordered[(len(ordered) - 1) // 2]


def rate(run: dict[str, Any]) -> float:
    return run["sessions"] / run["seconds"]


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _yes(met: bool) -> str:
    return "met" if met else "**not met**"


def _variant_row(name: str, run: dict[str, Any]) -> str:
    holds = run["holds_ms"]
    server = run.get("server_cpu_seconds")
    cpu = f"{run['client_cpu_seconds'] / run['sessions'] * 1e3:.2f}"
    cpu += " + " + (f"{server / run['sessions'] * 1e3:.2f}" if server else "n/a")
    peak = run["peak_rss_kb"] / 1024
    grown = (run["peak_rss_kb"] - run["baseline_rss_kb"]) / 1024
    cells = [
        name,
        _n(run["sessions"]),
        _n(run["rows"]),
        _n(run["seconds"], 2),
        _n(rate(run)),
        _n(run["rows"] / run["seconds"]),
        _n(percentile(holds, 0.99), 1),
        _n(max(holds), 1),
        f"{peak:.0f} (+{max(grown, 0):.0f})",
        _n(run["wal_bytes"] / 1e6, 1),
        _n(run["wal_bytes"] / run["sessions"] / 1024, 1),
        cpu,
    ]
    return "| " + " | ".join(cells) + " |"


def markdown(figures: dict[str, Any]) -> str:
    out: list[str] = []
    m = figures["machine"]
    pg = m["postgres"]
    data = figures["data"]
    runs = figures["runs"]
    ours, limit, naive = (median_run(runs[k]) for k in ("ours", "limit", "naive"))

    out.append(f"Command: `{figures['command']}`")
    out.append("")
    out.append(
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['ram_gb']} GB RAM,"
        f" Linux {m['kernel']}, PostgreSQL {pg['version']} (shared_buffers"
        f" {pg['shared_buffers']}, max_wal_size {pg['max_wal_size']},"
        f" synchronous_commit {pg['synchronous_commit']}), Python {m['python']}."
        f" Load average at start {_load(m['load_at_start'])},"
        f" at end {_load(m.get('load_at_end'))}."
    )
    out.append("")
    rows = sum(data["rows"].values())
    out.append(
        f"Data: {_n(data['rows']['interview_sessions'])} sessions"
        f" ({_n(rows)} rows, {data['bytes'] / 2**30:.2f} GiB), {_n(data['due'])}"
        f" due ({_n(ours['expected_rows'])} rows with their children); purge"
        f" batch size {ours.get('batch_size', figures['batch_size'])}."
    )
    out.append("")

    out.append("### Purge: the same due sessions deleted three ways")
    out.append("")
    out.append(
        "| variant | sessions | rows | seconds | sessions/s | rows/s"
        " | lock p99 ms | lock max ms | peak RSS MiB (+growth) | WAL MB"
        " | WAL KiB/session | CPU ms/session (client + server) |"
    )
    out.append("|" + " --- |" * 12)
    out.append(_variant_row("ours (purge job)", ours))
    out.append(_variant_row("limit (one DELETE)", limit))
    out.append(_variant_row(f"naive (first {naive['sample']:,} due, ORM loop)", naive))
    if "api" in figures:
        out.append(_variant_row("ours, API under load", figures["api"]["purge"]))
    if "api_paused" in figures:
        paused = figures["api_paused"]
        out.append(
            _variant_row(
                f"ours, API under load, PURGE_PAUSE_MS={paused['pause_ms']}",
                paused["purge"],
            )
        )
    out.append("")
    out.append(
        f"Median of {len(runs['ours'])} runs each for ours and limit (all runs,"
        f" sessions/s: ours {_list(runs['ours'])}; limit {_list(runs['limit'])})."
    )
    out.append("")

    targets: list[tuple[str, str, bool]] = []
    limit_ratio = rate(ours) / rate(limit)
    lock_p99 = percentile(ours["holds_ms"], 0.99)
    naive_ratio = rate(ours) / rate(naive)
    targets.append(
        (
            f"ours ≥ {TARGET_LIMIT_RATIO} x limit, sessions/s",
            f"{limit_ratio:.2f} x",
            limit_ratio >= TARGET_LIMIT_RATIO,
        )
    )
    targets.append(
        (
            f"ours' batch lock p99 ≤ {TARGET_LOCK_P99_MS} ms",
            f"{lock_p99:.0f} ms",
            lock_p99 <= TARGET_LOCK_P99_MS,
        )
    )
    targets.append(
        (
            f"ours ≥ {TARGET_NAIVE_RATIO} x naive, sessions/s",
            f"{naive_ratio:.1f} x",
            naive_ratio >= TARGET_NAIVE_RATIO,
        )
    )

    for key in ("api", "api_paused"):
        if key in figures:
            out += _api_table(figures[key], targets)
    if figures.get("growth"):
        grown = figures["growth"]
        out.append("### Cost growth: the same work in a larger table")
        out.append("")
        out.append(
            "| sessions | due | newly covered | due query ms | its index"
            " | buffers | retention scan ms | its index | buffers |"
        )
        out.append("|" + " --- |" * 9)
        for g in grown:
            out.append(
                f"| {_n(g['sessions'])} | {_n(g['due'])} | {_n(g['covered'])}"
                f" | {g['due_ms']:.2f} | {', '.join(g['due_indexes']) or 'none'}"
                f" | {g['due_buffers']} | {g['scan_ms']:.2f}"
                f" | {', '.join(g['scan_indexes']) or 'none'} | {g['scan_buffers']} |"
            )
        out.append("")
        first, last = grown[0], grown[-1]
        if last["sessions"] > first["sessions"]:
            ratio = last["due_ms"] / first["due_ms"]
            targets.append(
                (
                    f"due query at {_n(last['sessions'])} ≤ {TARGET_GROWTH_RATIO}"
                    f" x at {_n(first['sessions'])}",
                    f"{ratio:.2f} x",
                    ratio <= TARGET_GROWTH_RATIO,
                )
            )
            scan_ratio = last["scan_ms"] / first["scan_ms"]
            targets.append(
                (
                    f"retention scan at {_n(last['sessions'])} vs at"
                    f" {_n(first['sessions'])} (no numeric target)",
                    f"{scan_ratio:.2f} x",
                    True,
                )
            )

    out.append("### Targets")
    out.append("")
    out.append("| target | this run | |")
    out.append("| --- | --- | --- |")
    for name, value, met in targets:
        out.append(f"| {name} | {value} | {_yes(met)} |")
    return "\n".join(out)


def _api_table(api: dict[str, Any], targets: list[Any]) -> list[str]:
    """The latency table of one API step, adding its rows to `targets`."""
    setting = (
        "default settings"
        if api.get("pause_ms") is None
        else f"PURGE_PAUSE_MS={api['pause_ms']}"
    )
    out = [
        f"### API while the purge runs, {setting} ({api['clients']} client"
        f" threads, {api['think_ms']:g} ms between a thread's requests; sessions"
        f" not being purged; {api['repeat']} runs pooled)",
        "",
        "| request | idle n | idle p50 ms | idle p99 ms | during n"
        " | during p50 ms | during p99 ms | p99 during / idle | errors |",
        "|" + " --- |" * 9,
    ]
    for kind, label in (
        ("GET", "GET /sessions/{id}"),
        ("PATCH", "PATCH /sessions/{id} (soft delete)"),
        ("POST", "POST /sessions/{id}/restore"),
    ):
        idle, during = api["idle"][kind], api["during"][kind]
        ratio = during["p99"] / idle["p99"]
        out.append(
            f"| {label} | {idle['n']} | {idle['p50']:.1f} | {idle['p99']:.1f}"
            f" | {during['n']} | {during['p50']:.1f} | {during['p99']:.1f}"
            f" | {ratio:.2f} | {idle['errors'] + during['errors']} |"
        )
        if kind != "POST":
            targets.append(
                (
                    f"{kind} p99 during the purge ≤ {TARGET_API_P99_RATIO} x idle"
                    f" ({setting})",
                    f"{ratio:.2f} x",
                    ratio <= TARGET_API_P99_RATIO,
                )
            )
    out.append("")
    return out


def _list(runs: list[dict[str, Any]]) -> str:
    return ", ".join(_n(rate(r)) for r in runs)


def _load(load: Any) -> str:
    return "n/a" if not load else " / ".join(f"{x:.1f}" for x in load)
