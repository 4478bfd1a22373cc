// Writes three heap snapshots of one leaking process for find-leaks
// benchmarks: BASE (after warm-up), TARGET (after one leaking action) and
// FINAL (after the action is undone and repeated once more), the way memlab's
// baseline / target / final snapshots are taken.
// Usage: node --max-old-space-size=8192 bench/gen-leaking.js PREFIX [SCALE]
// Writes PREFIX-1.heapsnapshot, PREFIX-2.heapsnapshot, PREFIX-3.heapsnapshot.
// SCALE 1 gives files of roughly 500-600 MB each.
'use strict';
const v8 = require('v8');
const { EventEmitter } = require('events');

const prefix = process.argv[2];
const scale = Number(process.argv[3] || 1);
if (!prefix) {
  console.error('usage: node bench/gen-leaking.js PREFIX [SCALE]');
  process.exit(2);
}

// A long-lived application heap, as in gen-large.js.
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
const sessions = [];
const base = Math.round(300000 * scale);
for (let i = 0; i < base; i++) {
  const s = new Session(i);
  for (let j = 0; j < 3; j++) s.history.push({ at: i * 10 + j, path: '/api/v1/items/' + (i % 1000) });
  sessions.push(s);
  if (i % 50 === 0) bus.on('evt', () => s.id);
}

// The leak: every request registers a listener and caches a response that
// nothing ever removes. Temporary objects of the same request are released.
class RequestContext {
  constructor(id) {
    this.id = id;
    this.headers = { host: 'example.test', 'x-request-id': 'req-' + id };
    this.body = new Array(16).fill(id);
  }
}
const responseCache = new Map();
let nextRequest = 0;
function handleRequests(count) {
  const scratch = [];
  for (let i = 0; i < count; i++) {
    const ctx = new RequestContext(nextRequest++);
    scratch.push({ ctx, parsed: JSON.parse('{"ok":true}') }); // released below
    responseCache.set(ctx.id, { ctx, payload: 'response-' + ctx.id });
    bus.on('shutdown', () => ctx.id);
  }
  scratch.length = 0;
}

globalThis.keep = { sessions, bus, responseCache };
const leakPerStep = Math.round(40000 * scale);
v8.writeHeapSnapshot(`${prefix}-1.heapsnapshot`);
handleRequests(leakPerStep);
v8.writeHeapSnapshot(`${prefix}-2.heapsnapshot`);
handleRequests(leakPerStep);
v8.writeHeapSnapshot(`${prefix}-3.heapsnapshot`);
console.log(`wrote ${prefix}-{1,2,3}.heapsnapshot`);
