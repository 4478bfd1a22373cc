// leakhound explore: the UI. Plain DOM, no framework, nothing from the
// network but this server's own API (relative URLs under the token path).
// Data is only ever set with textContent, never parsed as HTML.
'use strict';

const state = { files: [], file: -1 };
const PAGE = 50;

// ---------- helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'onclick') e.addEventListener('click', v);
    else if (k === 'oninput') e.addEventListener('input', v);
    else if (k === 'onchange') e.addEventListener('change', v);
    else if (k === 'text') e.textContent = v;
    else if (k === 'style') e.style.cssText = v; // CSSOM: allowed by the page's CSP
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

async function api(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== false) q.set(k, v === true ? '1' : String(v));
  }
  const qs = q.toString();
  const res = await fetch('api/' + path + (qs ? '?' + qs : ''), { cache: 'no-store' });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  const s = (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
  return n < 0 ? '-' + s : s;
}

function signedBytes(n) { return (n > 0 ? '+' : '') + bytes(n); }
function distance(d) { return d >= 100000000 ? '–' : d < 0 ? '∞' : String(d); }

function objectHref(id, s) { return '#/object/' + id + '?s=' + s; }

function objectName(o) {
  if (o.type && o.type.includes('string')) {
    const v = o.name.length > 60 ? o.name.slice(0, 60) + '…' : o.name;
    return '"' + v + '"';
  }
  if (!o.name || o.name === o.class) return o.class;
  const n = o.name.length > 60 ? o.name.slice(0, 60) + '…' : o.name;
  return o.class + ' ' + n;
}

// Every object anywhere is a link to its Object view.
function objectLink(o, s) {
  return el('a', { href: objectHref(o.id, s), class: 'obj', title: o.type + ' @' + o.id },
    objectName(o), el('span', { class: 'muted' }, ' @' + o.id));
}

function edgeLabel(type, name) {
  switch (type) {
    case 'element': return '[' + name + ']';
    case 'context': return '->' + name;
    case 'property': case 'shortcut': return name.includes(' ') ? '["' + name + '"]' : '.' + name;
    case 'weak': return '[[' + name + ']]';
    default: return '{' + name + '}';
  }
}

function srcLoc(l) {
  if (!l) return null;
  return (l.url || 'script ' + l.script_id) + ':' + l.line + ':' + l.column;
}

function numCell(v) { return el('td', { class: 'num' }, v); }

function heading(cols, sortState, onSort) {
  return el('tr', {}, ...cols.map(([key, label, num]) => {
    const th = el('th', { class: num ? 'num' : '' }, label);
    if (sortState && key) {
      if (sortState.sort === key) th.append(sortState.dir === 'asc' ? ' ▲' : ' ▼');
      th.addEventListener('click', () => onSort(key));
    }
    return th;
  }));
}

function moreButton(page, load) {
  const shown = page.offset + page.items.length;
  if (shown >= page.total) return null;
  return el('button', { class: 'more', onclick: e => { e.target.remove(); load(shown); } },
    'Show ' + Math.min(PAGE, page.total - shown) + ' more (' + (page.total - shown) + ' left)');
}

function fail(where, e) {
  where.replaceChildren(el('p', { class: 'error' }, String(e.message || e)));
}

function heaps() { return state.files.filter(f => f.kind === 'heap'); }
function profiles() { return state.files.filter(f => f.kind === 'profile'); }

// ---------- routing ----------

function parseHash() {
  const h = location_hash();
  const [path, query] = h.split('?');
  const params = new URLSearchParams(query || '');
  return { parts: path.split('/').filter(Boolean), params };
}

function location_hash() { return window.location.hash.replace(/^#/, '') || '/'; }

function go(hash) { window.location.hash = hash; }

async function route() {
  const { parts, params } = parseHash();
  const main = document.getElementById('main');
  if (params.has('s')) state.file = Number(params.get('s'));
  if (!state.files[state.file]) state.file = defaultFile();
  document.getElementById('file').value = String(state.file);
  const view = parts[0] || (state.files[state.file].kind === 'profile' ? 'profile' : 'summary');
  renderNav(view);
  main.replaceChildren();
  try {
    switch (view) {
      case 'object': await objectView(main, Number(parts[1]), state.file); break;
      case 'dominators': await dominatorView(main, state.file); break;
      case 'compare': await compareView(main, params); break;
      case 'leaks': await leaksView(main); break;
      case 'profile': await profileView(main, state.file, params); break;
      default: await summaryView(main, state.file, params);
    }
  } catch (e) {
    fail(main, e);
  }
  window.scrollTo(0, 0);
}

function defaultFile() {
  // The newest heap snapshot (the last given), else the first file.
  const hs = heaps();
  return hs.length ? hs[hs.length - 1].index : 0;
}

function renderNav(view) {
  const nav = document.getElementById('nav');
  const s = state.file;
  const isHeap = state.files[s] && state.files[s].kind === 'heap';
  const links = [];
  if (isHeap) {
    links.push(['summary', 'Summary', '#/summary?s=' + s]);
    links.push(['dominators', 'Dominator tree', '#/dominators?s=' + s]);
  }
  if (heaps().length >= 2) links.push(['compare', 'Comparison', '#/compare']);
  if (heaps().length >= 3) links.push(['leaks', 'Leaks', '#/leaks']);
  if (!isHeap) links.push(['profile', 'Allocation profile', '#/profile?s=' + s]);
  nav.replaceChildren(...links.map(([key, label, href]) =>
    el('a', { href, class: key === view ? 'active' : '' }, label)));
}

// ---------- Summary ----------

async function summaryView(main, s, params) {
  const f = state.files[s];
  const st = { filter: params.get('filter') || '', sort: params.get('sort') || 'retained', dir: params.get('dir') || 'desc' };
  main.append(el('h1', {}, 'Summary — ' + f.file));
  main.append(el('p', { class: 'muted' },
    f.node_count + ' objects, ' + f.edge_count + ' edges, total ' + bytes(f.total_size) +
    (f.allocation_traces ? ', with allocation stacks' : '')));
  const input = el('input', { type: 'search', placeholder: 'Filter classes', value: st.filter, id: 'class-filter' });
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { st.filter = input.value; load(0, true); }, 200);
  });
  main.append(el('div', {}, input));
  const table = el('table', { id: 'summary' });
  main.append(table);
  const footer = el('div');
  main.append(footer);
  const sortBy = key => {
    if (st.sort === key) st.dir = st.dir === 'asc' ? 'desc' : 'asc';
    else { st.sort = key; st.dir = key === 'name' || key === 'distance' ? 'asc' : 'desc'; }
    load(0, true);
  };
  async function load(offset, reset) {
    const page = await api(s + '/summary', { filter: st.filter, sort: st.sort, dir: st.dir, offset, limit: 100 });
    if (reset) {
      table.replaceChildren(heading([['name', 'Constructor'], ['distance', 'Distance', 1], ['count', 'Objects', 1],
        ['self', 'Shallow size', 1], ['retained', 'Retained size', 1]], st, sortBy));
      footer.replaceChildren();
    }
    for (const c of page.items) table.append(...classRows(c, s));
    const more = moreButton(page, o => load(o, false));
    if (more) footer.replaceChildren(more);
  }
  await load(0, true);
}

function classRows(c, s) {
  const toggle = el('span', { class: 'toggle' }, '▸');
  const loc = srcLoc(c.location);
  const row = el('tr', { class: 'class-row' },
    el('td', {}, toggle, el('a', { class: 'class-name' }, c.name),
      el('span', { class: 'muted' }, ' ×' + c.count), loc ? el('span', { class: 'muted mono' }, '  ' + loc) : null),
    numCell(distance(c.distance)), numCell(c.count), numCell(bytes(c.self_size)), numCell(bytes(c.retained_size)));
  let sub = null;
  const open = async () => {
    if (sub) { sub.forEach(r => r.remove()); sub = null; toggle.textContent = '▸'; return; }
    toggle.textContent = '▾';
    sub = [];
    let anchor = row;
    const load = async offset => {
      const page = await api(s + '/instances', { key: c.key, offset, limit: PAGE });
      for (const o of page.items) {
        const r = el('tr', { class: 'sub instance' },
          el('td', {}, el('span', { class: 'toggle' }), '  ', objectLink(o, s)),
          numCell(distance(o.distance)), numCell(''), numCell(bytes(o.self_size)), numCell(bytes(o.retained_size)));
        anchor.after(r); anchor = r; sub.push(r);
      }
      const more = moreButton(page, load);
      if (more) {
        const r = el('tr', { class: 'sub' }, el('td', { colspan: 5 }, more));
        anchor.after(r); anchor = r; sub.push(r);
        more.addEventListener('click', () => { r.remove(); anchor = sub[sub.indexOf(r) - 1] || row; });
      }
    };
    await load(0);
  };
  row.firstChild.addEventListener('click', e => { if (!e.target.closest('a.obj')) open(); });
  return [row];
}

// ---------- Object view ----------

async function objectView(main, id, s) {
  const v = await api(s + '/object/' + id, { limit: PAGE });
  const o = v.object;
  main.append(el('h1', { id: 'object-title' }, objectName(o), el('span', { class: 'muted' }, ' @' + o.id)));
  const kv = el('div', { class: 'kv' });
  const add = (k, ...val) => kv.append(el('div', {}, k), el('div', {}, ...val));
  add('File', state.files[s].file);
  add('Type', o.type + ' — class ' + o.class);
  add('Shallow size', bytes(o.self_size));
  add('Retained size', bytes(o.retained_size));
  add('Distance', distance(o.distance));
  if (v.location) add(o.type === 'closure' ? 'Function defined at' : 'Defined at', el('span', { class: 'mono', id: 'location' }, srcLoc(v.location)));
  add('Path', readablePath(v.readable_path, s));
  add('GC root path', hopsLine(v.gc_root_path, s, 'gc-root-path'));
  main.append(kv);
  if (v.value !== undefined && v.value !== null) {
    main.append(el('h2', {}, 'String value (' + v.value.length + ' characters)'), el('pre', { class: 'value', id: 'string-value' }, v.value));
  }
  if (v.allocation_stack) {
    main.append(el('h2', {}, 'Allocation stack (innermost first)'));
    const ul = el('ol', { id: 'allocation-stack', class: 'mono' });
    for (const f of v.allocation_stack) {
      ul.append(el('li', { class: f.kind }, f.function + (f.url ? ' at ' + f.url + (f.line ? ':' + f.line + ':' + f.column : '') : ' (built-in)'),
        f.kind !== 'user' ? el('span', { class: 'tag' }, f.kind) : null));
    }
    main.append(ul);
  }
  main.append(el('h2', {}, 'Retainers (DevTools\u2019 order)'));
  const weak = el('input', { type: 'checkbox', id: 'show-weak' });
  main.append(el('label', { class: 'muted' }, weak, ' show weak retainers (they do not keep it alive)'));
  const rt = el('table', { id: 'retainers' });
  main.append(rt);
  const fillRetainers = async () => {
    rt.replaceChildren(heading([[null, 'Object'], [null, 'Distance', 1], [null, 'Shallow size', 1], [null, 'Retained size', 1]]));
    await retainerLevel(rt, null, o.id, s, [o.id], 0, weak.checked);
  };
  weak.addEventListener('change', fillRetainers);
  await fillRetainers();
  main.append(el('h2', {}, 'Dominators (immediate first, up to the root)'));
  const dl = el('ol', { id: 'dominators' });
  for (const d of v.dominators) dl.append(el('li', {}, objectLink(d.object, s), el('span', { class: 'muted' }, '  retains ' + bytes(d.object.retained_size))));
  main.append(dl);
  main.append(el('h2', {}, 'Edges (' + v.edges.total + ', biggest retained size first)'));
  const et = el('table', { id: 'edges' });
  et.append(heading([[null, 'Edge'], [null, 'Object'], [null, 'Distance', 1], [null, 'Shallow size', 1], [null, 'Retained size', 1]]));
  main.append(et);
  const footer = el('div');
  main.append(footer);
  const addEdges = page => {
    for (const e of page.items) {
      et.append(el('tr', {}, el('td', { class: 'mono' }, edgeLabel(e.edge_type, e.name), e.weak ? el('span', { class: 'tag weak' }, 'weak') : null),
        el('td', {}, objectLink(e.to, s)), numCell(distance(e.to.distance)), numCell(bytes(e.to.self_size)), numCell(bytes(e.to.retained_size))));
    }
    const more = moreButton(page, async offset => addEdges(await api(s + '/edges/' + o.id, { offset, limit: PAGE })));
    footer.replaceChildren(...(more ? [more] : []));
  };
  addEdges(v.edges);
}

function readablePath(p, s) {
  const span = el('span', { class: 'path', id: 'readable-path' });
  const anchor = (p.file && (p.anchor_kind === 'module_variable' || p.anchor_kind === 'static') ? p.file + ': ' : '') + p.anchor;
  span.append(el('a', { href: objectHref(p.anchor_id, s) }, anchor));
  for (const h of p.hops) {
    if (!h.access.startsWith('.') && !h.access.startsWith('[')) span.append(' → ');
    span.append(el('a', { href: objectHref(h.id, s), title: h.class + ' @' + h.id }, h.access || '(internal)'),
      el('span', { class: 'muted' }, ' (' + h.class + ')'));
  }
  return span;
}

function hopsLine(hops, s, id) {
  const span = el('span', { class: 'path mono', id });
  hops.forEach((h, i) => {
    if (i) span.append(' → ');
    span.append(el('a', { href: objectHref(h.id, s) }, h.access), el('span', { class: 'muted' }, ' ' + h.class));
  });
  return span;
}

// One level of the retainers tree, inserted after `after` (or appended).
async function retainerLevel(table, after, id, s, branch, depth, weak, offset = 0) {
  const page = await api(s + '/retainers/' + id, { offset, limit: PAGE, weak });
  let anchor = after;
  const put = r => { if (anchor) anchor.after(r); else table.append(r); anchor = r; };
  const rows = [];
  for (const r of page.items) {
    const cycle = branch.includes(r.from.id);
    const canExpand = !cycle && r.from.distance > 1 && r.from.distance < 100000000;
    const toggle = el('span', { class: 'toggle' }, canExpand ? '▸' : '');
    const tr = el('tr', { class: 'retainer', 'data-depth': depth, 'data-id': r.from.id },
      el('td', { style: 'padding-left:' + (8 + depth * 16) + 'px' }, toggle,
        el('span', { class: 'mono' }, edgeLabel(r.edge_type, r.name)), ' in ', objectLink(r.from, s),
        r.weak ? el('span', { class: 'tag weak' }, 'weak') : null,
        r.edge_type === 'hidden' || r.edge_type === 'internal' ? el('span', { class: 'tag' }, r.edge_type) : null,
        cycle ? el('span', { class: 'tag cycle' }, 'cycle') : null),
      numCell(distance(r.from.distance)), numCell(bytes(r.from.self_size)), numCell(bytes(r.from.retained_size)));
    put(tr);
    rows.push(tr);
    if (canExpand) {
      let children = null;
      toggle.addEventListener('click', async () => {
        if (children) {
          for (const c of children) c.remove();
          children = null; toggle.textContent = '▸'; return;
        }
        toggle.textContent = '▾';
        children = await retainerLevel(table, tr, r.from.id, s, branch.concat(r.from.id), depth + 1, weak);
      });
    }
  }
  const more = moreButton(page, () => {});
  if (more) {
    const tr = el('tr', { class: 'retainer' }, el('td', { colspan: 4, style: 'padding-left:' + (8 + depth * 16) + 'px' }, more));
    put(tr);
    rows.push(tr);
    more.addEventListener('click', async () => {
      const prev = tr.previousElementSibling;
      tr.remove();
      rows.push(...await retainerLevel(table, prev, id, s, branch, depth, weak, page.offset + page.items.length));
    });
  }
  return rows;
}

// ---------- Dominator tree ----------

async function dominatorView(main, s) {
  main.append(el('h1', {}, 'Dominator tree — ' + state.files[s].file));
  main.append(el('p', { class: 'muted' }, 'Each object retains what is below it: nothing else keeps those alive. Biggest first.'));
  const table = el('table', { id: 'dominator-tree' });
  table.append(heading([[null, 'Object'], [null, 'Distance', 1], [null, 'Shallow size', 1], [null, 'Retained size', 1]]));
  main.append(table);
  await dominatedLevel(table, null, 'root', s, 0);
}

async function dominatedLevel(table, after, id, s, depth, offset = 0) {
  const page = await api(s + '/dominated/' + id, { offset, limit: PAGE });
  let anchor = after;
  const put = r => { if (anchor) anchor.after(r); else table.append(r); anchor = r; };
  const rows = [];
  for (const o of page.items) {
    const toggle = el('span', { class: 'toggle' }, '▸');
    const tr = el('tr', { class: 'dominated', 'data-id': o.id },
      el('td', { style: 'padding-left:' + (8 + depth * 16) + 'px' }, toggle, objectLink(o, s)),
      numCell(distance(o.distance)), numCell(bytes(o.self_size)), numCell(bytes(o.retained_size)));
    put(tr); rows.push(tr);
    let children = null;
    toggle.addEventListener('click', async () => {
      if (children) { children.forEach(c => c.remove()); children = null; toggle.textContent = '▸'; return; }
      toggle.textContent = '▾';
      children = await dominatedLevel(table, tr, o.id, s, depth + 1);
      if (!children.length) toggle.textContent = '';
    });
  }
  const more = moreButton(page, () => {});
  if (more) {
    const tr = el('tr', {}, el('td', { colspan: 4, style: 'padding-left:' + (8 + depth * 16) + 'px' }, more));
    put(tr); rows.push(tr);
    more.addEventListener('click', async () => {
      const prev = tr.previousElementSibling;
      tr.remove();
      rows.push(...await dominatedLevel(table, prev, id, s, depth, page.offset + page.items.length));
    });
  }
  return rows;
}

// ---------- Comparison ----------

async function compareView(main, params) {
  const hs = heaps();
  const b = Number(params.get('b') ?? hs[0].index);
  const t = Number(params.get('t') ?? hs[hs.length - 1].index);
  const pick = (id, value) => {
    const sel = el('select', { id });
    for (const h of hs) sel.append(el('option', { value: String(h.index) }, h.file));
    sel.value = String(value);
    return sel;
  };
  const bs = pick('compare-base', b), ts = pick('compare-target', t);
  const change = () => go('#/compare?b=' + bs.value + '&t=' + ts.value);
  bs.addEventListener('change', change); ts.addEventListener('change', change);
  main.append(el('h1', {}, 'Comparison'), el('div', {}, 'Base ', bs, '  →  target ', ts));
  const filter = el('input', { type: 'search', placeholder: 'Filter classes', id: 'compare-filter' });
  main.append(el('div', {}, filter));
  const table = el('table', { id: 'comparison' });
  main.append(table);
  const footer = el('div');
  main.append(footer);
  async function load(offset, reset) {
    const page = await api('compare/' + b + '/' + t, { filter: filter.value, offset, limit: 100 });
    if (reset) {
      table.replaceChildren(heading([[null, 'Constructor'], [null, '# New', 1], [null, '# Deleted', 1], [null, '# Delta', 1],
        [null, 'Alloc. size', 1], [null, 'Freed size', 1], [null, 'Size delta', 1]]));
      footer.replaceChildren();
    }
    for (const c of page.items) table.append(diffRow(c, b, t));
    const more = moreButton(page, o => load(o, false));
    if (more) footer.replaceChildren(more);
  }
  let timer = null;
  filter.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => load(0, true), 200); });
  await load(0, true);
}

function diffRow(c, b, t) {
  const toggle = el('span', { class: 'toggle' }, '▸');
  const tr = el('tr', { class: 'diff-row' }, el('td', {}, toggle, el('a', {}, c.name)),
    numCell(c.added_count), numCell(c.removed_count), numCell((c.count_delta > 0 ? '+' : '') + c.count_delta),
    numCell(bytes(c.added_size)), numCell(bytes(c.removed_size)), numCell(signedBytes(c.size_delta)));
  let sub = null;
  tr.firstChild.addEventListener('click', async e => {
    if (e.target.closest('a.obj')) return;
    if (sub) { sub.remove(); sub = null; toggle.textContent = '▸'; return; }
    toggle.textContent = '▾';
    const cell = el('td', { colspan: 7 });
    sub = el('tr', { class: 'sub' }, cell);
    tr.after(sub);
    for (const [which, label, s] of [['added', 'New objects (in the target)', t], ['removed', 'Deleted objects (in the base)', b]]) {
      const list = el('ul', { class: 'diff-objects ' + which });
      cell.append(el('div', { class: 'muted' }, label), list);
      const load = async offset => {
        const page = await api('compare/' + b + '/' + t + '/objects', { key: c.key, which, offset, limit: PAGE });
        for (const o of page.items) list.append(el('li', {}, objectLink(o, s), el('span', { class: 'muted' }, '  ' + bytes(o.self_size))));
        const more = moreButton(page, load);
        if (more) list.append(el('li', {}, more));
      };
      await load(0);
    }
  });
  return tr;
}

// ---------- Leaks ----------

async function leaksView(main) {
  const r = await api('leaks');
  main.append(el('h1', {}, 'Leaks'));
  if (r.unavailable) { main.append(el('p', { class: 'muted' }, r.unavailable)); return; }
  const last = r.snapshots.length - 1;
  const s = heaps()[heaps().length - 1].index;
  main.append(el('p', {}, r.new_surviving_objects + ' objects (' + bytes(r.new_surviving_bytes) +
    ') were allocated after the first snapshot and are still alive in the last (' + r.snapshots[last].file + ').'));
  if (!r.clusters.length) main.append(el('p', { id: 'no-leak' }, 'No leak found.'));
  for (const c of r.clusters) {
    const box = el('div', { class: 'cluster' });
    box.append(el('h2', {}, '#' + c.rank + ' ' + c.title + ' — ' + c.leaked_objects + ' leaked objects retaining ' + bytes(c.retained_size)));
    const kv = el('div', { class: 'kv' });
    const add = (k, ...v) => kv.append(el('div', {}, k), el('div', {}, ...v));
    add('what', objectLink(c.representative, s), c.representative.location ? el('span', { class: 'muted mono' }, '  ' + srcLoc(c.representative.location)) : null);
    if (c.held_by) {
      add('held by', c.holder ? el('a', { href: objectHref(c.holder.id, s) }, c.held_by.name) : c.held_by.name,
        el('span', { class: 'muted' }, ' (' + c.held_by.class + ')' + (c.held_by.file ? ' in ' + c.held_by.file : '')),
        c.holder_sizes ? el('span', { class: 'muted' }, ', grew ' + c.holder_sizes.map(bytes).join(' → ')) : null);
    }
    const path = el('span', { class: 'path' }, c.path.anchor.name);
    for (const seg of c.path.segments) {
      const parts = seg.hops.map(h => [el('a', { href: objectHref(h.id, s) }, h.access || h.class), el('span', { class: 'muted' }, ' (' + h.class + ')')]);
      path.append(' → ', ...(seg.repeat > 1 ? ['(', ...parts.flat(), ') ×' + seg.repeat] : parts.flat()));
    }
    add('path', path);
    for (const code of c.code || []) add('code', el('span', { class: 'mono' }, code.function + ' at ' + srcLoc(code.location)));
    add('examples', ...c.examples.flatMap(o => [objectLink(o, s), ' ']));
    add('fix', c.advice);
    box.append(kv);
    main.append(box);
  }
}

// ---------- Allocation profile ----------

async function profileView(main, s, params) {
  const fold = params.get('fold') === '1';
  main.append(el('h1', {}, 'Allocation profile — ' + state.files[s].file));
  const box = el('input', { type: 'checkbox', id: 'fold-internals' });
  box.checked = fold;
  box.addEventListener('change', () => go('#/profile?s=' + s + (box.checked ? '&fold=1' : '')));
  main.append(el('label', {}, box, ' fold Node.js internals into their callers'));
  const flame = await api(s + '/flame', { fold });
  main.append(el('h2', {}, 'Flame graph (live bytes at the end of sampling, inclusive: ' + bytes(flame.total) + ')'));
  const depth = flame.boxes.reduce((m, b) => Math.max(m, b.depth), 0);
  const g = el('div', { class: 'flame', id: 'flame' });
  g.style.height = ((depth + 1) * 18) + 'px';
  for (const b of flame.boxes) {
    const d = el('div', { class: b.kind, title: b.function + ' ' + (b.url || '(built-in)') + (b.line > 0 ? ':' + b.line + ':' + b.column : '') +
      '\n' + bytes(b.total) + ' total, ' + bytes(b.self_size) + ' self' + (b.folded ? ', ' + b.folded + ' internal frames folded' : '') },
    b.function);
    d.style.left = (100 * b.start / Math.max(flame.total, 1)) + '%';
    d.style.width = (100 * b.total / Math.max(flame.total, 1)) + '%';
    d.style.top = (b.depth * 18) + 'px';
    g.append(d);
  }
  main.append(g);
  main.append(el('h2', {}, 'Bottom-up (by function; click to see its callers)'));
  const table = el('table', { id: 'bottom-up' });
  main.append(table);
  const footer = el('div');
  main.append(footer);
  table.append(heading([[null, 'Function'], [null, 'Self size', 1], [null, 'Total size', 1]]));
  const load = async offset => {
    const page = await api(s + '/bottomup', { fold, offset, limit: 100 });
    for (const r of page.items) table.append(bottomUpRow(r, s, fold));
    const more = moreButton(page, load);
    footer.replaceChildren(...(more ? [more] : []));
  };
  await load(0);
}

function bottomUpRow(r, s, fold) {
  const toggle = el('span', { class: 'toggle' }, '▸');
  const tr = el('tr', { class: 'bottom-up-row' }, el('td', {}, toggle, r.function, el('span', { class: 'muted mono' },
    '  ' + (r.url || '(built-in)') + (r.line > 0 ? ':' + r.line + ':' + r.column : '')), r.kind !== 'user' ? el('span', { class: 'tag' }, r.kind) : null),
  numCell(bytes(r.self_size)), numCell(bytes(r.total)));
  let sub = null;
  tr.firstChild.addEventListener('click', async () => {
    if (sub) { sub.remove(); sub = null; toggle.textContent = '▸'; return; }
    toggle.textContent = '▾';
    const page = await api(s + '/bottomup', { fold, callers: r.key, limit: 100 });
    const list = el('ul', {});
    for (const c of page.items) list.append(el('li', {}, 'called by ' + c.function + ' ', el('span', { class: 'muted mono' }, (c.url || '') + (c.line > 0 ? ':' + c.line : '')), '  ' + bytes(c.self_size)));
    if (!page.items.length) list.append(el('li', { class: 'muted' }, '(top of the stack)'));
    sub = el('tr', { class: 'sub' }, el('td', { colspan: 3 }, list));
    tr.after(sub);
  });
  return tr;
}

// ---------- start ----------

async function start() {
  state.files = await api('files');
  const sel = document.getElementById('file');
  for (const f of state.files) sel.append(el('option', { value: String(f.index) }, f.file + (f.kind === 'profile' ? ' (profile)' : '')));
  sel.addEventListener('change', () => {
    const s = Number(sel.value);
    go(state.files[s].kind === 'profile' ? '#/profile?s=' + s : '#/summary?s=' + s);
  });
  window.addEventListener('hashchange', route);
  await route();
}

start().catch(e => fail(document.getElementById('main'), e));
