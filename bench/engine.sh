#!/bin/sh
# Measures the engine's overhead per action: `sluice run` of a route with 100 sequential no-op
# checks against the same route with one, next to a shell running `true` 100 times.
#
#   bench/engine.sh              # from anywhere; 5 runs per route, median
#   RUNS=9 bench/engine.sh
#
# Both routes build the same tiny HTTP service once (build once: later runs reuse the artifact)
# and deploy it to one environment, so what they share cancels out in (t100 - t1) / 99.
# Target: at most 10 ms per action. Exits 1 if the target is missed.
set -eu

cd "$(dirname "$0")/.."
runs=${RUNS:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-engine.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

go build -o "$work/sluice" ./cmd/sluice

repo=$work/repo
mkdir -p "$repo"
cat >"$repo/go.mod" <<'MOD'
module app

go 1.22
MOD
cat >"$repo/main.go" <<'SRC'
package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
SRC

head() {
	cat <<YAML
version: 1
name: $1
source: {repo: ., branch: main}
build:
  commands: ["go build -o dist/app ."]
  artifact: [dist/]
  env: {CGO_ENABLED: "0"}
service:
  command: [dist/app]
  health: {path: /, interval: 50ms}
environments:
  - name: dev
checks:
YAML
}
{
	head one
	printf '  - name: c1\n    run: "true"\n'
} >"$repo/one.yaml"
{
	head hundred
	i=1
	while [ "$i" -le 100 ]; do
		printf '  - name: c%d\n    run: "true"\n    run_order: %d\n' "$i" "$i"
		i=$((i + 1))
	done
} >"$repo/hundred.yaml"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -q -m bench

now() { date +%s.%N; }

# median prints the median of the numbers on stdin.
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# timeRoute prints the median wall time of `sluice run` for a route, after one warm-up run that
# builds the artifact and deploys it.
timeRoute() {
	state=$work/state-$1
	"$work/sluice" run -f "$repo/$1.yaml" --state "$state" >/dev/null 2>&1
	i=0
	while [ "$i" -lt "$runs" ]; do
		start=$(now)
		"$work/sluice" run -f "$repo/$1.yaml" --state "$state" >/dev/null 2>&1
		end=$(now)
		echo "$end - $start" | bc -l
		i=$((i + 1))
	done | median
}

t1=$(timeRoute one)
t100=$(timeRoute hundred)

sh_times=$(i=0; while [ "$i" -lt "$runs" ]; do
	start=$(now)
	sh -c 'i=0; while [ $i -lt 100 ]; do sh -c true; i=$((i + 1)); done'
	end=$(now)
	echo "$end - $start" | bc -l
	i=$((i + 1))
done | median)

per_action=$(echo "($t100 - $t1) / 99 * 1000" | bc -l)
per_sh=$(echo "$sh_times / 100 * 1000" | bc -l)

printf '%-40s %10s\n' "measure (median of $runs)" "value"
printf '%-40s %9.3fs\n' "sluice run, 1 no-op check" "$t1"
printf '%-40s %9.3fs\n' "sluice run, 100 sequential no-op checks" "$t100"
printf '%-40s %8.2fms\n' "engine cost per action" "$per_action"
printf '%-40s %8.2fms\n' "sh -c true, per run (baseline)" "$per_sh"
printf '%-40s %8.2fms\n' "engine overhead over the process" "$(echo "$per_action - $per_sh" | bc -l)"

if [ "$(echo "$per_action > 10" | bc -l)" = 1 ]; then
	echo "target missed: more than 10 ms per action" >&2
	exit 1
fi
