#!/usr/bin/env bash
# What `watch --alloc-sites` costs a loaded service: requests/s and p99
# latency of an Express app (express + express-session from
# fixtures/realworld, installed by `npm ci`) under autocannon, in three modes
# measured side by side, RUNS times each in rotating order (medians):
#   none   the app alone (inspector open, nobody attached)
#   watch  `leakhound watch` attached (heap samples every 5 s)
#   sites  `leakhound watch --alloc-sites` attached (V8's sampling heap
#          profiler at the default interval, or SAMPLING_INTERVAL bytes;
#          read every 10 s)
# Budget: sites costs at most 3% of the throughput of none.
#
# Environment: RUNS (3), DURATION of each measurement in seconds (20),
# CONNECTIONS (10), SAMPLING_INTERVAL (the default of watch), APP (the
# Express app), LEAKHOUND (a built binary; else
# target/release/leakhound is built), NODE (node).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-10}
APP=${APP:-fixtures/realworld/express-session-memorystore/fixed.js}
NODE=${NODE:-node}
OUT=bench/out/alloc-overhead
mkdir -p "$OUT"

if [ -z "${LEAKHOUND:-}" ]; then
  cargo build --release -q -p leakhound
  LEAKHOUND=target/release/leakhound
fi
[ -d fixtures/realworld/node_modules/express ] || npm ci --no-audit --no-fund --prefix fixtures/realworld >/dev/null
[ -x bench/load/node_modules/.bin/autocannon ] || npm ci --no-audit --no-fund --prefix bench/load >/dev/null
AUTOCANNON=bench/load/node_modules/.bin/autocannon

free_port() { "$NODE" -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# measure MODE RUN: prints "req_per_s p99_ms"
measure() {
  local mode=$1 run=$2 port ws app watch=""
  port=$(free_port)
  PORT=$port "$NODE" --inspect=127.0.0.1:0 "$APP" >"$OUT/app.out" 2>"$OUT/app.err" &
  app=$!
  for _ in $(seq 100); do grep -q "Debugger listening on" "$OUT/app.err" && grep -q listening "$OUT/app.out" && break; sleep 0.1; done
  ws=$(grep -o 'ws://[^ ]*' "$OUT/app.err" | head -1)
  "$AUTOCANNON" -c "$CONNECTIONS" -d 5 "http://127.0.0.1:$port/" >/dev/null 2>&1   # warm-up
  case $mode in
    watch) "$LEAKHOUND" watch --inspect "$ws" --no-history --no-server --quiet 2>"$OUT/watch.err" & watch=$! ;;
    sites) "$LEAKHOUND" watch --alloc-sites ${SAMPLING_INTERVAL:+--alloc-sampling-interval "$SAMPLING_INTERVAL"} --inspect "$ws" --no-history --no-server --quiet 2>"$OUT/watch.err" & watch=$! ;;
  esac
  sleep 2
  "$AUTOCANNON" -c "$CONNECTIONS" -d "$DURATION" -j "http://127.0.0.1:$port/" >"$OUT/$mode-$run.json" 2>/dev/null
  [ -n "$watch" ] && { kill -TERM "$watch"; wait "$watch" || true; }
  kill -TERM "$app"; wait "$app" 2>/dev/null || true
  "$NODE" -e "const r=require('./$OUT/$mode-$run.json'); console.log(r.requests.average, r.latency.p99)"
}

declare -A RPS P99
modes=(none watch sites)
for run in $(seq "$RUNS"); do
  # Rotate the order so that drift (thermal, other load) spreads over all modes.
  for i in 0 1 2; do
    mode=${modes[$(( (i + run - 1) % 3 ))]}
    read -r rps p99 < <(measure "$mode" "$run")
    RPS[$mode]="${RPS[$mode]:-} $rps"
    P99[$mode]="${P99[$mode]:-} $p99"
    echo "run $run $mode: $rps req/s, p99 $p99 ms" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
base=$(echo "${RPS[none]}" | median)
echo
echo "$(uptime | sed 's/.*load/load/') · $(nproc) cores · RUNS=$RUNS, ${DURATION}s each, $CONNECTIONS connections · $APP"
printf '%-6s %12s %10s %12s\n' mode "req/s" "p99 ms" "throughput"
for mode in none watch sites; do
  r=$(echo "${RPS[$mode]}" | median)
  p=$(echo "${P99[$mode]}" | median)
  printf '%-6s %12.0f %10.1f %11.1f%%\n' "$mode" "$r" "$p" "$(echo "$r $base" | awk '{print 100*$1/$2}')"
done
