#!/bin/sh
# Measures how fast Sluice stores an artifact next to sha256sum hashing the same bytes.
#
#   bench/artifact.sh            # 200 MB, from the repository root
#   SIZE_MB=500 bench/artifact.sh
#
# Target: Put (pack + sha256 + AES-256-GCM, written and fsynced) at least half as fast as
# sha256sum over the same bytes. Exits 1 if the target is missed.
set -eu

cd "$(dirname "$0")/.."
size_mb=${SIZE_MB:-200}
files=4
data=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-artifact.XXXXXX")
trap 'rm -rf "$data"' EXIT INT TERM

part=$((size_mb * 1000000 / files))
i=0
while [ "$i" -lt "$files" ]; do
	head -c "$part" /dev/urandom >"$data/part$i"
	i=$((i + 1))
done
bytes=$((part * files))
cat "$data"/part* >/dev/null # both sides read from the page cache

now() { date +%s.%N; }

# Best of three: the fairest number for the baseline on a shared machine.
best=""
for run in 1 2 3; do
	start=$(now)
	cat "$data"/part* | sha256sum >/dev/null
	end=$(now)
	secs=$(echo "$end - $start" | bc -l)
	if [ -z "$best" ] || [ "$(echo "$secs < $best" | bc -l)" = 1 ]; then best=$secs; fi
done
sha_rate=$(echo "$bytes / $best / 1000000" | bc -l)

out=$(SLUICE_BENCH_DATA="$data" go test -run '^$' \
	-bench '^(BenchmarkPut200MB|BenchmarkSeal200MB|BenchmarkUnpack|BenchmarkVerify)$' \
	-benchtime 5x -count 1 ./artifact)
rate() { echo "$out" | awk -v name="$1" '$1 ~ "^"name"(-[0-9]+)?$" { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") print $i }'; }
put=$(rate BenchmarkPut200MB)
seal=$(rate BenchmarkSeal200MB)
unpack=$(rate BenchmarkUnpack)
verify=$(rate BenchmarkVerify)

printf '%s MB in %d files, %s cores, %s\n' "$((bytes / 1000000))" "$files" "$(nproc)" "$(go version | cut -d' ' -f3)"
printf '%-48s %9.1f MB/s\n' "sha256sum (coreutils, best of 3)" "$sha_rate"
printf '%-48s %9.1f MB/s\n' "Put: pack+hash+encrypt, write, fsync" "$put"
printf '%-48s %9.1f MB/s\n' "Seal: pack+hash+encrypt to io.Discard" "$seal"
printf '%-48s %9.1f MB/s\n' "Verify: decrypt+authenticate+hash" "$verify"
printf '%-48s %9.1f MB/s\n' "Unpack: verify, write files, fsync, rename" "$unpack"
ratio=$(echo "$put / $sha_rate" | bc -l)
printf 'Put / sha256sum = %.2f (target >= 0.50)\n' "$ratio"
[ "$(echo "$ratio >= 0.5" | bc -l)" = 1 ]
