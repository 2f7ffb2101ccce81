#!/usr/bin/env bash
# Ingest throughput of the real binary against a no-op net/http handler,
# both driven by wrk with the same settings: prints both request rates and
# their ratio (the goal is ≥ 0.60). See BENCHMARKS.md.
#
# It builds the binary into a temporary directory, starts `hookline` with
# config/dev.yaml, embedded NATS in that directory and its listeners on
# 127.0.0.1 port 0, and a no-op handler on 127.0.0.1 port 0; it sends
# traffic to those two loopback addresses only, for a bounded time, and
# stops both processes and removes the directory on exit.
#
# Needs wrk (Debian: apt-get install -y wrk) and Go.
#
# Settings (environment):
#   DURATION  seconds per target, 1..60 (default 10)
#   CONNS     wrk connections (default 64)
#   THREADS   wrk threads (default 2)
#   BODIES    distinct pre-signed deliveries (default 400000); every request
#             carries a new webhook_id until they run out, then they repeat
#             and the repeats take the cheaper duplicate path (reported).
set -euo pipefail

DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
BODIES=${BODIES:-400000}
if ! [[ $DURATION =~ ^[0-9]+$ ]] || ((DURATION < 1 || DURATION > 60)); then
	echo "bench.sh: DURATION must be 1..60 seconds" >&2
	exit 2
fi
for v in CONNS THREADS BODIES; do
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

# A helper (standard library only) that signs the deliveries and serves the
# no-op handler.
mkdir -p "$tmp/helper"
cat >"$tmp/helper/main.go" <<'EOF'
package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	switch os.Args[1] {
	case "sign": // sign PREFIX N SECRET: "v1=<hex> <body>" per line
		prefix := os.Args[2]
		n, _ := strconv.Atoi(os.Args[3])
		w := bufio.NewWriterSize(os.Stdout, 1<<20)
		for i := range n {
			body := fmt.Sprintf(`{"webhook_id":"%s%028d","event_type":"order-status-updated",`+
				`"event_created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","product":"income",`+
				`"order_id":"%s-order-%d","order_number":"4138538","status":"completed","user_id":"adbe707dddee4334bffaeb5866272740"}`,
				prefix, i, prefix, i/4)
			m := hmac.New(sha256.New, []byte(os.Args[4]))
			m.Write([]byte(body))
			fmt.Fprintf(w, "v1=%s %s\n", hex.EncodeToString(m.Sum(nil)), body)
		}
		w.Flush()
	case "noop": // noop: serve on 127.0.0.1:0, print the address
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		fmt.Println(ln.Addr())
		answer := []byte(`{"request_id":"req_0000000000000_1","duplicate":false,"events":[{"id":"evt_00000000000000000000000000000000",` +
			`"type":"EVENT_TYPE_ORDER_STATUS_CHANGED","sequence":1,"duplicate":false}]}` + "\n")
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
		}))
	}
}
EOF
(cd "$tmp/helper" && GOFLAGS= go mod init benchhelper >/dev/null 2>&1 && go build -o "$tmp/bench-helper" .)
(cd "$root" && go build -o "$tmp/hookline" ./cmd/hookline)
"$tmp/bench-helper" sign wrk "$BODIES" "$truv_secret" >"$tmp/bodies.txt"
"$tmp/bench-helper" sign warm 50000 "$truv_secret" >"$tmp/warm.txt"

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
	# Repeated deliveries only matter to the gateway (duplicate path).
	if [[ $1 != hookline ]]; then
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

"$tmp/bench-helper" noop >"$tmp/noop.out" 2>&1 &
pids+=($!)
noop_addr=$(wait_addr "$tmp/noop.out" '^127\.0\.0\.1:[0-9]+')

HOOKLINE_DEV_TRUV_SECRET=$truv_secret \
	HOOKLINE_DEV_FINICITY_SECRET=dev-finicity-partner-secret \
	HOOKLINE_DEV_SWYFT_AUTH='Bearer dev-swyft-token' \
	"$tmp/hookline" --config "$root/config/dev.yaml" --data-dir "$tmp/data" \
	--http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 >"$tmp/hookline.out" 2>&1 &
pids+=($!)
gw_addr=$(wait_addr "$tmp/hookline.out" 'http=127\.0\.0\.1:[0-9]+')
for _ in $(seq 300); do
	curl -fsS "http://$gw_addr/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done

echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, $(nproc) cores, $(go version | cut -d' ' -f3)" >&2
echo "no-op handler ($noop_addr):" >&2
noop_rps=$(run_wrk noop "$noop_addr")
echo "hookline ($gw_addr):" >&2
gw_rps=$(run_wrk hookline "$gw_addr")
awk -v g="$gw_rps" -v n="$noop_rps" 'BEGIN {
	printf "noop-req/s %.0f\ngw-req/s   %.0f\nratio-vs-noop %.3f (goal >= 0.60)\n", n, g, g / n
}'
