"""Prints bench/forward-auth.sh's table: medians over rounds, ratios to the same round's baseline.

Usage: forward_auth_table.py RESULTS CONNECTIONS DURATION ROUNDS CACHE_HITS VERIFIED
RESULTS has one line per measurement: `round case requests_per_second p50 p99` (wrk units).
"""

import statistics
import sys

BASELINE_OF = {"public": "baseline", "cache-hit": "baseline", "cache-off": "baseline-off"}
# DESIGN.md §5: forward auth on cache hits ≥ 70 % of the no-auth throughput, cache off ≥ 33 %,
# p99 under 5 ms at that load.
TARGETS = {"cache-hit": 0.70, "cache-off": 0.33}
ORDER = ("baseline", "public", "cache-hit", "baseline-off", "cache-off")


def milliseconds(text: str) -> float:
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def main() -> int:
    results, connections, duration, rounds, hits, verified = sys.argv[1:7]
    by_case: dict[str, list[tuple[int, float, float, float]]] = {}
    with open(results, encoding="utf-8") as lines:
        for line in lines:
            rnd, case, rps, p50, p99 = line.split()
            by_case.setdefault(case, []).append(
                (int(rnd), float(rps), milliseconds(p50), milliseconds(p99))
            )
    print(
        f"\nwrk -t1 -c{connections} -d{duration}, {rounds} interleaved rounds; "
        "servers and wrk pinned to separate cores"
    )
    print(f"cache-on server answered {hits} cache hits; cache-off server verified {verified} tokens\n")
    print("| case | req/s | p50 | p99 | ratio to no-auth | per round | target |")
    print("|---|---:|---:|---:|---:|---|---|")
    missed = False
    for case in ORDER:
        rows = sorted(by_case[case])
        rps = statistics.median(r[1] for r in rows)
        p50 = statistics.median(r[2] for r in rows)
        p99 = statistics.median(r[3] for r in rows)
        base = BASELINE_OF.get(case)
        if base:
            ratios = [r[1] / b[1] for r, b in zip(rows, sorted(by_case[base]))]
            ratio = statistics.median(ratios)
            per_round = " ".join(f"{x:.2f}" for x in ratios)
        else:
            ratio, per_round = 1.0, ""
        verdict = ""
        if case in TARGETS:
            ok = ratio >= TARGETS[case] and p99 < 5.0
            missed |= not ok
            verdict = f"≥ {TARGETS[case]:.2f} and p99 < 5 ms: {'met' if ok else 'MISSED'}"
        print(
            f"| {case} | {rps:,.0f} | {p50:.3f} ms | {p99:.3f} ms | {ratio:.3f} | {per_round} | {verdict} |"
        )
    if missed:
        print("\nA target was MISSED (on a machine with other load, rerun when it is quiet).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
