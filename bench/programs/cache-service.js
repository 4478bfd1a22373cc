// A service with a large in-memory cache: an lru-cache of user profiles
// (nested objects, arrays, strings, dates, Buffers) filled by simulated
// lookups, as a session or profile cache is; the bound is high, so it is
// still filling at the last snapshot:
//
//   node bench/programs/cache-service.js PREFIX
//
// Snapshot 1 after 60,000 lookups, 2 after 120,000, 3 after 180,000.
'use strict';
const crypto = require('crypto');
const { LRUCache } = require('lru-cache');
const { series } = require('./snapshots');

const snapshot = series('cache-service.js');
const cache = new LRUCache({ max: 400000, ttl: 3600 * 1000, updateAgeOnGet: true });
const countries = ['DE', 'FR', 'US', 'JP', 'BR', 'IN', 'NG', 'SE'];
const roles = ['reader', 'writer', 'admin', 'billing', 'support'];

class Profile {
  constructor(id) {
    this.id = id;
    this.uuid = crypto.createHash("md5").update(String(id)).digest("hex");
    this.email = `user${id}@example.test`;
    this.name = { first: 'First' + (id % 997), last: 'Last' + (id % 1009) };
    this.country = countries[id % countries.length];
    this.roles = roles.filter((_, i) => (id >> i) & 1);
    this.createdAt = new Date(1600000000000 + id * 1000);
    this.preferences = { theme: id % 2 ? 'dark' : 'light', locale: 'en-' + this.country, pageSize: 10 + (id % 5) * 10 };
    this.sessions = Array.from({ length: 1 + (id % 3) }, (_, k) => ({ token: crypto.createHash('sha1').update(`${id}:${k}`).digest('hex'), lastSeen: id * 10 + k }));
    this.avatar = id % 10 === 0 ? Buffer.alloc(256, id % 256) : null;
  }
}

// Look-ups follow a skewed distribution: some users far more often.
// (A fixed xorshift generator: every run builds the same cache.)
let seed = 42;
function random() {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
function lookups(count) {
  for (let i = 0; i < count; i++) {
    const id = Math.floor(random() * random() * 1000000);
    if (!cache.get(id)) cache.set(id, new Profile(id));
  }
}

lookups(60000);
snapshot(`${cache.size} cached`);
lookups(60000);
snapshot(`${cache.size} cached`);
lookups(60000);
snapshot(`${cache.size} cached`);
