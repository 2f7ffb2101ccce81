#!/usr/bin/env bash
# Ingest throughput of the real binary against a no-op net/http handler,
# both driven by wrk with the same settings: prints both request rates and
# their ratio (the goal is >= 0.60). A third target, the floor
# (benchhelper floor), appends each body to an embedded JetStream stream
# and answers after the acknowledgement, and does nothing else: its ratio
# is the best any gateway storing each delivery could reach here, and the
# gateway's rate over the floor's is what our own work costs. Then all
# three at a fixed rate of half the gateway's, open loop (benchhelper
# paced): prints their latency percentiles (the goal is the gateway's
# p99 <= 5 ms). See BENCHMARKS.md.
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
#   BODIES    distinct pre-signed deliveries (default 400000); every request
#             carries a new webhook_id until they run out, then they repeat
#             and the repeats take the cheaper duplicate path (reported).
#   SOAK      seconds, 0..600 (default 0: off). Instead of the comparison,
#             drive the gateway alone at RATE deliveries/s (default 10000),
#             all distinct, open loop, for SOAK seconds; print the latency
#             percentiles (whole run and last third: the steady state once
#             JetStream's duplicate window is full) and the gateway's peak
#             RSS. The soak signs SOAK x RATE deliveries first (about 370 MB
#             at 110 s x 10000).
#   GW_FLAGS  extra gateway flags, e.g. "--nats-duplicate-window 2m"
set -euo pipefail

DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
BODIES=${BODIES:-400000}
SOAK=${SOAK:-0}
RATE=${RATE:-10000}
GW_FLAGS=${GW_FLAGS:-}
if ! [[ $SOAK =~ ^[0-9]+$ ]] || ((SOAK > 600)); then
	echo "bench.sh: SOAK must be 0..600 seconds" >&2
	exit 2
fi
if ! [[ $DURATION =~ ^[0-9]+$ ]] || ((DURATION < 1 || DURATION > 60)); then
	echo "bench.sh: DURATION must be 1..60 seconds" >&2
	exit 2
fi
for v in CONNS THREADS BODIES RATE; do
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
if ((SOAK == 0)); then
	"$tmp/bench-helper" sign wrk "$BODIES" "$truv_secret" >"$tmp/bodies.txt"
	"$tmp/bench-helper" sign warm 50000 "$truv_secret" >"$tmp/warm.txt"
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

# run_wrk NAME ADDR: drive ADDR with wrk and print its requests/s.
run_wrk() {
	local out="$tmp/wrk-$1.txt"
	# Warm-up: one second, same settings, deliveries of their own; then
	# the measured run.
	wrk -t"$THREADS" -c"$CONNS" -d1s -s "$tmp/post.lua" "http://$2" "$tmp/warm.txt" >/dev/null
	wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$tmp/post.lua" "http://$2" "$tmp/bodies.txt" >"$out"
	# Repeated deliveries only matter to the gateway (duplicate path; the
	# floor's JetStream window takes them as duplicates as well).
	if [[ $1 == noop ]]; then
		sed -i '/^note:/d' "$out"
	fi
	if grep -q "Non-2xx" "$out"; then
		echo "bench.sh: $1 answered errors:" >&2
		cat "$out" >&2
		return 1
	fi
	sed 's/^/    /' "$out" >&2
	awk '/^Requests\/sec:/ {print $2}' "$out"
}

# GW_FLAGS is split into words on purpose.
# shellcheck disable=SC2086
HOOKLINE_DEV_TRUV_SECRET=$truv_secret \
	HOOKLINE_DEV_FINICITY_SECRET=dev-finicity-partner-secret \
	HOOKLINE_DEV_SWYFT_AUTH='Bearer dev-swyft-token' \
	"$tmp/hookline" --config "$root/config/dev.yaml" --data-dir "$tmp/data" \
	--http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 $GW_FLAGS >"$tmp/hookline.out" 2>&1 &
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
pids+=($!)
noop_addr=$(wait_addr "$tmp/noop.out" '^127\.0\.0\.1:[0-9]+')
"$tmp/bench-helper" floor "$tmp/floor-data" >"$tmp/floor.out" 2>&1 &
pids+=($!)
floor_addr=$(wait_addr "$tmp/floor.out" '^127\.0\.0\.1:[0-9]+')

echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, $(nproc) cores, $(go version | cut -d' ' -f3)" >&2
echo "no-op handler ($noop_addr):" >&2
noop_rps=$(run_wrk noop "$noop_addr")
echo "floor: raw body appended to JetStream, nothing else ($floor_addr):" >&2
floor_rps=$(run_wrk floor "$floor_addr")
echo "hookline ($gw_addr):" >&2
gw_rps=$(run_wrk hookline "$gw_addr")
awk -v g="$gw_rps" -v n="$noop_rps" -v f="$floor_rps" 'BEGIN {
	printf "noop-req/s  %.0f\nfloor-req/s %.0f\ngw-req/s    %.0f\n", n, f, g
	printf "ratio-vs-noop %.3f (goal >= 0.60)\nfloor-ratio-vs-noop %.3f (the most any gateway appending each delivery reaches here)\nratio-vs-floor %.3f\n", g / n, f / n, g / f
}'

# Fixed rate, open loop, at half the gateway's rate: first the no-op handler
# (what the generator and the machine alone add), then the floor, then the
# gateway, each with deliveries it has not seen.
sleep 2 # let the follower and the index finish the wrk backlog
half=$(awk -v g="$gw_rps" 'BEGIN { printf "%d", g / 2 }')
"$tmp/bench-helper" sign paced "$((half * DURATION))" "$truv_secret" >"$tmp/paced.txt"
echo "fixed rate $half req/s for ${DURATION}s, $CONNS connections:" >&2
noop_paced=$("$tmp/bench-helper" paced "$noop_addr" "$half" "$DURATION" "$CONNS" "$tmp/paced.txt")
floor_paced=$("$tmp/bench-helper" paced "$floor_addr" "$half" "$DURATION" "$CONNS" "$tmp/paced.txt")
gw_paced=$("$tmp/bench-helper" paced "$gw_addr" "$half" "$DURATION" "$CONNS" "$tmp/paced.txt")
echo "noop-paced  $noop_paced"
echo "floor-paced $floor_paced"
echo "gw-paced    $gw_paced (goal: p99-ms <= 5)"
