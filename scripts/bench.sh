#!/usr/bin/env bash
# Ingest of the real binary against two baselines measured in the same run:
# a no-op net/http handler (the HTTP exchange and the load generator) and
# the floor (benchhelper floor: each body appended unchanged to the
# gateway's stream, answered after the acknowledgement, nothing else: what
# the durability rule costs), and the batched floor (benchhelper
# floor-fast: the same, with the deliveries waiting at a moment appended
# as one JetStream batch under one acknowledgement). For each of RUNS
# interleaved runs:
#   - wrk against the four: request rates, and the CPU time per request
#     of every process of the target (the gateway, and nats-server when
#     external), from /proc;
#   - the floors and the gateway open loop at 5 000 and 1 000 deliveries/s
#     (benchhelper paced): p50, p99, p99.9.
# It prints the medians over the runs, and the gateway's peak RSS, as
# `name value` lines, which `make bench-ingest` writes into BENCHMARKS.md
# (scripts/benchreport). See
# BENCHMARKS.md for the goals.
#
# It builds the binary into a temporary directory, starts `hookline` with
# config/dev.yaml, embedded NATS in that directory and its listeners on
# 127.0.0.1 port 0, and the no-op and floor handlers on 127.0.0.1 port 0;
# it sends traffic to those loopback addresses only, for a bounded time,
# and stops the processes and removes the directory on exit.
#
# Needs wrk (Debian: apt-get install -y wrk) and Go.
#
# Settings (environment):
#   DURATION  seconds per target and phase, 1..60 (default 10)
#   CONNS     wrk connections (default 64)
#   THREADS   wrk threads (default 2)
#   BODIES    distinct pre-signed deliveries per run (default 300000); every request
#             carries a new webhook_id until they run out, then they repeat
#             and the repeats take the cheaper duplicate path (reported).
#   RUNS      interleaved runs whose medians are printed (default 3)
#   NATS      embedded (default) or external: a nats-server process of its
#             own (built from the nats-server module), which the gateway
#             and the floor reach over loopback TCP; its CPU counts
#   PROFILE   a file: write a 10 s CPU profile of the gateway taken during
#             its 5 000/s phase of the first run (needs --debug-pprof,
#             which the script passes)
#   SOAK      seconds, 0..600 (default 0: off). Instead of the comparison,
#             drive the gateway alone at RATE deliveries/s (default 10000),
#             all distinct, open loop, for SOAK seconds; print the latency
#             percentiles (whole run and last third: the steady state once
#             JetStream's duplicate window is full) and the gateway's peak
#             RSS. The soak signs SOAK x RATE deliveries first (about 370 MB
#             at 110 s x 10000).
#   GW_FLAGS  extra gateway flags, e.g. "--nats-duplicate-window 2m"
#   GW_ENV    extra environment of the gateway alone, e.g. "GOGC=200" or
#             "GOGC=off GOMEMLIMIT=1GiB" (the baselines keep the defaults)
#   BATCH     the batched floor's kind of JetStream batch: fast (default) or
#             atomic
set -euo pipefail

DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
NATS=${NATS:-embedded}
PROFILE=${PROFILE:-}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
BODIES=${BODIES:-300000}
SOAK=${SOAK:-0}
RATE=${RATE:-10000}
GW_FLAGS=${GW_FLAGS:-}
GW_ENV=${GW_ENV:-}
BATCH=${BATCH:-fast}
if ! [[ $SOAK =~ ^[0-9]+$ ]] || ((SOAK > 600)); then
	echo "bench.sh: SOAK must be 0..600 seconds" >&2
	exit 2
fi
if ! [[ $DURATION =~ ^[0-9]+$ ]] || ((DURATION < 1 || DURATION > 60)); then
	echo "bench.sh: DURATION must be 1..60 seconds" >&2
	exit 2
fi
if [[ $BATCH != fast && $BATCH != atomic ]]; then
	echo "bench.sh: BATCH must be fast or atomic" >&2
	exit 2
fi
if [[ $NATS != embedded && $NATS != external ]]; then
	echo "bench.sh: NATS must be embedded or external" >&2
	exit 2
fi
for v in CONNS THREADS BODIES RATE RUNS; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "bench.sh: $v must be a positive integer" >&2
		exit 2
	fi
done
if ! command -v wrk >/dev/null; then
	echo "bench.sh: wrk not found (Debian: apt-get install -y wrk)" >&2
	exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

truv_secret=dev-truv-access-secret # the documented development secret

# The helper (scripts/benchhelper) signs the deliveries, serves the no-op
# and floor handlers and drives the fixed-rate phase.
(cd "$root" && go build -o "$tmp/bench-helper" ./scripts/benchhelper)
(cd "$root" && go build -o "$tmp/hookline" ./cmd/hookline)
if [[ $NATS == external ]]; then
	(cd "$root" && go build -o "$tmp/nats-server" github.com/nats-io/nats-server/v2)
fi

# wrk script: each thread takes every THREADS-th line, so no two threads
# send the same delivery.
cat >"$tmp/post.lua" <<EOF
local threads = 0
function setup(thread)
	thread:set("tid", threads)
	threads = threads + 1
end
function init(args)
	reqs = {}
	local i = 0
	for line in io.lines(args[1]) do
		if i % $THREADS == tid then
			local sig, body = line:match("^(%S+) (.*)$")
			reqs[#reqs + 1] = wrk.format("POST", "/webhooks/truv",
				{["Content-Type"] = "application/json", ["X-Webhook-Sign"] = sig}, body)
		end
		i = i + 1
	end
	n = 0
end
function request()
	n = n + 1
	return reqs[(n - 1) % #reqs + 1]
end
function done(summary, latency, requests)
	if summary.requests > $BODIES then
		io.write(string.format("note: %d requests for %d distinct deliveries: the rest were duplicates\n",
			summary.requests, $BODIES))
	end
end
EOF

# wait_addr FILE PATTERN: wait up to 30s for a line matching PATTERN in FILE
# and print the host:port it names.
wait_addr() {
	for _ in $(seq 300); do
		if addr=$(grep -m1 -oE "$2" "$1" 2>/dev/null); then
			echo "${addr##*=}"
			return 0
		fi
		sleep 0.1
	done
	echo "bench.sh: no address in $1:" >&2
	cat "$1" >&2
	return 1
}

# nats_server NAME: start a nats-server of its own (NATS=external); its
# client URL is then in $nats_url and its pid in $nats_pid.
nats_server() {
	cat >"$tmp/$1.conf" <<CONF
listen: 127.0.0.1:-1
max_payload: 4MB
jetstream { store_dir: "$tmp/$1-store" }
CONF
	"$tmp/nats-server" -c "$tmp/$1.conf" >"$tmp/$1.log" 2>&1 &
	nats_pid=$!
	pids+=("$nats_pid")
	local addr
	addr=$(wait_addr "$tmp/$1.log" 'client connections on [0-9.]+:[0-9]+' | awk '{print $NF}')
	for _ in $(seq 100); do
		grep -q "Server is ready" "$tmp/$1.log" 2>/dev/null && break
		sleep 0.1
	done
	nats_url="nats://$addr"
}

# cpu_ticks PID...: user + system CPU time of the processes, in clock ticks.
cpu_ticks() {
	local total=0 p t
	for p in "$@"; do
		t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")
		total=$((total + t))
	done
	echo "$total"
}
hz=$(getconf CLK_TCK)

gw_nats=()
floor_nats=()
batched_nats=()
gw_extra=()
floor_url=""
batched_url=""
if [[ $NATS == external ]]; then
	nats_server gw-nats
	gw_nats=("$nats_pid")
	gw_extra=(--nats-url "$nats_url")
	nats_server floor-nats
	floor_url=$nats_url
	floor_nats=("$nats_pid")
	nats_server batched-nats
	batched_url=$nats_url
	batched_nats=("$nats_pid")
fi

# GW_FLAGS and GW_ENV are split into words on purpose.
# shellcheck disable=SC2086
env $GW_ENV HOOKLINE_DEV_TRUV_SECRET=$truv_secret \
	HOOKLINE_DEV_FINICITY_SECRET=dev-finicity-partner-secret \
	HOOKLINE_DEV_SWYFT_AUTH='Bearer dev-swyft-token' \
	"$tmp/hookline" --config "$root/config/dev.yaml" --data-dir "$tmp/data" \
	--http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --debug-pprof "${gw_extra[@]}" $GW_FLAGS >"$tmp/hookline.out" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
gw_addr=$(wait_addr "$tmp/hookline.out" 'http=127\.0\.0\.1:[0-9]+')
for _ in $(seq 300); do
	curl -fsS "http://$gw_addr/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done

if ((SOAK > 0)); then
	"$tmp/bench-helper" sign soak "$((RATE * SOAK))" "$truv_secret" >"$tmp/soak.txt"
	echo "soak: $RATE req/s for ${SOAK}s, $CONNS connections, gateway flags: ${GW_FLAGS:-(none)}" >&2
	soak=$("$tmp/bench-helper" paced "$gw_addr" "$RATE" "$SOAK" "$CONNS" "$tmp/soak.txt")
	echo "gw-soak $soak"
	echo "gw-peak-rss-mb $(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$gw_pid/status")"
	exit 0
fi

"$tmp/bench-helper" noop >"$tmp/noop.out" 2>&1 &
noop_pid=$!
pids+=("$noop_pid")
noop_addr=$(wait_addr "$tmp/noop.out" '^127\.0\.0\.1:[0-9]+')
"$tmp/bench-helper" floor "$tmp/floor-data" $floor_url >"$tmp/floor.out" 2>&1 &
floor_pid=$!
pids+=("$floor_pid")
floor_addr=$(wait_addr "$tmp/floor.out" '^127\.0\.0\.1:[0-9]+')
"$tmp/bench-helper" "floor-$BATCH" "$tmp/batched-data" $batched_url >"$tmp/batched.out" 2>&1 &
batched_pid=$!
pids+=("$batched_pid")
batched_addr=$(wait_addr "$tmp/batched.out" '^127\.0\.0\.1:[0-9]+')

echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, $RUNS runs, NATS $NATS, $(nproc) cores, $(go version | cut -d' ' -f3)" >&2

# record NAME VALUE: one run's figure, for the medians.
record() { echo "$2" >>"$tmp/fig-$1"; }
# paced_field LINE FIELD: a figure of benchhelper paced's line.
paced_field() { awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' <<<"$1"; }

for run in $(seq "$RUNS"); do
	"$tmp/bench-helper" sign "wrk$run" "$BODIES" "$truv_secret" >"$tmp/bodies.txt"
	"$tmp/bench-helper" sign "warm$run" 50000 "$truv_secret" >"$tmp/warm.txt"
	for target in noop floor batched hookline; do
		case $target in
		noop) addr=$noop_addr procs=("$noop_pid") ;;
		floor) addr=$floor_addr procs=("$floor_pid" "${floor_nats[@]}") ;;
		batched) addr=$batched_addr procs=("$batched_pid" "${batched_nats[@]}") ;;
		hookline) addr=$gw_addr procs=("$gw_pid" "${gw_nats[@]}") ;;
		esac
		echo "run $run, $target ($addr):" >&2
		wrk -t"$THREADS" -c"$CONNS" -d1s -s "$tmp/post.lua" "http://$addr" "$tmp/warm.txt" >/dev/null
		before=$(cpu_ticks "${procs[@]}")
		out="$tmp/wrk-$target.txt"
		wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$tmp/post.lua" "http://$addr" "$tmp/bodies.txt" >"$out"
		after=$(cpu_ticks "${procs[@]}")
		if grep -q "Non-2xx" "$out"; then
			echo "bench.sh: $target answered errors:" >&2
			cat "$out" >&2
			exit 1
		fi
		sed 's/^/    /' "$out" >&2
		reqs=$(awk '/requests in/ {print $1}' "$out")
		record "$target-rps" "$(awk '/^Requests\/sec:/ {print $2}' "$out")"
		record "$target-cpu" "$(awk -v t=$((after - before)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.2f", t / hz / n * 1e6 }')"
	done
	sleep 2 # let the follower and the index finish the wrk backlog
	for rate in 5000 1000; do
		"$tmp/bench-helper" sign "paced$run-$rate" "$((rate * DURATION))" "$truv_secret" >"$tmp/paced.txt"
		for target in floor batched hookline; do
			case $target in
			floor) addr=$floor_addr ;;
			batched) addr=$batched_addr ;;
			hookline) addr=$gw_addr ;;
			esac
			prof_pid=""
			if [[ $target == hookline && $rate == 5000 && $run == 1 && -n $PROFILE ]]; then
				curl -fsS "http://$gw_addr/debug/pprof/profile?seconds=$((DURATION < 10 ? DURATION : 10))" -o "$PROFILE" &
				prof_pid=$!
			fi
			line=$("$tmp/bench-helper" paced "$addr" "$rate" "$DURATION" "$CONNS" "$tmp/paced.txt")
			if [[ -n $prof_pid ]]; then
				wait "$prof_pid"
			fi
			echo "    $target at $rate/s: $line" >&2
			for f in p50-ms p99-ms p999-ms; do
				record "$target-$rate-$f" "$(paced_field "$line" "$f")"
			done
		done
	done
done

# median NAME: the median of a figure over the runs.
median() { sort -g "$tmp/fig-$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
n=$(median noop-rps) f=$(median floor-rps) b=$(median batched-rps) g=$(median hookline-rps)
nc=$(median noop-cpu) fc=$(median floor-cpu) bc=$(median batched-cpu) gc=$(median hookline-cpu)
f5=$(median floor-5000-p99-ms) g5=$(median hookline-5000-p99-ms)
f1=$(median floor-1000-p99-ms) g1=$(median hookline-1000-p99-ms)
awk -v n="$n" -v f="$f" -v b="$b" -v g="$g" -v nc="$nc" -v fc="$fc" -v bc="$bc" -v gc="$gc" -v f5="$f5" -v g5="$g5" -v f1="$f1" -v g1="$g1" \
	-v runs="$RUNS" -v mode="$NATS" 'BEGIN {
	printf "runs %d\n", runs
	printf "noop-req/s %.0f\nfloor-req/s %.0f\nbatched-floor-req/s %.0f\ngw-req/s %.0f\n", n, f, b, g
	printf "ratio-vs-noop %.3f\nfloor-ratio-vs-noop %.3f\nbatched-floor-ratio-vs-noop %.3f\n", g / n, f / n, b / n
	printf "ratio-vs-floor %.3f\nratio-vs-batched-floor %.3f\n", g / f, g / b
	printf "noop-cpu-us/req %.1f\nfloor-cpu-us/req %.1f\nbatched-floor-cpu-us/req %.1f\ngw-cpu-us/req %.1f\n", nc, fc, bc, gc
	printf "cpu-ratio-vs-floor %.2f\ncpu-ratio-vs-batched-floor %.2f\ncpu-ratio-vs-noop %.2f\n", gc / fc, gc / bc, gc / nc
	printf "floor-5k-p99-ms %.2f\ngw-5k-p99-ms %.2f\np99-ratio-vs-floor-5k %.2f\n", f5, g5, g5 / f5
	printf "floor-1k-p99-ms %.2f\ngw-1k-p99-ms %.2f\np99-diff-vs-floor-1k-ms %.2f\n", f1, g1, g1 - f1
}'
echo "gw-5k-p50-ms $(median hookline-5000-p50-ms)"
echo "gw-5k-p999-ms $(median hookline-5000-p999-ms)"
echo "floor-5k-p999-ms $(median floor-5000-p999-ms)"
echo "batched-floor-5k-p99-ms $(median batched-5000-p99-ms)"
echo "batched-floor-1k-p99-ms $(median batched-1000-p99-ms)"
echo "gw-1k-p999-ms $(median hookline-1000-p999-ms)"
echo "gw-peak-rss-mb $(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$gw_pid/status")"
