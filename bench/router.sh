#!/usr/bin/env bash
# Measures the Sluice router against a direct connection and against nginx, with wrk, all on
# loopback: throughput and latency at CONNECTIONS connections (default 50, 2 threads, 10s), then
# the latency one lone client sees (1 connection), which is the router's own overhead.
# The targets run in turn, ROUNDS times (default 3), and the median round is reported, because
# on a shared 2-core machine any single run is noisy.
#
#   bench/router.sh
#   DURATION=30s CONNECTIONS=100 ROUNDS=5 bench/router.sh
#
# "bare" is a plain httputil.ReverseProxy (bench/routerbench -bare): the floor of a Go proxy, so
# sluice minus bare is what the router's own work costs. "fast" is the router served by its
# HTTP/1.1 fast path, Router.ServeFast (bench/routerbench -fast), which bypasses net/http.
#
# "CPU µs/req" is the CPU time the target's own processes used per request during its run (from
# /proc; nginx's master and workers, the upstream alone for direct): a figure less bent by the
# other processes sharing the cores than requests/s.
#
# Ports BASE_PORT+1 (upstream), +2 (sluice), +3 (nginx), +4 (bare), +5 (fast); BASE_PORT defaults
# to 39080.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
BASE_PORT=${BASE_PORT:-39080}
UP_PORT=$((BASE_PORT + 1)) SLUICE_PORT=$((BASE_PORT + 2)) NGINX_PORT=$((BASE_PORT + 3)) BARE_PORT=$((BASE_PORT + 4)) FAST_PORT=$((BASE_PORT + 5))

cd "$(dirname "$0")/.."

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if ! command -v wrk >/dev/null || [ ! -x "$NGINX" ]; then
	apt-get update
	apt-get install -y wrk nginx
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/upstream" ./bench/upstream
go build -o "$work/routerbench" ./bench/routerbench

cat >"$work/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $work/body;
	proxy_temp_path $work/proxy;
	fastcgi_temp_path $work/fastcgi;
	uwsgi_temp_path $work/uwsgi;
	scgi_temp_path $work/scgi;
	upstream version { server 127.0.0.1:$UP_PORT; keepalive 256; }
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / {
			proxy_pass http://version;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$remote_addr;
			proxy_set_header X-Forwarded-Proto \$scheme;
		}
	}
}
CONF

"$work/upstream" -addr "127.0.0.1:$UP_PORT" & pids+=($!); direct_pid=$!
"$work/routerbench" -addr "127.0.0.1:$SLUICE_PORT" -upstream "http://127.0.0.1:$UP_PORT" & pids+=($!); sluice_pid=$!
"$work/routerbench" -bare -addr "127.0.0.1:$BARE_PORT" -upstream "http://127.0.0.1:$UP_PORT" & pids+=($!); bare_pid=$!
"$work/routerbench" -fast -addr "127.0.0.1:$FAST_PORT" -upstream "http://127.0.0.1:$UP_PORT" & pids+=($!); fast_pid=$!
"$NGINX" -c "$work/nginx.conf" -e "$work/nginx-error.log" & pids+=($!); nginx_pid=$!

for port in "$UP_PORT" "$SLUICE_PORT" "$NGINX_PORT" "$BARE_PORT" "$FAST_PORT"; do
	for _ in $(seq 50); do
		curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
		sleep 0.1
	done
	curl -fsS -o /dev/null "http://127.0.0.1:$port/" || { echo "nothing answers on port $port" >&2; exit 1; }
done

# cpu NAME: the CPU time, in clock ticks, the target's processes have used so far (nginx: its
# master and workers; direct: the upstream itself).
cpu() {
	local pid_var="${1}_pid" total=0 p
	for p in ${!pid_var} $(pgrep -P "${!pid_var}" || true); do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$total"
}

# run NAME PORT THREADS CONNECTIONS: one wrk run; appends "NAME req/s p50 p99 errors cpu" to
# results, cpu being the target's CPU time per request in µs (read from /proc, as wrk runs).
run() {
	local before after
	before=$(cpu "$1")
	wrk -t"$3" -c"$4" -d"$DURATION" --latency "http://127.0.0.1:$2/" >"$work/out.txt"
	after=$(cpu "$1")
	awk -v name="$1" -v ticks="$((after - before))" -v hz="$(getconf CLK_TCK)" '
		function us(v) { # wrk prints 812.00us, 1.23ms or 1.02s
			if (v ~ /us$/) return v + 0
			if (v ~ /ms$/) return v * 1000
			return v * 1000000
		}
		/requests in/ { n = $1 }
		/Requests\/sec/ { rps = $2 }
		$1 == "50%" { p50 = us($2) }
		$1 == "99%" { p99 = us($2) }
		/Non-2xx/ { errors += $NF }
		/Socket errors/ { errors += 1 }
		END { printf "%s %d %d %d %d %.1f\n", name, rps, p50, p99, errors, n ? ticks / hz * 1e6 / n : 0 }' "$work/out.txt" >>"$work/results.$4"
}

# report CONNECTIONS: the median round of each target (by requests/s), as a table.
report() {
	printf "%-8s %12s %10s %10s %8s %12s   %s\n" target "requests/s" "p50 (µs)" "p99 (µs)" "errors" "CPU µs/req" "rounds (requests/s)"
	for name in direct sluice bare fast nginx; do
		awk -v name="$name" '$1 == name' "$work/results.$1" | sort -k2,2n | awk -v rounds="$ROUNDS" '
			{ row[NR] = $0; all = all " " $2 }
			END { split(row[int((NR + 1) / 2)], m, " ")
				printf "%-8s %12d %10d %10d %8d %12.1f  %s\n", m[1], m[2], m[3], m[4], m[5], m[6], all }'
	done
}

echo "$(nproc) cores, $(go version | cut -d' ' -f3), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $("$NGINX" -v 2>&1 | cut -d' ' -f3)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for target in "direct $UP_PORT" "sluice $SLUICE_PORT" "bare $BARE_PORT" "fast $FAST_PORT" "nginx $NGINX_PORT"; do
	set -- $target
	wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "http://127.0.0.1:$2/" >/dev/null # warm up
done
for _ in $(seq "$ROUNDS"); do
	run direct "$UP_PORT" "$THREADS" "$CONNECTIONS"
	run sluice "$SLUICE_PORT" "$THREADS" "$CONNECTIONS"
	run bare "$BARE_PORT" "$THREADS" "$CONNECTIONS"
	run fast "$FAST_PORT" "$THREADS" "$CONNECTIONS"
	run nginx "$NGINX_PORT" "$THREADS" "$CONNECTIONS"
	run direct "$UP_PORT" 1 1
	run sluice "$SLUICE_PORT" 1 1
	run bare "$BARE_PORT" 1 1
	run fast "$FAST_PORT" 1 1
	run nginx "$NGINX_PORT" 1 1
done
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, median of $ROUNDS rounds"
report "$CONNECTIONS"
echo
echo "wrk -t1 -c1 -d$DURATION --latency (one client: the router's own overhead), median of $ROUNDS rounds"
report 1
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
