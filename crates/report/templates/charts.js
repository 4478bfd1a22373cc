// leakhound report charts: hand-written SVG, no dependencies, no network.
// Every string from the report is set with textContent or as an attribute,
// never parsed as HTML.
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var PALETTE = ['#2f6fde', '#e0783a', '#2a9d8f', '#c8372d', '#7a4bc2', '#d4a017', '#3a86a8',
    '#b5467a', '#5b8c2a', '#8a6d3b', '#4f5d75', '#e76f51'];

  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function label(parent, x, y, s, attrs) {
    var t = el('text', Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = s;
    return t;
  }
  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var v = Math.abs(n), u = 0;
    if (v < 1024) return Math.round(n) + ' B';
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return (n < 0 ? '-' : '') + v.toFixed(1) + ' ' + units[u];
  }
  function fit(s, px) {
    var max = Math.floor(px / 6.4);
    s = String(s);
    if (max < 2) return '';
    return s.length <= max ? s : s.slice(0, max - 1) + '…';
  }
  function width(container) {
    return Math.max(240, Math.round(container.clientWidth || 600));
  }
  function svg(container, w, h) {
    return el('svg', { viewBox: '0 0 ' + w + ' ' + h, width: w, height: h, preserveAspectRatio: 'xMinYMin meet',
      style: 'width:' + w + 'px;max-width:100%;height:auto' }, container);
  }
  function legend(container, items) {
    var d = document.createElement('div');
    d.className = 'legend';
    items.forEach(function (it) {
      var s = document.createElement('span');
      var i = document.createElement('i');
      i.style.background = it.color;
      if (it.dashed) i.style.background = 'repeating-linear-gradient(90deg,' + it.color + ' 0 4px,transparent 4px 7px)';
      s.appendChild(i);
      s.appendChild(document.createTextNode(it.label));
      d.appendChild(s);
    });
    container.appendChild(d);
  }

  var tip = document.createElement('div');
  tip.className = 'tip';
  document.body.appendChild(tip);
  function hover(node, text) {
    node.addEventListener('mousemove', function (e) {
      tip.textContent = typeof text === 'function' ? text(e) : text;
      tip.style.display = 'block';
      tip.style.left = Math.min(e.clientX + 12, window.innerWidth - 300) + 'px';
      tip.style.top = (e.clientY + 14) + 'px';
    });
    node.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  }

  // Squarified treemap (Bruls, Huizing, van Wijk).
  function squarify(items, x, y, w, h) {
    var total = items.reduce(function (s, it) { return s + it.value; }, 0);
    var out = [];
    if (total <= 0) return out;
    var scale = w * h / total;
    var rest = items.map(function (it) { return { item: it, area: it.value * scale }; });
    function worst(row, side) {
      var s = 0, mx = 0, mn = Infinity;
      row.forEach(function (r) { s += r.area; mx = Math.max(mx, r.area); mn = Math.min(mn, r.area); });
      return Math.max(side * side * mx / (s * s), (s * s) / (side * side * mn));
    }
    function place(row) {
      var s = row.reduce(function (a, r) { return a + r.area; }, 0);
      if (w >= h) {
        var cw = s / h, cy = y;
        row.forEach(function (r) { var rh = r.area / cw; out.push({ item: r.item, x: x, y: cy, w: cw, h: rh }); cy += rh; });
        x += cw; w -= cw;
      } else {
        var rh2 = s / w, cx = x;
        row.forEach(function (r) { var rw = r.area / rh2; out.push({ item: r.item, x: cx, y: y, w: rw, h: rh2 }); cx += rw; });
        y += rh2; h -= rh2;
      }
    }
    var row = [], i = 0;
    while (i < rest.length) {
      var side = Math.min(w, h);
      if (row.length === 0 || worst(row.concat([rest[i]]), side) <= worst(row, side)) { row.push(rest[i]); i++; }
      else { place(row); row = []; }
    }
    if (row.length) place(row);
    return out;
  }

  function treemap(container, items) {
    items = items.filter(function (it) { return it.value > 0; }).sort(function (a, b) { return b.value - a.value; });
    if (!items.length) { container.textContent = 'Nothing to show.'; return; }
    var w = width(container), h = Math.round(Math.min(420, Math.max(260, w * 0.62)));
    var s = svg(container, w, h);
    squarify(items, 0, 0, w, h).forEach(function (c, i) {
      var g = el('g', {}, s);
      var color = PALETTE[i % PALETTE.length];
      el('rect', { x: c.x + 0.5, y: c.y + 0.5, width: Math.max(0, c.w - 1), height: Math.max(0, c.h - 1), fill: color, 'fill-opacity': 0.85, rx: 2, 'class': 'cell' }, g);
      if (c.w > 44 && c.h > 18) {
        label(g, c.x + 5, c.y + 14, fit(c.item.label, c.w - 8), { style: 'fill:#fff;font-weight:600' });
        if (c.h > 32) label(g, c.x + 5, c.y + 28, fit(bytes(c.item.value), c.w - 8), { style: 'fill:#fff;opacity:.9' });
      }
      hover(g, c.item.label + ' — ' + bytes(c.item.value) + (c.item.extra ? ' — ' + c.item.extra : ''));
    });
  }

  function statistics(container, st) {
    var other = Math.max(0, st.v8heap - st.code - st.strings - st.js_arrays - st.system);
    var parts = [
      { label: 'Code', value: st.code }, { label: 'Strings', value: st.strings },
      { label: 'JS arrays', value: st.js_arrays }, { label: 'System objects', value: st.system },
      { label: 'Other V8 heap', value: other }, { label: 'Native', value: st.native }
    ];
    var total = parts.reduce(function (s, p) { return s + p.value; }, 0) || 1;
    var w = width(container), h = 34;
    var s = svg(container, w, h), x = 0;
    parts.forEach(function (p, i) {
      var pw = p.value / total * w;
      var r = el('rect', { x: x, y: 4, width: Math.max(0, pw), height: h - 8, fill: PALETTE[i] }, s);
      hover(r, p.label + ': ' + bytes(p.value) + ' (' + (p.value * 100 / total).toFixed(1) + '%)');
      if (pw > 70) label(s, x + 6, h / 2 + 4, fit(p.label, pw - 10), { style: 'fill:#fff;font-weight:600' });
      x += pw;
    });
    legend(container, parts.map(function (p, i) {
      return { color: PALETTE[i], label: p.label + ' ' + bytes(p.value) };
    }));
  }

  function niceStep(range, ticks) {
    var raw = range / Math.max(1, ticks);
    var mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    var f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  }
  function byteStep(max, ticks) {
    var unit = max >= 1073741824 ? 1073741824 : max >= 1048576 ? 1048576 : max >= 1024 ? 1024 : 1;
    return niceStep(max / unit, ticks) * unit;
  }

  // Vertical bars, one per snapshot; null values are drawn as a gap.
  function bars(container, values, opts) {
    opts = opts || {};
    var w = Math.min(width(container), opts.maxWidth || 10000), h = opts.height || 150;
    var top = 18, bottom = 22, left = 4;
    var s = svg(container, w, h);
    var max = Math.max.apply(null, values.map(function (v) { return v || 0; }).concat([1]));
    var n = values.length, slot = (w - left) / Math.max(1, n), bw = Math.min(56, slot * 0.62);
    el('line', { x1: 0, x2: w, y1: h - bottom + 0.5, y2: h - bottom + 0.5, 'class': 'grid-line' }, s);
    values.forEach(function (v, i) {
      var cx = left + slot * i + slot / 2;
      var axis = el('g', { 'class': 'axis' }, s);
      label(axis, cx, h - 6, '#' + (i + 1), { 'text-anchor': 'middle' });
      if (v === null || v === undefined) { label(s, cx, h - bottom - 4, '-', { 'text-anchor': 'middle' }); return; }
      var bh = Math.max(1, (v / max) * (h - top - bottom));
      var r = el('rect', { x: cx - bw / 2, y: h - bottom - bh, width: bw, height: bh, rx: 2,
        fill: opts.color || '#2f6fde', 'fill-opacity': 0.35 + 0.65 * (i + 1) / n, 'class': 'bar' }, s);
      hover(r, 'snapshot ' + (i + 1) + ': ' + bytes(v));
      label(s, cx, h - bottom - bh - 4, bytes(v), { 'text-anchor': 'middle' });
    });
  }

  // Diverging horizontal bars: growth to the right, shrinkage to the left.
  function diverging(container, rows) {
    rows = rows.filter(function (r) { return r.value !== 0; }).slice(0, 25);
    if (!rows.length) { container.textContent = 'No size changes.'; return; }
    var w = width(container), rh = 20, top = 6, h = top + rows.length * rh + 22;
    var lw = Math.min(260, Math.round(w * 0.3)), cw = w - lw - 80;
    var max = Math.max.apply(null, rows.map(function (r) { return Math.abs(r.value); }));
    var hasNeg = rows.some(function (r) { return r.value < 0; });
    var zero = lw + (hasNeg ? cw / 2 : 0), span = hasNeg ? cw / 2 : cw;
    var s = svg(container, w, h);
    rows.forEach(function (r, i) {
      var y = top + i * rh;
      label(s, lw - 8, y + 14, fit(r.label, lw - 12), { 'text-anchor': 'end' });
      var bw = Math.max(1, Math.abs(r.value) / max * span);
      var x = r.value >= 0 ? zero : zero - bw;
      var rect = el('rect', { x: x, y: y + 3, width: bw, height: rh - 6, rx: 2, fill: r.value >= 0 ? '#c8372d' : '#1f8a4c', 'class': 'bar' }, s);
      hover(rect, r.label + ': ' + (r.value > 0 ? '+' : '') + bytes(r.value));
      var tx = r.value >= 0 ? x + bw + 4 : x - 4;
      label(s, tx, y + 14, (r.value > 0 ? '+' : '') + bytes(r.value), { 'text-anchor': r.value >= 0 ? 'start' : 'end', 'class': 'val' });
    });
    el('line', { x1: zero + 0.5, x2: zero + 0.5, y1: top - 4, y2: h - 18, stroke: '#9aa4b5' }, s);
  }

  function median(xs) {
    if (!xs.length) return 0;
    var a = xs.slice().sort(function (p, q) { return p - q; });
    var m = a.length >> 1;
    return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
  }
  function clock(ms) {
    var d = new Date(ms);
    function p(n) { return (n < 10 ? '0' : '') + n; }
    return p(d.getUTCHours()) + ':' + p(d.getUTCMinutes()) + ':' + p(d.getUTCSeconds());
  }

  // Memory over time: heap used, post-GC baseline, trend, alerts, snapshots.
  function timeline(container, t) {
    var rows = t.samples || [];
    if (rows.length < 1) { container.textContent = 'No samples.'; return; }
    var w = width(container), h = 300, L = 70, R = 14, T = 14, B = 28;
    var s = svg(container, w, h);
    var t0 = rows[0].ts_ms, t1 = rows[rows.length - 1].ts_ms;
    if (t1 === t0) t1 = t0 + 1000;
    var ymax = 0;
    rows.forEach(function (r) { ymax = Math.max(ymax, r.heap_used, r.heap_floor); });
    ymax = ymax * 1.08 || 1;
    var step = byteStep(ymax, 5);
    ymax = Math.ceil(ymax / step) * step;
    function X(ms) { return L + (ms - t0) / (t1 - t0) * (w - L - R); }
    function Y(v) { return T + (1 - v / ymax) * (h - T - B); }
    var axis = el('g', { 'class': 'axis' }, s);
    for (var v = 0; v <= ymax + 1; v += step) {
      el('line', { x1: L, x2: w - R, y1: Y(v), y2: Y(v), 'class': 'grid-line' }, axis);
      label(axis, L - 6, Y(v) + 3, bytes(v), { 'text-anchor': 'end' });
    }
    var xs = niceStep((t1 - t0) / 1000, Math.max(2, Math.floor((w - L - R) / 110))) * 1000;
    for (var tx = Math.ceil(t0 / xs) * xs; tx <= t1; tx += xs) {
      el('line', { x1: X(tx), x2: X(tx), y1: T, y2: h - B, 'class': 'grid-line' }, axis);
      label(axis, X(tx), h - B + 16, clock(tx), { 'text-anchor': 'middle' });
    }
    function line(key, color, width) {
      var d = rows.map(function (r, i) { return (i ? 'L' : 'M') + X(r.ts_ms).toFixed(1) + ',' + Y(r[key]).toFixed(1); }).join('');
      el('path', { d: d, fill: 'none', stroke: color, 'stroke-width': width, 'stroke-linejoin': 'round', 'class': 'series' }, s);
    }
    var area = rows.map(function (r, i) { return (i ? 'L' : 'M') + X(r.ts_ms).toFixed(1) + ',' + Y(r.heap_used).toFixed(1); }).join('') +
      'L' + X(t1).toFixed(1) + ',' + Y(0) + 'L' + X(t0).toFixed(1) + ',' + Y(0) + 'Z';
    el('path', { d: area, fill: '#2f6fde', 'fill-opacity': 0.1, stroke: 'none' }, s);
    line('heap_used', '#2f6fde', 1.5);
    line('heap_floor', '#2a9d8f', 2.2);
    var items = [{ color: '#2f6fde', label: 'heap used' }, { color: '#2a9d8f', label: 'post-GC baseline' }];
    if (t.trend) {
      var last = rows[rows.length - 1].pid, seg = [];
      for (var i = rows.length - 1; i >= 0 && rows[i].pid === last; i--) seg.unshift(rows[i]);
      var slope = t.trend.growth_mb_per_min * 1048576 / 60000; // bytes per ms
      var s0 = seg[0].ts_ms;
      var b = median(seg.map(function (r) { return r.heap_floor - slope * (r.ts_ms - s0); }));
      var sa = seg[0].ts_ms, sb = seg[seg.length - 1].ts_ms;
      el('path', { d: 'M' + X(sa) + ',' + Y(b) + 'L' + X(sb) + ',' + Y(b + slope * (sb - s0)), stroke: '#c8372d', 'stroke-width': 1.6,
        'stroke-dasharray': '6 4', fill: 'none', 'class': 'series trend' }, s);
      items.push({ color: '#c8372d', dashed: true, label: 'trend ' + (t.trend.growth_mb_per_min >= 0 ? '+' : '') + t.trend.growth_mb_per_min.toFixed(2) + ' MB/min' });
    }
    (t.alerts || []).forEach(function (a) {
      var ax = X(a.ts_ms), firing = a.status !== 'resolved';
      var g = el('g', { 'class': 'alert' }, s);
      el('line', { x1: ax, x2: ax, y1: T, y2: h - B, stroke: firing ? '#c8372d' : '#1f8a4c', 'stroke-width': 1.2, 'stroke-dasharray': '2 3' }, g);
      el('circle', { cx: ax, cy: T + 4, r: 4, fill: firing ? '#c8372d' : '#1f8a4c' }, g);
      hover(g, a.alert + ' ' + a.status + ' at ' + clock(a.ts_ms) + ' UTC');
    });
    if ((t.alerts || []).length) items.push({ color: '#c8372d', label: 'alert fired / resolved (green)' });
    (t.snapshots || []).forEach(function (m) {
      var mx = X(m.ts_ms);
      var g = el('g', { 'class': 'snapshot-mark' }, s);
      el('path', { d: 'M' + (mx - 5) + ',' + (h - B) + 'L' + (mx + 5) + ',' + (h - B) + 'L' + mx + ',' + (h - B - 8) + 'Z', fill: '#7a4bc2' }, g);
      hover(g, 'heap snapshot at ' + clock(m.ts_ms) + (m.file ? ': ' + m.file : ''));
    });
    if ((t.snapshots || []).length) items.push({ color: '#7a4bc2', label: 'heap snapshot' });
    var hit = el('rect', { x: L, y: T, width: w - L - R, height: h - T - B, fill: 'transparent' }, s);
    hover(hit, function (e) {
      var box = s.getBoundingClientRect();
      var ms = t0 + ((e.clientX - box.left) * (w / box.width) - L) / (w - L - R) * (t1 - t0);
      var best = rows[0];
      rows.forEach(function (r) { if (Math.abs(r.ts_ms - ms) < Math.abs(best.ts_ms - ms)) best = r; });
      return clock(best.ts_ms) + ' UTC — used ' + bytes(best.heap_used) + ', post-GC ' + bytes(best.heap_floor) + ', RSS ' + bytes(best.rss);
    });
    legend(container, items);
  }

  function each(name, fn) {
    var nodes = document.querySelectorAll('[data-chart="' + name + '"]');
    for (var i = 0; i < nodes.length; i++) fn(nodes[i], Number(nodes[i].getAttribute('data-index') || 0));
  }

  if (data.kind === 'analyze') {
    each('statistics', function (c) { statistics(c, data.statistics); });
    each('treemap-classes', function (c) {
      treemap(c, (data.classes || []).map(function (k) { return { label: k.name, value: k.retained_size, extra: k.count + ' objects' }; }));
    });
    each('treemap-objects', function (c) {
      treemap(c, (data.top_objects || []).map(function (o) {
        return { label: o.class + ' @' + o.id, value: o.retained_size, extra: o.name && o.name !== o.class ? o.name : '' };
      }));
    });
  } else if (data.kind === 'find-leaks') {
    each('snapshots', function (c) {
      bars(c, (data.snapshots || []).map(function (s) { return s.total_size; }), { height: 160, maxWidth: 640, color: '#4f5d75' });
    });
    each('holder', function (c, i) { bars(c, data.clusters[i].holder_sizes, { height: 130, color: '#c8372d' }); });
    each('growing', function (c, i) { bars(c, data.growing_objects[i].sizes, { height: 130, color: '#e0783a' }); });
  } else if (data.kind === 'diff') {
    each('diff', function (c) {
      diverging(c, (data.classes || []).map(function (k) { return { label: k.name, value: k.size_delta }; }));
    });
  } else if (data.kind === 'history') {
    each('timeline', function (c, i) { timeline(c, data.targets[i]); });
  }
}());
