#!/usr/bin/env bash
# Measures the bundled serverless route against the simulated AWS (`sluice demo --aws`, the fake
# in internal/fakeaws with its execution mode: the function's real code, metrics from traffic,
# alarms evaluated every 0.5 s over 10 s periods).
#
#   bench/aws.sh
#   RUNS=5 bench/aws.sh
#
# Each of RUNS rounds runs `sluice demo --aws --approve --json` (first release: both stacks
# created, prod takes the first version at once; second release: prod's alias moves 10% every
# 2 s, ten steps, under load) and `sluice demo --aws --approve --break-prod --json` (the broken
# release is rolled back by an alarm). It prints, per round:
#   wall             the whole demo command, from start to exit
#   first/second     each execution's duration (build, checks, dev + tests, prod) and its AWS
#                    calls per service, as the fake recorded them
#   broken           the broken execution's duration and calls, the alarm that fired, its value,
#                    and the reaction: breached_at → restored_at of the rollback (the alarm's
#                    state change, as CloudWatch stamps it, to the alias back on the old version)
# Linux only (the fake runs the function as a Linux executable).
set -euo pipefail

RUNS=${RUNS:-3}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p bin
CGO_ENABLED=0 go build -o bin/sluice ./cmd/sluice
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)  $(go version | cut -d' ' -f3)"

report() { # file label index
	jq -r --arg what "$2" --argjson i "$3" '
		.runs[$i] as $r | .aws.calls_per_run[$i] as $c |
		"  \($what): \($r.status) in \($r.duration_ms) ms; AWS calls \([$c[]] | add): " +
		([$c | to_entries[] | "\(.key) \(.value)"] | join(", "))' "$1"
}

for round in $(seq 1 "$RUNS"); do
	echo "round $round"
	start=$(date +%s%N)
	(cd "$work" && "$root/bin/sluice" demo --aws --approve --json >"$work/good.json" 2>"$work/good.log")
	echo "  wall (demo --aws): $(( ($(date +%s%N) - start) / 1000000 )) ms"
	report "$work/good.json" "first release (stacks created)" 0
	report "$work/good.json" "second release (linear 10%/2s)" 1
	jq -r '"  prod alias steps: " + (.aws.prod_alias_per_run[1].steps | join(" → "))' "$work/good.json"

	start=$(date +%s%N)
	(cd "$work" && "$root/bin/sluice" demo --aws --approve --break-prod --json >"$work/broken.json" 2>"$work/broken.log")
	echo "  wall (demo --aws --break-prod): $(( ($(date +%s%N) - start) / 1000000 )) ms"
	report "$work/broken.json" "broken release" 1
	python3 - "$work/broken.json" <<'PY'
import json, sys
from datetime import datetime
doc = json.load(open(sys.argv[1]))
def t(s):
    # RFC 3339 with nanoseconds: keep microseconds for Python.
    head, _, frac = s.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "." + (frac + "000000")[:6] + "+00:00")
for env in doc["runs"][1]["environments"]:
    rb = (env.get("last_deployment") or {}).get("rollback")
    if env["name"] == "prod" and rb:
        ms = (t(rb["restored_at"]) - t(rb["breached_at"])).total_seconds() * 1000
        print(f"  rollback: alarm {rb.get('alarm')} saw {rb.get('value')} (threshold {rb.get('threshold', 0)}); "
              f"breach → alias restored {ms:.1f} ms; alias steps {' → '.join(doc['aws']['prod_alias_per_run'][1]['steps'])}")
PY
done
