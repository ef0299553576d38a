"""Prints bench/forward-auth.sh's results: every issue-12 target with MET / MISSED / SKIPPED.

Usage: forward_auth_table.py RESULTS FACTS CONNECTIONS DURATION ROUNDS
RESULTS: one line per wrk measurement, `round case requests_per_second p50 p99` (wrk units).
FACTS: one `key value...` line per single measurement (criterion, RSS, rebuild, flood, ...).
Ratios are per round (each case against the same round's reference), then the median over rounds.
"""

import statistics
import sys

CASES = {
    "bare": "bare axum hello-world `GET /`",
    "cache-hit": "Portcullis `/authz` RS256, cache hits",
    "cache-off": "Portcullis `/authz` RS256, `PORTCULLIS_TOKEN_CACHE=false`",
    "direct": "upstream (`hello`) called directly, `GET /up/42`",
    "proxied": "the same through Portcullis's reverse proxy",
    "direct-slow": "upstream busy {slow_us} µs per request, called directly, `GET /slow/42`",
    "proxied-slow": "the same through Portcullis's reverse proxy",
    "haproxy": "HAProxy `jwt_verify` RS256",
    "scale-hit": "`/authz` cache hits, 10,000 servers + 2,000 routes",
}
MIB = 1024.0


def milliseconds(text: str) -> float:
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def main() -> int:
    results, facts_path, connections, duration, rounds = sys.argv[1:6]
    runs: dict[str, dict[int, tuple[float, float, float]]] = {}
    with open(results, encoding="utf-8") as lines:
        for line in lines:
            rnd, case, rps, p50, p99 = line.split()
            runs.setdefault(case, {})[int(rnd)] = (float(rps), milliseconds(p50), milliseconds(p99))
    facts: dict[str, str] = {}
    with open(facts_path, encoding="utf-8") as lines:
        for line in lines:
            key, _, value = line.rstrip("\n").partition(" ")
            facts[key] = value

    def med(case: str, i: int) -> float:
        return statistics.median(v[i] for v in runs[case].values())

    def ratios(case: str, reference, transform=lambda x: x) -> list[float]:
        """Per-round case/reference; reference is a case name or a function of the round."""
        out = []
        for rnd, value in sorted(runs.get(case, {}).items()):
            ref = reference(rnd) if callable(reference) else runs.get(reference, {}).get(rnd, (None,))[0]
            if ref:
                out.append(transform(value[0] / ref))
        return out

    scale = facts.get("scale") == "1"
    tokens = int(facts.get("tokens", "0"))
    binary = f"PORTCULLIS_BIN={facts['portcullis_bin']} " if facts.get("portcullis_bin") else ""
    base_cmd = f"{binary}ROUNDS={rounds} DURATION={duration} CONNECTIONS={connections} bench/forward-auth.sh"
    scale_cmd = f"SCALE=1 {'TOKENS=' + str(tokens) + ' ' if tokens and tokens != 1_000_000 else ''}{base_cmd}"
    rows = []  # target, measured, ratio, verdict, command

    def row(target, measured, ratio, ok, command=base_cmd, skip=None):
        verdict = f"SKIPPED ({skip})" if skip else ("MET" if ok else "MISSED")
        rows.append((target, measured, ratio, verdict, command))

    # Throughput table first: what every ratio is built from.
    print(f"\nwrk -t1 -c{connections} -d{duration}s --latency, {rounds} interleaved round(s); servers on one core, "
          f"wrk on another; load average at the end {facts.get('load', '?')}\n")
    print("| case | req/s (median) | p50 | p99 | per round req/s |")
    print("|---|---:|---:|---:|---|")
    for case, label in CASES.items():
        if case in runs:
            per = " ".join(f"{v[0]:,.0f}" for _, v in sorted(runs[case].items()))
            label = label.format(slow_us=facts.get("slow_us", "?"))
            print(f"| {label} | {med(case, 0):,.0f} | {med(case, 1):.3f} ms | {med(case, 2):.3f} ms | {per} |")
    t_verify_ns = float(facts["t_verify_ns"])
    print(f"\ncriterion `RS256/raw_verify` (same run, core of the servers): {t_verify_ns / 1000:.2f} µs "
          f"= {1e9 / t_verify_ns:,.0f} verifications/s")
    if "cache_hits" in facts:
        print(f"cache-on server: {facts['cache_hits']} cache hits; cache-off server: "
              f"{facts['verified_off']} tokens fully verified")

    # 1-2. Cache hits against the bare server, p99.
    r = ratios("cache-hit", "bare")
    hit = statistics.median(r)
    row("`/authz` cache hit ≥ 0.70× bare axum",
        f"{med('cache-hit', 0):,.0f} vs {med('bare', 0):,.0f} req/s (rounds: {' '.join(f'{x:.2f}' for x in r)})",
        f"{hit:.3f}", hit >= 0.70)
    p99 = med("cache-hit", 2)
    row(f"`/authz` cache hit p99 < 2 ms at {connections} connections", f"{p99:.3f} ms", f"{p99 / 2:.2f} of 2 ms", p99 < 2.0)

    # 3. Cache off against the one-core limit 1 / (t_bare + t_verify), per round.
    limit = lambda rnd: 1.0 / (1.0 / runs["bare"][rnd][0] + t_verify_ns * 1e-9)  # noqa: E731
    r = ratios("cache-off", limit)
    off = statistics.median(r)
    limit_med = statistics.median(limit(rnd) for rnd in runs["cache-off"])
    row("`/authz` cache off ≥ 0.90× one-core limit 1/(t_bare + t_verify)",
        f"{med('cache-off', 0):,.0f} vs limit {limit_med:,.0f} req/s (t_bare {1e6 / med('bare', 0):.2f} µs, "
        f"t_verify {t_verify_ns / 1000:.2f} µs)", f"{off:.3f}", off >= 0.90)

    # 4. Reverse proxy: proxied ≥ direct / 1.3 (both on the servers' core).
    r = ratios("proxied", "direct")
    prox = statistics.median(r)
    row("reverse proxy within 1.3× of the direct upstream (proxied ≥ direct/1.3 = 0.769×)",
        f"{med('proxied', 0):,.0f} vs {med('direct', 0):,.0f} req/s direct; Portcullis and upstream share core 0",
        f"{prox:.3f} ({1 / prox:.2f}× slower)", prox >= 1 / 1.3)

    # 4b. The same where the upstream's own work dominates: the case the 1.3× target is about.
    # The hello-world case above is bounded by construction (README: two servers and a client on
    # one core against one server), so it is reported but this row carries the verdict for it too.
    if "proxied-slow" in runs and "direct-slow" in runs:
        r = ratios("proxied-slow", "direct-slow")
        slow = statistics.median(r)
        row(f"reverse proxy within 1.3× of a direct upstream busy {facts.get('slow_us', '?')} µs per request",
            f"{med('proxied-slow', 0):,.0f} vs {med('direct-slow', 0):,.0f} req/s direct (rounds: "
            f"{' '.join(f'{x:.2f}' for x in r)}); Portcullis and upstream share core 0",
            f"{slow:.3f} ({1 / slow:.2f}× slower)", slow >= 1 / 1.3)

    # 5. HAProxy.
    if "haproxy" in runs:
        r = ratios("cache-hit", "haproxy")
        hp = statistics.median(r)
        row("`/authz` cache hit ≥ 3.5× HAProxy `jwt_verify`",
            f"{med('cache-hit', 0):,.0f} vs {med('haproxy', 0):,.0f} req/s (HAProxy {facts.get('haproxy_version', '?')})",
            f"{hp:.2f}×", hp >= 3.5)
    else:
        row("`/authz` cache hit ≥ 3.5× HAProxy `jwt_verify`", "HAProxy not available", "", False,
            skip="no haproxy with OpenSSL, or it refused the token")

    # 6-9. Scale.
    scale_targets = [
        "scale: `/authz` with 10,000 servers + 2,000 routes within 10 % of one server",
        "scale: snapshot rebuild < 200 ms",
        "scale: resident memory < 512 MiB",
    ]
    if not scale:
        for target in scale_targets:
            row(target, "", "", False, scale_cmd, skip="run with SCALE=1")
    elif "scale_error" in facts:
        for target in scale_targets:
            row(target, f"not measurable: {facts['scale_error']}", "", False, scale_cmd)
    else:
        note = facts.get("scale_note", "")
        note = f"{note} " if note else ""
        r = ratios("scale-hit", "cache-hit")
        sc = statistics.median(r)
        row(scale_targets[0],
            f"{note}{med('scale-hit', 0):,.0f} vs {med('cache-hit', 0):,.0f} req/s (rounds: {' '.join(f'{x:.2f}' for x in r)}; "
            f"{facts.get('scale_servers', '?')} servers; start applying the file: {float(facts.get('scale_start_s', 'nan')):.0f} s)",
            f"{sc:.3f}", sc >= 0.90, scale_cmd)
        metric = facts.get("rebuild_metric", "").split()
        if len(metric) == 4 and float(metric[3]) > float(metric[1]):
            ms = (float(metric[2]) - float(metric[0])) / (float(metric[3]) - float(metric[1])) * 1000
            how = "rebuild duration from /metrics (sum/count delta around one API write)"
        else:
            ms = float(facts["api_write_ms"])
            how = ("no rebuild duration in /metrics: wall time of one API write (POST route; the snapshot is "
                   "rebuilt before the answer, the new route then answers /authz), an upper bound")
        row(scale_targets[1], f"{note}{ms:.0f} ms: {how}", f"{ms / 200:.2f} of 200 ms", ms < 200, scale_cmd)
        rss = float(facts["scale_rss_kib"]) / MIB
        row(scale_targets[2],
            f"{note}VmRSS max {rss:.0f} MiB (loaded {float(facts['scale_rss_loaded_kib']) / MIB:.0f}, after the load "
            f"rounds {float(facts['scale_rss_after_load_kib']) / MIB:.0f}"
            f"{', after the tokens' if tokens else ''})", f"{rss / 512:.2f} of 512 MiB", rss < 512, scale_cmd)

    target = "distinct tokens through the cache leave memory flat (second half grows RSS < 10 %)"
    if tokens:
        r0, r1, r2 = (float(facts[f"flood_rss{i}_kib"]) / MIB for i in range(3))
        growth = (r2 - r1) / r1
        ok = growth < 0.10 and facts["flood_other"] == "0"
        row(target.replace("distinct", f"{tokens:,} distinct"),
            f"VmRSS {r0:.0f} → {r1:.0f} (half) → {r2:.0f} MiB (peak {float(facts['flood_hwm_kib']) / MIB:.0f}) on the "
            f"{facts['flood_server']} server; {facts['flood_ok']} accepted, {facts['flood_other']} not; "
            f"{float(facts['flood_seconds']):.0f} s", f"{growth:+.1%}", ok, scale_cmd if scale else f"TOKENS={tokens} {base_cmd}")
    else:
        row(target, "", "", False, scale_cmd, skip="run with SCALE=1 or TOKENS=N")

    print("\n| target | measured | ratio | verdict | reproduce |")
    print("|---|---|---:|---|---|")
    for target, measured, ratio, verdict, command in rows:
        print(f"| {target} | {measured} | {ratio} | **{verdict}** | `{command}` |")
    counts = {v: sum(1 for r in rows if r[3].startswith(v)) for v in ("MET", "MISSED", "SKIPPED")}
    print(f"\n{counts['MET']} MET, {counts['MISSED']} MISSED, {counts['SKIPPED']} SKIPPED. "
          "A single case alone: the wrk lines are `taskset -c 1 wrk -t1 -c32 -d10s --latency` + the case's "
          "headers and URL (see the case list at the top of bench/forward-auth.sh).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
