#!/bin/sh
# Writes a few tiny real heap snapshots as seed corpora for the fuzz targets
# (corpus/ is not committed). Hand-made in the Node 20 layout: every section
# V8 writes, string escapes and surrogate pairs, another field order, a BOM.
# Usage: fuzz/seeds.sh   (from anywhere; writes fuzz/corpus/<target>/)
set -eu
cd "$(dirname "$0")"
mkdir -p corpus/parse corpus/parse_chunks corpus/analyze

META='"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"trace_node_fields":["id","function_info_index","count","size","children"],"sample_fields":["timestamp_us","last_assigned_id"],"location_fields":["object_index","script_id","line","column"]}'

# root -shortcut global-> global -property handler-> closure -internal context-> string;
# root -element 0-> closure. Trace node 1 on global, the string is detached.
cat > /tmp/leakhound-seed-full.$$ <<JSON
{"snapshot":{$META,"node_count":4,"edge_count":4,"trace_function_count":1},
"nodes":[9,1,1,0,2,0,0,
3,2,3,200,1,1,0,
5,3,5,32,1,0,0,
2,4,7,16,0,0,2],
"edges":[5,2,7,1,0,14,
2,5,14,
3,6,21],
"trace_function_infos":[1,3,6,1,2,3],
"trace_tree":[1,0,0,0,[2,0,1,32,[]]],
"samples":[100,7],
"locations":[14,1,2,3],
"strings":["<dummy>","","global","on\\u0052equest \\ud83d\\ude00 \\ud800","caf\\u00e9 \\"x\\"\\n\\\\ é ☃","handler","context"]}
JSON

# Another field order, no trace_node_id/detachedness, an unknown field.
cat > /tmp/leakhound-seed-order.$$ <<'JSON'
{"snapshot":{"meta":{"node_fields":["name","type","x","edge_count","self_size","id"],"node_types":["string",["synthetic","object","closure"],"number","number","number","number"],"edge_fields":["to_node","type","name_or_index"],"edge_types":["node",["element","property","weak"],"string_or_number"]},"node_count":3,"edge_count":3},"future":{"a":[1,"]"]},"nodes":[0,0,9,1,0,1,1,1,9,2,64,3,2,2,9,0,32,5],"edges":[6,0,0,12,1,2,0,2,1],"strings":["","Map","cache","fn"]}
JSON

# The smallest graph: one node.
printf '%s' '{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count"],"node_types":[["synthetic"]],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["element"]]},"node_count":1,"edge_count":0},"nodes":[0,0,1,0,0],"edges":[],"strings":[""]}' > /tmp/leakhound-seed-tiny.$$

for name in full order tiny; do
    src=/tmp/leakhound-seed-$name.$$
    cp "$src" corpus/parse/$name.heapsnapshot
    cp "$src" corpus/analyze/$name.heapsnapshot
    # parse_chunks: a count byte, then chunk sizes (here 1, 3 and 64 bytes).
    { printf '\002\000\002\077'; cat "$src"; } > corpus/parse_chunks/$name
    rm -f "$src"
done
# A byte-order mark in front (split into 1-byte chunks for parse_chunks).
{ printf '\357\273\277'; cat corpus/parse/tiny.heapsnapshot; } > corpus/parse/bom.heapsnapshot
{ printf '\000\000\357\273\277'; cat corpus/parse/tiny.heapsnapshot; } > corpus/parse_chunks/bom
echo "seeds written to $(pwd)/corpus"
