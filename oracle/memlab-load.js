// Times memlab loading a heap snapshot the way its analyses do
// (`getFullHeapFromFile`: parse + memlab's full post-processing, i.e.
// dominators, retained sizes, distances). Prints {"ms": …, "node_count": …}.
//
// Usage: node --max-old-space-size=16384 oracle/memlab-load.js FILE
'use strict';

const {getFullHeapFromFile} = require('@memlab/heap-analysis');
const {config} = require('@memlab/core');

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node oracle/memlab-load.js FILE');
    process.exit(64);
  }
  config.muteConsole = true;
  const start = performance.now();
  const heap = await getFullHeapFromFile(file);
  const ms = Math.round(performance.now() - start);
  const out = JSON.stringify({ms, node_count: heap.nodes.length}) + '\n';
  process.stdout.write(out, () => process.exit(0));
}

main().catch(e => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
