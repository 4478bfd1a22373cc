#!/usr/bin/env bash
# Times `leakhound lint` on a tree of 10,000 JavaScript/TypeScript files built
# reproducibly from the npm corpus in fixtures/lint-corpus (its packages' own
# sources, test files and *.min.js skipped as lint skips them, copied in
# sorted order round-robin until FILES files exist; linted with
# --include-node-modules --include-tests so that every file counts). Prints files, findings,
# wall time (median of RUNS) and peak RSS.
#   FILES=10000 RUNS=3 bench/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-10000}
RUNS=${RUNS:-3}
TREE=${TREE:-/tmp/leakhound-lint-bench}
[ -d fixtures/lint-corpus/node_modules/express ] || npm ci --ignore-scripts --no-audit --no-fund --prefix fixtures/lint-corpus
cargo build --release -q -p leakhound
BIN=target/release/leakhound

rm -rf "$TREE" && mkdir -p "$TREE"
mapfile -t SRC < <(cd fixtures/lint-corpus/node_modules && find . -type f \( -name '*.js' -o -name '*.cjs' -o -name '*.mjs' -o -name '*.ts' \) \
  ! -name '*.d.ts' ! -name '*.min.*' ! -name '*.test.*' ! -name '*.spec.*' ! -path '*/test/*' ! -path '*/tests/*' | LC_ALL=C sort)
echo "corpus: ${#SRC[@]} source files"
for ((i = 0; i < FILES; i++)); do
  f=${SRC[$((i % ${#SRC[@]}))]}
  d="$TREE/copy$((i / ${#SRC[@]}))/$(dirname "$f")"
  mkdir -p "$d"
  cp "fixtures/lint-corpus/node_modules/$f" "$d/"
done
n=$(find "$TREE" -type f | wc -l)
bytes=$(du -sb "$TREE" | cut -f1)
echo "tree: $n files, $((bytes / 1024 / 1024)) MiB in $TREE"
echo "machine: $(nproc) cores; $(uptime | sed 's/.*load/load/')"

times=()
for ((r = 0; r < RUNS; r++)); do
  /usr/bin/time -f '%e %M' -o /tmp/leakhound-lint-bench.time "$BIN" lint --no-config --include-node-modules --include-tests "$TREE" >/dev/null 2>/tmp/leakhound-lint-bench.err || true
  [ "$r" -gt 0 ] || tail -1 /tmp/leakhound-lint-bench.err
  t=$(tail -1 /tmp/leakhound-lint-bench.time)
  times+=("$t")
  echo "run $((r + 1)): ${t% *} s, peak RSS $(( ${t#* } / 1024 )) MiB"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
echo "leakhound lint: $n files in ${median% *} s (median of $RUNS), peak RSS $(( ${median#* } / 1024 )) MiB"
rm -rf "$TREE"
