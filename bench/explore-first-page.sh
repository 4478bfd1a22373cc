#!/usr/bin/env bash
# Time to the first page of `leakhound explore FILE`: starts it, waits for
# the URL it prints, then loads what the browser loads first (the file list
# and the Summary's first page), then the dominator tree's first level and
# the Object view of the biggest object below the root; stops it with
# SIGINT (as Ctrl-C does). Prints `first_page_s=… object_view_s=…`.
#
#   bench/explore-first-page.sh LEAKHOUND FILE
set -euo pipefail
leakhound="$1" file="$2"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
mkfifo "$dir/url"
start="$(date +%s.%N)"
"$leakhound" explore -q "$file" >"$dir/url" 2>"$dir/stderr" &
pid=$!
read -r url <"$dir/url"
curl -sf "${url}api/files" >/dev/null
curl -sf "${url}api/0/summary?limit=100" >/dev/null
first="$(date +%s.%N)"
biggest="$(curl -sf "${url}api/0/dominated/root?limit=1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).items[0].id))')"
curl -sf "${url}api/0/object/${biggest}" >/dev/null
object="$(date +%s.%N)"
kill -INT "$pid"
wait "$pid"
awk -v s="$start" -v f="$first" -v o="$object" 'BEGIN { printf "first_page_s=%.2f object_view_s=%.2f\n", f - s, o - f }'
