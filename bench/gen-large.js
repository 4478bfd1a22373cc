// Writes a large, realistic heap snapshot for benchmarks.
// Usage: node --max-old-space-size=8192 bench/gen-large.js OUT.heapsnapshot [SCALE]
// SCALE 1 gives a file of roughly 700 MB.
'use strict';
const v8 = require('v8');
const { EventEmitter } = require('events');

const out = process.argv[2];
const scale = Number(process.argv[3] || 1);
if (!out) {
  console.error('usage: node bench/gen-large.js OUT.heapsnapshot [SCALE]');
  process.exit(2);
}

class Session {
  constructor(id) {
    this.id = id;
    this.user = { name: 'user' + id, roles: ['reader', id % 7 === 0 ? 'admin' : 'writer'] };
    this.created = new Date(1700000000000 + id);
    this.history = [];
  }
}

const bus = new EventEmitter();
bus.setMaxListeners(0);
const cache = new Map();
const sessions = [];
const n = Math.round(500000 * scale);
for (let i = 0; i < n; i++) {
  const s = new Session(i);
  for (let j = 0; j < 3; j++) s.history.push({ at: i * 10 + j, path: '/api/v1/items/' + (i % 1000) });
  sessions.push(s);
  if (i % 4 === 0) cache.set('k' + i, { session: s, blob: 'payload-' + i });
  if (i % 50 === 0) bus.on('evt', () => s.id);
}
globalThis.keep = { sessions, cache, bus };
v8.writeHeapSnapshot(out);
console.log('wrote', out);
