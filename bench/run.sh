#!/usr/bin/env bash
# Benchmarks leakhound against Chrome DevTools' heap snapshot worker and memlab
# on large generated snapshots: wall time and peak RSS of each tool, measured
# with GNU time (`/usr/bin/time -v`) in one run, side by side.
#
#   bench/run.sh                 # SCALE=1: a ~700 MB snapshot, three ~500 MB ones
#   SCALE=0.25 bench/run.sh      # smaller and quicker
#
# Environment:
#   SCALE          size of the analyze snapshot (bench/gen-large.js; 1 ≈ 700 MB)
#   LEAK_SCALE     size of the three find-leaks snapshots (bench/gen-leaking.js;
#                  1 ≈ 500-600 MB each); defaults to SCALE
#   SKIP_DEVTOOLS=1, SKIP_MEMLAB=1, SKIP_FINDLEAKS=1   leave those runs out
#   NODE_HEAP_MB   --max-old-space-size for the node tools (default 16384)
#   (leakhound-explore: bench/explore-first-page.sh, time to the first page of
#   `leakhound explore` and the server's peak RSS)
#   RUNS           runs of each tool (default 1); the median time and the
#                  highest peak RSS are reported (a 2-core VM varies by 20%)
#
# Needs: cargo, node + npm (the oracle is installed with `npm ci --prefix
# oracle` and built if missing), and GNU time at /usr/bin/time — on Debian the
# `time` package, which this script installs with apt-get when it is missing
# (as root; otherwise install it yourself: `sudo apt-get install time`).
# Snapshots are written to bench/out/ (git-ignored) and reused by later runs.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
out="$repo/bench/out"
mkdir -p "$out"

SCALE="${SCALE:-1}"
LEAK_SCALE="${LEAK_SCALE:-$SCALE}"
NODE_HEAP_MB="${NODE_HEAP_MB:-16384}"
RUNS="${RUNS:-1}"

log() { printf '== %s\n' "$*" >&2; }

# --- prerequisites -----------------------------------------------------------
if ! /usr/bin/time -v true >/dev/null 2>&1; then
  log "installing GNU time (Debian package 'time')"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq time >/dev/null
  else
    echo "GNU time is missing: sudo apt-get install time" >&2
    exit 1
  fi
fi

log "building leakhound (release)"
cargo build --release -q -p leakhound
leakhound="$repo/target/release/leakhound"

if [ ! -f oracle/dist/devtools-oracle.cjs ] || [ ! -d oracle/node_modules ]; then
  log "installing and building the DevTools oracle"
  [ -d oracle/node_modules ] || npm ci --prefix oracle --no-audit --no-fund >&2
  node oracle/build.mjs >&2
fi

# --- snapshots ---------------------------------------------------------------
large="$out/large-$SCALE.heapsnapshot"
if [ ! -s "$large" ]; then
  log "generating $large (SCALE=$SCALE)"
  node --max-old-space-size=8192 bench/gen-large.js "$large.tmp" "$SCALE" >&2
  mv "$large.tmp" "$large"
fi
leak="$out/leaking-$LEAK_SCALE"
if [ -z "${SKIP_FINDLEAKS:-}" ] && [ ! -s "$leak-3.heapsnapshot" ]; then
  log "generating $leak-{1,2,3}.heapsnapshot (LEAK_SCALE=$LEAK_SCALE)"
  node --max-old-space-size=8192 bench/gen-leaking.js "$leak" "$LEAK_SCALE" >&2
fi

# --- measuring ---------------------------------------------------------------
results="$(mktemp)"
trap 'rm -f "$results" "$results".time' EXIT

# measure NAME FILE_BYTES ALLOWED_EXIT_CODES COMMAND...
# Appends "name seconds rss_mib file_mib status" to $results; the tool's
# output is kept in bench/out/NAME.stdout and NAME.stderr.
measure() {
  local name="$1" bytes="$2" ok="$3"
  shift 3
  local walls="" rss=0 status=0 verdict=ok run
  for run in $(seq 1 "$RUNS"); do
    log "$name (run $run of $RUNS): $*"
    status=0
    /usr/bin/time -v -o "$results.time" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr" || status=$?
    walls="$walls $(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$results.time")"
    rss="$(awk -F': ' -v m="$rss" '/Maximum resident set size/ { r = $2 / 1024; if (r > m) m = r } END { printf "%.0f", m }' "$results.time")"
    case " $ok " in *" $status "*) ;; *) verdict="failed($status)" ;; esac
  done
  if [ "$verdict" != ok ]; then
    log "$name failed with status $status; see $out/$name.stderr"
  fi
  # The median wall time of the runs, the highest peak RSS.
  local wall
  wall="$(printf '%s\n' $walls | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
  printf '%s %s %s %s %s\n' "$name" "$wall" "$rss" "$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1048576 }')" "$verdict" >>"$results"
}

size_of() { stat -c %s "$@" | awk '{ s += $1 } END { print s }'; }

large_bytes="$(size_of "$large")"
measure leakhound-analyze "$large_bytes" 0 "$leakhound" analyze --json -q "$large"
# explore: time to the first page (Summary) and peak RSS of the server.
measure leakhound-explore "$large_bytes" 0 bench/explore-first-page.sh "$leakhound" "$large"
if [ -z "${SKIP_DEVTOOLS:-}" ]; then
  measure devtools-analyze "$large_bytes" 0 node --max-old-space-size="$NODE_HEAP_MB" oracle/dist/devtools-oracle.cjs time "$large"
fi
if [ -z "${SKIP_MEMLAB:-}" ]; then
  measure memlab-load "$large_bytes" 0 node --max-old-space-size="$NODE_HEAP_MB" oracle/memlab-load.js "$large"
fi
if [ -z "${SKIP_FINDLEAKS:-}" ]; then
  leak_files=("$leak-1.heapsnapshot" "$leak-2.heapsnapshot" "$leak-3.heapsnapshot")
  leak_bytes="$(size_of "${leak_files[@]}")"
  # find-leaks exits 1 when it finds a leak (it should: the program leaks).
  measure leakhound-find-leaks "$leak_bytes" "0 1" "$leakhound" find-leaks -q "${leak_files[@]}"
  if [ -z "${SKIP_MEMLAB:-}" ]; then
    measure memlab-find-leaks "$leak_bytes" 0 node --max-old-space-size="$NODE_HEAP_MB" oracle/memlab-find-leaks.js --trace-all-objects "${leak_files[@]}"
  fi
fi

# --- report ------------------------------------------------------------------
echo
echo "analyze: $(basename "$large") ($((large_bytes / 1048576)) MiB)"
if [ -z "${SKIP_FINDLEAKS:-}" ]; then
  echo "find-leaks: $(basename "$leak")-{1,2,3}.heapsnapshot ($((leak_bytes / 1048576)) MiB together)"
fi
echo "runs per tool: $RUNS (median time, highest peak RSS)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); $(node --version); $("$leakhound" --version 2>/dev/null || echo leakhound)"
echo
awk '
  { name[NR] = $1; sec[NR] = $2; rss[NR] = $3; file[NR] = $4; st[NR] = $5; by[$1] = NR }
  END {
    printf "%-22s %10s %14s %10s %9s  %s\n", "tool", "seconds", "peak RSS MiB", "file MiB", "RSS/file", "status"
    for (i = 1; i <= NR; i++)
      printf "%-22s %10.2f %14d %10d %9.2f  %s\n", name[i], sec[i], rss[i], file[i], rss[i] / file[i], st[i]
    print ""
    ratio("memlab-load", "leakhound-analyze", "memlab load / leakhound analyze")
    ratio("devtools-analyze", "leakhound-analyze", "devtools / leakhound analyze")
    ratio("memlab-find-leaks", "leakhound-find-leaks", "memlab / leakhound find-leaks")
    if ("leakhound-analyze" in by) {
      i = by["leakhound-analyze"]
      printf "%-36s %.2f (target <= 1)\n", "leakhound analyze RSS / file size", rss[i] / file[i]
    }
    if ("leakhound-explore" in by) {
      i = by["leakhound-explore"]
      printf "%-36s %.2f (target <= 1; whole run incl. first page)\n", "leakhound explore RSS / file size", rss[i] / file[i]
    }
    if ("leakhound-find-leaks" in by) {
      i = by["leakhound-find-leaks"]
      printf "%-36s %.2f (three files together)\n", "leakhound find-leaks RSS / file size", rss[i] / file[i]
    }
  }
  function ratio(a, b, label,   i, j) {
    if (!(a in by) || !(b in by)) return
    i = by[a]; j = by[b]
    printf "%-36s time %6.1fx   RSS %5.1fx (target: time >= 10x)\n", label, sec[i] / sec[j], rss[i] / rss[j]
  }
' "$results"
if [ -s "$out/leakhound-explore.stdout" ]; then
  echo "leakhound explore: $(cat "$out/leakhound-explore.stdout") (time to the Summary, then to the biggest object's view; devtools-analyze above is DevTools' load + Summary)"
fi
