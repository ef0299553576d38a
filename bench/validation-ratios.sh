#!/usr/bin/env bash
# Runs the validation benchmark once and prints, per algorithm, the cost of full validation
# relative to the raw aws-lc-rs signature check measured in the same run, and the cache speed-up.
#
# Usage (from anywhere inside the workspace):  bash bench/validation-ratios.sh
# Extra arguments are passed to the criterion binary, e.g. `bash bench/validation-ratios.sh RS256`
# to run one group (the table then shows "n/a" for the groups not run).
#
# Exit status: non-zero only if the benchmark or this script fails. A missed target is reported
# as MISSED in the table, not as a failure (numbers are noisy on a shared machine).
set -euo pipefail

workspace="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$workspace"

# Where criterion writes its results (honours CARGO_TARGET_DIR like cargo does).
target_dir="${CARGO_TARGET_DIR:-$workspace/target}"
criterion_dir="$target_dir/criterion"

# Drop earlier estimates of exactly these benchmarks so that a group that failed to run can never
# be reported from a stale run.
for alg in RS256 PS256 ES256 EdDSA; do
    for bench in raw_verify full_validation cache_hit; do
        rm -f "$criterion_dir/$alg/$bench/new/estimates.json"
    done
done

cargo bench -p portcullis-policy --bench validation -- "$@"

python3 - "$criterion_dir" <<'PY'
import json
import os
import sys

criterion_dir = sys.argv[1]
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
RATIO_TARGET = 1.10     # full_validation / raw_verify, at most
SPEEDUP_TARGET = 20.0   # RS256 full_validation / cache_hit, at least


def mean_ns(alg, bench):
    path = os.path.join(criterion_dir, alg, bench, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return float(json.load(f)["mean"]["point_estimate"])


def fmt_ns(v):
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


rows = []
found = 0
for alg in ALGORITHMS:
    raw, full, hit = (mean_ns(alg, b) for b in ("raw_verify", "full_validation", "cache_hit"))
    found += sum(v is not None for v in (raw, full, hit))
    if raw and full:
        ratio = full / raw
        verdict = "ok" if ratio <= RATIO_TARGET else "MISSED"
        ratio_cell = f"{ratio:.3f} ({verdict})"
        overhead_cell = fmt_ns(full - raw)
    else:
        ratio_cell = overhead_cell = "n/a"
    if full and hit:
        speedup = full / hit
        speedup_cell = f"{speedup:,.0f}x"
        if alg == "RS256":
            speedup_cell += " (ok)" if speedup >= SPEEDUP_TARGET else " (MISSED)"
    else:
        speedup_cell = "n/a"
    rows.append((alg, fmt_ns(raw), fmt_ns(full), overhead_cell, ratio_cell, fmt_ns(hit), speedup_cell))

if found == 0:
    sys.exit(f"no criterion estimates found under {criterion_dir}")

print()
print(f"Mean time per call in ns (criterion mean point estimate). Targets: full/raw <= {RATIO_TARGET:.2f}; "
      f"RS256 full/cache-hit >= {SPEEDUP_TARGET:.0f}x.")
print()
print("| Algorithm | raw_verify ns | full_validation ns | full - raw ns | full / raw | cache_hit ns | full / cache_hit |")
print("|---|---:|---:|---:|---:|---:|---:|")
for row in rows:
    print("| " + " | ".join(row) + " |")
PY
