// Times memlab's leak detection over three snapshots of one process
// (`findLeaksBySnapshotFilePaths`, the API behind
// `memlab find-leaks --baseline A --target B --final C`).
// Prints {"ms": …, "leaks": <number of leak clusters>}.
//
// Usage: node --max-old-space-size=16384 oracle/memlab-find-leaks.js [--trace-all-objects] A B C
//
// memlab's default leak filter looks for detached DOM / React Fiber nodes and
// finds nothing in a Node.js heap; `--trace-all-objects` does what memlab's
// CLI flag of that name does (every object allocated after the baseline and
// still alive in the final snapshot is a leak candidate), which is how memlab
// is used on Node.js heaps.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {findLeaksBySnapshotFilePaths} = require('@memlab/api');
const {config, TraceObjectMode} = require('@memlab/core');

async function main() {
  let files = process.argv.slice(2);
  if (files[0] === '--trace-all-objects') {
    files = files.slice(1);
    config.oversizeObjectAsLeak = true;
    config.oversizeThreshold = 0;
    config.traceAllObjectsMode = TraceObjectMode.SelectedJSObjects;
  }
  if (files.length !== 3) {
    console.error('usage: node oracle/memlab-find-leaks.js BASELINE TARGET FINAL');
    process.exit(64);
  }
  // memlab writes its traces and logs under a work directory.
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'memlab-bench-'));
  try {
    const start = performance.now();
    const leaks = await findLeaksBySnapshotFilePaths(files[0], files[1], files[2], {
      workDir,
      consoleMode: 'SILENT',
    });
    const ms = Math.round(performance.now() - start);
    const out = JSON.stringify({ms, leaks: leaks.length}) + '\n';
    await new Promise(resolve => process.stdout.write(out, resolve));
  } finally {
    fs.rmSync(workDir, {recursive: true, force: true});
  }
  process.exit(0);
}

main().catch(e => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
