// Shared by the generators: writes PREFIX-N.heapsnapshot with V8's own
// writer (v8.writeHeapSnapshot keeps object ids stable between the
// snapshots of one process, so the series suits find-leaks and diff).
// A snapshot is written to a temporary name and renamed when complete.
'use strict';
const fs = require('fs');
const v8 = require('v8');

function usage(name) {
  console.error(`usage: node bench/programs/${name} PREFIX  (writes PREFIX-{1,2,3}.heapsnapshot)`);
  process.exit(2);
}

function series(name) {
  const prefix = process.argv[2];
  if (!prefix) usage(name);
  let n = 0;
  return function snapshot(label) {
    n += 1;
    const file = `${prefix}-${n}.heapsnapshot`;
    const started = Date.now();
    v8.writeHeapSnapshot(file + '.tmp');
    fs.renameSync(file + '.tmp', file);
    const mb = (fs.statSync(file).size / 1048576).toFixed(0);
    console.error(`${name}: ${label}: ${file} (${mb} MiB, ${Date.now() - started} ms)`);
  };
}

module.exports = { series };
