// An Express API with many routes and modules loaded, serving real HTTP
// requests on 127.0.0.1, with a request log that is never trimmed (the leak
// find-leaks should see) and a bounded response cache:
//
//   node bench/programs/express-app.js PREFIX
//
// 40 routers of 60 routes each (parameters, middleware chains, validators),
// the TypeScript compiler loaded as a library (a big module graph, as apps
// that bundle tooling have), then load phases of 4000 requests with a
// snapshot after each: 1 after the warm-up, 2 and 3 after a phase each.
'use strict';
const http = require('http');
const crypto = require('crypto');
const express = require('express');
const ts = require('typescript');
const { LRUCache } = require('lru-cache');
const { series } = require('./snapshots');

const snapshot = series('express-app.js');
const app = express();
app.use(express.json());
app.use(express.urlencoded({ extended: true }));

const requestLog = [];
app.use((req, res, next) => {
  const entry = { at: Date.now(), method: req.method, url: req.originalUrl, headers: { ...req.headers } };
  requestLog.push(entry);
  res.on('finish', () => { entry.status = res.statusCode; });
  next();
});

const cache = new LRUCache({ max: 2000 });
const resources = ['users', 'orders', 'invoices', 'products', 'carts', 'reviews', 'tickets', 'teams'];
function validator(field) {
  return (req, res, next) => (req.params[field] && req.params[field].length < 64 ? next() : res.status(400).end());
}
for (let r = 0; r < 40; r++) {
  const router = express.Router();
  const resource = resources[r % resources.length] + r;
  router.use((req, res, next) => { req.resource = resource; next(); });
  for (let i = 0; i < 60; i++) {
    const route = `/${resource}/v${i}/:id`;
    router.get(route, validator('id'), (req, res) => {
      const key = `${route}:${req.params.id}`;
      let body = cache.get(key);
      if (!body) {
        body = { id: req.params.id, route, resource: req.resource, etag: crypto.createHash('sha1').update(key).digest('hex') };
        cache.set(key, body);
      }
      res.json(body);
    });
    router.post(route, validator('id'), (req, res) => res.status(201).json({ created: req.params.id, body: req.body }));
  }
  app.use('/api', router);
}
app.get('/compile', (req, res) => res.send(ts.transpile(String(req.query.src || 'let x = 1'))));

function request(port, i) {
  const r = i % 40;
  const path = `/api/${resources[r % resources.length]}${r}/v${i % 60}/${i % 500}`;
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, res => { res.resume(); res.on('end', resolve); }).on('error', reject);
  });
}

async function phase(port, from, count) {
  for (let i = from; i < from + count; i += 8) {
    await Promise.all(Array.from({ length: 8 }, (_, k) => request(port, i + k)));
  }
}

const server = app.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  await phase(port, 0, 4000);
  snapshot('warm-up');
  await phase(port, 4000, 4000);
  snapshot('phase 1');
  await phase(port, 8000, 4000);
  snapshot(`phase 2 (${requestLog.length} requests logged)`);
  server.close();
});
