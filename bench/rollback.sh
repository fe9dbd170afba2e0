#!/usr/bin/env bash
# Measures how fast a broken prod deployment is rolled back and what clients see meanwhile, then
# (ZD_RUNS > 0) runs ZD_RUNS good deployments in a row under load and counts what failed.
#
#   bench/rollback.sh
#   WINDOW=2s CLIENTS=8 ZD_RUNS=20 bench/rollback.sh
#
# It builds bin/sluice and bin/load, copies examples/hello-api into a temporary git repository
# (checks dropped, prod linear 50% every 1s, prod alarm window $WINDOW), starts `sluice up
# --no-watch` on a temporary state directory so environments keep serving between runs, runs a
# good revision with --approve, starts bin/load against prod, commits the breakprod change and
# runs again. It prints:
#   reaction        breached_at → restored_at of the rollback, from `sluice run --json`
#   client window   first to last failed request seen by the load clients
#   failures        every 5xx or transport error the clients saw
set -euo pipefail

WINDOW=${WINDOW:-2s}
CLIENTS=${CLIENTS:-8}
ZD_RUNS=${ZD_RUNS:-20}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p bin
CGO_ENABLED=0 go build -o bin/sluice ./cmd/sluice
CGO_ENABLED=0 go build -o bin/load ./bench/load

work=$(mktemp -d)
repo=$work/hello-api
state=$work/state
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$repo"
(cd examples/hello-api && tar --exclude=dist --exclude=.sluice -cf - .) | tar -xf - -C "$repo"
python3 - "$repo/sluice.yaml" "$WINDOW" <<'PY'
import sys
path, window = sys.argv[1], sys.argv[2]
s = open(path).read()
for old, new in [
    ("checks:\n  - name: unit\n    run: go vet ./... && go test . ./cmd/...\n", ""),
    ("strategy: {type: linear, percent: 20, interval: 2s}", "strategy: {type: linear, percent: 50, interval: 1s}"),
    ("          window: 2s\n", "          window: %s\n" % window),
]:
    assert old in s, old
    s = s.replace(old, new, 1)
open(path, "w").write(s)
PY
git() { command git -C "$repo" -c user.name=bench -c user.email=bench@example.com -c commit.gpgsign=false "$@"; }
git init -q -b main
git add -A && git commit -qm "the example"

sl() { (cd "$repo" && exec "$root/bin/sluice" "$@" --state "$state"); }
# exec, so that $! is sluice itself and cleanup stops it rather than a wrapping shell. The API
# listens on a free port: a fixed one may be taken by another engine on this machine.
(cd "$repo" && exec "$root/bin/sluice" up --no-watch --listen 127.0.0.1:0 --state "$state") >"$work/up.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	[ -s "$state/api.json" ] && break
	sleep 0.1
done
if [ ! -s "$state/api.json" ]; then
	echo "sluice up did not start:" >&2
	cat "$work/up.log" >&2
	exit 1
fi

echo "good run..."
sl run --approve --json >"$work/good.json" 2>"$work/good.log" || { cat "$work/good.log"; exit 1; }
# Every run must go through `sluice up`: a run with its own engine stops the environments when
# it ends, and the load would measure that instead of the rollback.
grep -q "handing the execution to the engine" "$work/good.log" || { echo "the run did not use sluice up" >&2; exit 1; }
endpoint=$(jq -r '.environments[] | select(.name=="prod") | .endpoint' "$work/good.json")
case $endpoint in http://*) ;; *) endpoint=http://$endpoint ;; esac
echo "prod serves at $endpoint"

"$root/bin/load" -url "$endpoint/" -c "$CLIENTS" >"$work/load-break.json" &
loadpid=$!
pids+=($loadpid)
sleep 1
sed -i 's/deliberatelyBreakProd = false/deliberatelyBreakProd = true/' "$repo/breakprod.go"
git commit -qam "break prod"
echo "broken run..."
status=0
sl run --approve --json >"$work/broken.json" 2>"$work/broken.log" || status=$?
sleep 1
kill -TERM "$loadpid"
wait "$loadpid" || true

echo
echo "== rollback of a broken prod deployment (alarm window $WINDOW, $CLIENTS clients)"
echo "run exit code: $status, status: $(jq -r .status "$work/broken.json")"
jq -r '.environments[] | select(.name=="prod") | .last_deployment.rollback |
  "cause: \(.cause) (\(.alarm), \(.metric) \(.value) > \(.threshold))\nbreached_at: \(.breached_at)\nrestored_at: \(.restored_at)"' "$work/broken.json"
python3 - "$work/broken.json" "$work/load-break.json" <<'PY'
import json, sys
from datetime import datetime
def ts(s):
    s = s.rstrip("Z")
    head, _, frac = s.partition(".")
    return datetime.fromisoformat(head).timestamp() + (float("0." + frac) if frac else 0)
run = json.load(open(sys.argv[1]))
load = json.load(open(sys.argv[2]))
rb = [e for e in run["environments"] if e["name"] == "prod"][0]["last_deployment"]["rollback"]
print("reaction (breach -> all traffic restored): %.3f ms" % ((ts(rb["restored_at"]) - ts(rb["breached_at"])) * 1000))
print("client failure window (first -> last failed request): %.1f ms" % load["failure_window_ms"])
print("requests: %d, failures: %d (transport errors %d), by status: %s" % (load["requests"], load["failures"], load["transport_errors"], load["by_status"]))
PY

if [ "$ZD_RUNS" -gt 0 ]; then
	# Put prod back on a good revision first, then deploy ZD_RUNS good changes under load.
	sed -i 's/deliberatelyBreakProd = true/deliberatelyBreakProd = false/' "$repo/breakprod.go"
	git commit -qam "fix prod"
	sl run --approve --json >"$work/fix.json" 2>"$work/fix.log" || { cat "$work/fix.log"; exit 1; }
	"$root/bin/load" -url "$endpoint/" -c "$CLIENTS" >"$work/load-zd.json" &
	loadpid=$!
	pids+=($loadpid)
	ok=0
	start=$(date +%s)
	for i in $(seq "$ZD_RUNS"); do
		sed -i "s/env: {APP_ENV: prod[^}]*}/env: {APP_ENV: prod, BENCH_RUN: \"$i\"}/" "$repo/sluice.yaml"
		git commit -qam "deployment $i"
		if sl run --approve --json >"$work/zd-$i.json" 2>"$work/zd-$i.log"; then ok=$((ok + 1)); else echo "deployment $i: $(jq -r .status "$work/zd-$i.json")"; fi
	done
	took=$(($(date +%s) - start))
	kill -TERM "$loadpid"
	wait "$loadpid" || true
	echo
	echo "== $ZD_RUNS good deployments in a row under load ($CLIENTS clients, ${took}s)"
	echo "succeeded: $ok/$ZD_RUNS"
	jq -r '"requests: \(.requests), failures: \(.failures) (transport errors \(.transport_errors), 502s \(.by_status["502"] // 0)), by status: \(.by_status)"' "$work/load-zd.json"
fi
