// The DevTools oracle: Chrome DevTools' own heap snapshot worker code
// (bundled from the npm package `chrome-devtools-frontend` by ../build.mjs)
// driven from the command line, printing JSON to stdout.
//
//   analyze FILE [--per-node]   summary numbers, statistics, class aggregates
//                               (and per-node retained/distance/dominator/self)
//   compare BASE TARGET         the Comparison view: TARGET against BASE
//   retainers FILE COUNT        sampled objects: retainers in the Retainers view's
//                               order, dominator, retained size
//   time FILE                   load + the analysis DevTools does on opening a
//                               snapshot (Summary view); prints {ms}
//
// A snapshot is loaded the way DevTools loads one: the file is streamed in
// 10 MB text chunks into HeapSnapshotLoader, and initialisation is split over
// two threads (the second one, a worker_thread here, runs SecondaryInitManager:
// retainers, dominators and retained sizes), exactly as in the browser.

import {createReadStream} from 'node:fs';
import {performance} from 'node:perf_hooks';
import {isMainThread, MessageChannel, Worker, workerData} from 'node:worker_threads';

import * as HeapSnapshot from 'devtools:front_end/entrypoints/heap_snapshot_worker/HeapSnapshot.js';
import * as HeapSnapshotLoader from 'devtools:front_end/entrypoints/heap_snapshot_worker/HeapSnapshotLoader.js';
import * as HeapSnapshotModel from 'devtools:front_end/models/heap_snapshot/HeapSnapshotModel.js';

type JSHeapSnapshot = HeapSnapshot.JSHeapSnapshot;

// What DevTools' front end uses to read a snapshot file (ChunkedFileReader).
const CHUNK_SIZE = 10_000_000;

// Progress events go nowhere.
const silentDispatcher = {
  sendEvent(): void {},
};

async function load(path: string): Promise<JSHeapSnapshot> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const loader = new HeapSnapshotLoader.HeapSnapshotLoader(silentDispatcher as any);
  const stream = createReadStream(path, {encoding: 'utf8', highWaterMark: CHUNK_SIZE});
  for await (const chunk of stream) {
    loader.write(chunk as string);
    // Let the loader's parser consume the chunk before the next one arrives.
    await new Promise(resolve => setImmediate(resolve));
  }
  loader.close();

  const {port1, port2} = new MessageChannel();
  const worker = new Worker(__filename, {workerData: {secondaryPort: port2}, transferList: [port2]});
  worker.on('error', e => {
    console.error('heap snapshot second worker failed:', e);
    process.exit(2);
  });
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return await loader.buildSnapshot(port1 as any);
  } finally {
    port1.close();
    await worker.terminate();
  }
}

function analyze(snapshot: JSHeapSnapshot, perNode: boolean): object {
  const root = snapshot.rootNode();
  const statistics = snapshot.getStatistics();
  const aggregates = snapshot.aggregatesWithFilter(new HeapSnapshotModel.NodeFilter());
  const classes = [];
  for (const key in aggregates) {
    const a = aggregates[key];
    classes.push({key, name: a.name, count: a.count, self: a.self, retained: a.maxRet, distance: a.distance});
  }
  const out: Record<string, unknown> = {
    node_count: snapshot.nodeCount,
    edge_count: snapshot.containmentEdges.length / snapshot.edgeFieldsCount,
    total_size: snapshot.totalSize,
    root_retained: root.retainedSize(),
    statistics,
    classes,
  };
  if (perNode) {
    const n = snapshot.nodeCount;
    const self = new Array(n);
    const node = snapshot.createNode(0);
    for (let i = 0; i < n; i++) {
      node.nodeIndex = i * snapshot.nodeFieldCount;
      self[i] = node.selfSize();
    }
    out.per_node = {
      retained: Array.from(snapshot.retainedSizes.subarray(0, n)),
      distance: Array.from(snapshot.nodeDistances.subarray(0, n)),
      dominator: Array.from(snapshot.dominatorsTree.subarray(0, n)),
      self,
    };
  }
  return out;
}

function compare(base: JSHeapSnapshot, target: JSHeapSnapshot): object {
  // As HeapSnapshotDiffDataGrid does: the base snapshot is aggregated with the
  // target's interface definitions, then the target computes the diff.
  const interfaceDefinitions = target.interfaceDefinitions();
  const baseAggregates = base.aggregatesForDiff(interfaceDefinitions);
  const diff = target.calculateSnapshotDiff(1, baseAggregates);
  const out = [];
  for (const key in diff) {
    const d = diff[key];
    out.push({
      key,
      name: d.name,
      added_count: d.addedCount,
      removed_count: d.removedCount,
      count_delta: d.countDelta,
      added_size: d.addedSize,
      removed_size: d.removedSize,
      size_delta: d.sizeDelta,
    });
  }
  return out;
}

// The Object view of sampled objects as DevTools' Retainers view shows
// them: retainers through the worker's own provider, filter and the grid's
// default sort (distance ascending, then name), with each object's
// dominator and retained size. Samples: `count` objects spread evenly over
// the node ordinals, plus the `count` with the most retainers.
function retainers(snapshot: JSHeapSnapshot, count: number): object {
  const n = snapshot.nodeCount;
  const first = snapshot.firstRetainerIndex;
  const byRetainers = Array.from({length: n}, (_, i) => i)
                          .sort((a, b) => (first[b + 1] - first[b]) - (first[a + 1] - first[a]) || a - b)
                          .slice(0, count);
  const spread = Array.from({length: count}, (_, k) => Math.floor(k * n / count));
  const ordinals = [...new Set([...spread, ...byRetainers])];
  const idOf = (ordinal: number): number => snapshot.nodes.getValue(ordinal * snapshot.nodeFieldCount + snapshot.nodeIdOffset);
  const sort = new HeapSnapshotModel.ComparatorConfig('!edgeDistance', true, 'name', true);
  return ordinals.map(ordinal => {
    const provider = snapshot.createRetainingEdgesProvider(ordinal * snapshot.nodeFieldCount);
    provider.sortAndRewind(sort);
    const range = provider.serializeItemsRange(0, 200);
    return {
      id: idOf(ordinal),
      retained: snapshot.retainedSizes[ordinal],
      dominator: idOf(snapshot.dominatorsTree[ordinal]),
      total_retainers: range.totalLength,
      retainers: range.items.map(e => {
        const edge = e as HeapSnapshotModel.Edge;
        return {from: edge.node.id, type: edge.type, name: String(edge.name)};
      }),
    };
  });
}

function usage(): never {
  console.error('usage: devtools-oracle (analyze FILE [--per-node] | compare BASE TARGET | retainers FILE COUNT | time FILE)');
  process.exit(64);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  let result: object;
  switch (command) {
    case 'analyze': {
      const files = rest.filter(a => !a.startsWith('--'));
      if (files.length !== 1) {
        usage();
      }
      result = analyze(await load(files[0]), rest.includes('--per-node'));
      break;
    }
    case 'compare': {
      if (rest.length !== 2) {
        usage();
      }
      const base = await load(rest[0]);
      const target = await load(rest[1]);
      result = compare(base, target);
      break;
    }
    case 'retainers': {
      if (rest.length !== 2) {
        usage();
      }
      result = retainers(await load(rest[0]), Number(rest[1]));
      break;
    }
    case 'time': {
      if (rest.length !== 1) {
        usage();
      }
      const start = performance.now();
      const snapshot = await load(rest[0]);
      const loaded = performance.now();
      // Opening a snapshot shows the Summary view: statistics and the class
      // aggregates of all objects.
      snapshot.getStatistics();
      snapshot.aggregatesWithFilter(new HeapSnapshotModel.NodeFilter());
      const end = performance.now();
      result = {ms: Math.round(end - start), load_ms: Math.round(loaded - start), node_count: snapshot.nodeCount};
      break;
    }
    default:
      usage();
  }
  // Exit only once stdout is flushed: a pipe takes large outputs in pieces.
  await new Promise<void>(resolve => process.stdout.write(JSON.stringify(result) + '\n', () => resolve()));
}

if (isMainThread) {
  main(process.argv.slice(2)).then(
      () => process.exit(0),
      e => {
        console.error(e?.stack ?? String(e));
        process.exit(1);
      });
} else {
  // The second heap snapshot thread.
  new HeapSnapshot.SecondaryInitManager(workerData.secondaryPort);
}
