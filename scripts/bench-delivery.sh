#!/usr/bin/env bash
# Reproduces the delivery figures of issue 9 (durable delivery on River):
#
#   accept     p50/p99 of creating an approval request with its jobs, of the
#              same insert with no queue, and of Enqueue; memory, SQLite and
#              PostgreSQL in one run        (notify BenchmarkDurableAccept)
#   deliver    deliveries/s to a fake answering at once; 1 and 2 Dispatchers
#              (replicas) on one PostgreSQL (notify BenchmarkDurableDeliver)
#   fanout     one event to 1,000 channels, fake answering after 5 ms, wall
#              time over the ideal (x_ideal; target <= 1.3 on PostgreSQL)
#                                           (notify BenchmarkDurableFanOut1000)
#   tuning     the same on PostgreSQL with River's fetch settings, workers and
#              the pool varied        (store/postgres BenchmarkFanOut1000Tuning)
#   pending    heap and RSS with 10,000 pending jobs
#                                           (notify BenchmarkDurablePending10k)
#   river      River's own throughput on this machine, trivial jobs, same
#              drivers          (internal/queuetest BenchmarkRiverBare), and,
#              with RIVER_BIN set, River's CLI `river bench`
#   ratio      our deliveries/s over River's jobs/s
#
# Usage:
#   CHATNOTIFY_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' \
#     scripts/bench-delivery.sh [section ...]
#
#   sections: accept deliver fanout tuning pending river ratio (default: all)
#   COUNT=6        repetitions of each benchmark, for benchstat (default 6)
#   OUT=dir        where the raw results and tables go
#                  (default $TMPDIR/chatnotify-bench-<date>-<time>)
#   RIVER_BIN=path a `river` CLI binary (github.com/riverqueue/river/cmd/river,
#                  built from River's repository: it is not on the module
#                  proxy); runs `river bench` on a throw-away database too
#   BENCHSTAT=cmd  benchstat command (default: go run
#                  golang.org/x/perf/cmd/benchstat@latest)
#
# The PostgreSQL user must be allowed to CREATE DATABASE: each benchmark
# gets a database of its own, dropped afterwards. Without
# CHATNOTIFY_TEST_POSTGRES the PostgreSQL sub-benchmarks are skipped.
# Run it on a quiet machine: the figures are wall-clock throughput.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNT=${COUNT:-6}
OUT=${OUT:-${TMPDIR:-/tmp}/chatnotify-bench-$(date +%Y%m%d-%H%M%S)}
BENCHSTAT=${BENCHSTAT:-go run golang.org/x/perf/cmd/benchstat@latest}
sections=("$@")
if [ ${#sections[@]} -eq 0 ]; then
	sections=(accept deliver fanout tuning pending river ratio)
fi
mkdir -p "$OUT"

if [ -z "${CHATNOTIFY_TEST_POSTGRES:-}" ]; then
	echo "note: CHATNOTIFY_TEST_POSTGRES is not set: the PostgreSQL figures are skipped" >&2
fi

{
	echo "date: $(date -u +%FT%TZ)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
	go version
	echo "cpus: $(nproc)"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)"
	if [ -n "${CHATNOTIFY_TEST_POSTGRES:-}" ] && command -v psql >/dev/null; then
		psql "$CHATNOTIFY_TEST_POSTGRES" -Atc "select version()" 2>/dev/null | sed 's/^/postgres: /' || true
		psql "$CHATNOTIFY_TEST_POSTGRES" -Atc "select 'fsync=' || current_setting('fsync') || ' synchronous_commit=' || current_setting('synchronous_commit')" 2>/dev/null | sed 's/^/postgres: /' || true
	fi
} | tee "$OUT/env.txt"

failed=()

# bench NAME PKG REGEXP BENCHTIME [COUNT]: runs go test's benchmarks and
# keeps their output in $OUT/NAME.txt; a failure is reported at the end.
bench() {
	local name=$1 pkg=$2 re=$3 benchtime=$4 count=${5:-$COUNT}
	echo "== $name: go test $pkg -bench '$re' -benchtime $benchtime -count $count -benchmem"
	if ! go test "$pkg" -run '^$' -bench "$re" -benchtime "$benchtime" -count "$count" -benchmem -timeout 60m | tee "$OUT/$name.txt"; then
		failed+=("$name")
	fi
}

# stat NAME [benchstat flags]: a benchstat table of $OUT/NAME.txt.
stat() {
	local name=$1
	shift
	echo "== $name (benchstat $*)"
	$BENCHSTAT "$@" "$OUT/$name.txt" | tee "$OUT/$name.stat.txt" || failed+=("benchstat $name")
}

# mean NAME BENCH UNIT: the mean of metric UNIT of benchmark BENCH (its
# full name, without the -N suffix) in $OUT/NAME.txt.
mean() {
	awk -v b="$2" -v u="$3" '
		{ n = $1; sub(/-[0-9]+$/, "", n) }
		n == b { for (i = 3; i < NF; i++) if ($(i+1) == u) { s += $i; c++ } }
		END { if (c) printf "%.1f", s / c; else printf "n/a" }' "$OUT/$1.txt"
}

for s in "${sections[@]}"; do
	case $s in
	accept)
		# A fixed count, the same for every store: the in-memory Enqueue
		# takes about a microsecond, and a time-based run would fill its
		# queue (ErrQueueFull) long before a second is up.
		bench accept ./notify 'BenchmarkDurableAccept$' 3000x
		stat accept -col /store -row /op
		;;
	deliver)
		bench deliver ./notify 'BenchmarkDurableDeliver$' 5x
		stat deliver
		;;
	fanout)
		bench fanout ./notify 'BenchmarkDurableFanOut1000$' 10x
		stat fanout -col /store -row /event
		;;
	tuning)
		bench tuning ./store/postgres 'BenchmarkFanOut1000Tuning$' 10x
		stat tuning
		;;
	pending)
		# One run each: 10,000 requests, then a GC and a reading.
		bench pending ./notify 'BenchmarkDurablePending10k$' 1x 1
		;;
	river)
		bench river ./internal/queuetest 'BenchmarkRiverBare$' 3x
		stat river -col /mode
		if [ -n "${RIVER_BIN:-}" ] && [ -n "${CHATNOTIFY_TEST_POSTGRES:-}" ]; then
			db="river_bench_$$"
			psql "$CHATNOTIFY_TEST_POSTGRES" -qc "CREATE DATABASE $db"
			url=$(printf '%s' "$CHATNOTIFY_TEST_POSTGRES" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$db#")
			trap 'psql "$CHATNOTIFY_TEST_POSTGRES" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true' EXIT
			{
				"$RIVER_BIN" migrate-up --database-url "$url" >/dev/null
				echo "== river bench -n 50000"
				"$RIVER_BIN" bench --database-url "$url" -n 50000
				echo "== river bench --duration 20s"
				"$RIVER_BIN" bench --database-url "$url" --duration 20s
			} 2>&1 | tee "$OUT/river-cli.txt"
		fi
		;;
	ratio)
		# Our deliveries/s over River's jobs/s, same driver and settings
		# (100 workers, 20 ms cooldown, 50 ms poll; work-down of trivial
		# jobs): how much of River's capacity one delivery takes.
		if [ -f "$OUT/deliver.txt" ] && [ -f "$OUT/river.txt" ]; then
			{
				for pair in "postgres databasesql" "sqlite sqlite"; do
					set -- $pair
					for ev in approval drift; do
						ours=$(mean deliver "BenchmarkDurableDeliver/store=$1/replicas=1/event=$ev" deliveries/s)
						theirs=$(mean river "BenchmarkRiverBare/driver=$2/config=chatnotify/mode=workdown" jobs/s)
						best=$(mean river "BenchmarkRiverBare/driver=$2/config=riverbench/mode=workdown" jobs/s)
						awk -v s="$1" -v e="$ev" -v o="$ours" -v t="$theirs" -v b="$best" 'BEGIN {
							if (o == "n/a" || t == "n/a") { printf "%s %s: n/a\n", s, e; exit }
							printf "%s, %s: %s deliveries/s; River with our settings %s jobs/s (%.3f), River bench settings %s jobs/s (%.3f)\n", s, e, o, t, o / t, b, (b == "n/a" ? 0 : o / b) }'
					done
				done
			} | tee "$OUT/ratio.txt"
		else
			echo "ratio: needs the deliver and river sections' results in $OUT" >&2
		fi
		;;
	*)
		echo "unknown section $s (accept deliver fanout tuning pending river ratio)" >&2
		exit 2
		;;
	esac
done
echo "== results in $OUT"
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}" >&2
	exit 1
fi
