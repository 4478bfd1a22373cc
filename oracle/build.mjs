// Bundles Chrome DevTools' own heap snapshot worker (HeapSnapshot.ts and
// HeapSnapshotLoader.ts from the npm package `chrome-devtools-frontend`, as
// TypeScript sources straight out of node_modules) with the oracle CLI in
// src/oracle.ts into dist/devtools-oracle.cjs.
//
// Nothing of DevTools is copied or changed: only modules the worker imports
// but does not need for analysis (UI string localisation) are replaced by
// small shims under src/shims/.
//
// Usage: npm ci --prefix oracle && node oracle/build.mjs
import {build} from 'esbuild';
import {existsSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const frontEnd = join(here, 'node_modules', 'chrome-devtools-frontend', 'front_end');
if (!existsSync(frontEnd)) {
  console.error(`${frontEnd} is missing: run \`npm ci --prefix oracle\` first`);
  process.exit(1);
}

// DevTools modules (relative to front_end/) replaced by shims.
const shims = new Map([
  // UI string localisation: only used for progress messages.
  ['core/i18n/i18n.ts', join(here, 'src', 'shims', 'i18n.ts')],
  // Picks the host runtime with a top-level await (not bundlable as CJS).
  ['core/platform/HostRuntime.ts', join(here, 'src', 'shims', 'HostRuntime.ts')],
  // Barrels whose other members pull in DevTools' UI infrastructure.
  ['models/heap_snapshot/heap_snapshot.ts', join(here, 'src', 'shims', 'heap_snapshot_model.ts')],
  ['core/text_utils/text_utils.ts', join(here, 'src', 'shims', 'text_utils.ts')],
  ['core/text_utils/ContentData.ts', join(here, 'src', 'shims', 'ContentData.ts')],
].map(([rel, shim]) => [join(frontEnd, rel), shim]));

const devtoolsPlugin = {
  name: 'devtools',
  setup(b) {
    // `devtools:front_end/...` in the oracle's sources names a DevTools module.
    b.onResolve({filter: /^devtools:/}, args => {
      const rel = args.path.slice('devtools:'.length).replace(/^front_end\//, '');
      return {path: join(frontEnd, rel.replace(/\.js$/, '.ts'))};
    });
    // Relative imports between DevTools modules: `./x.js` names `./x.ts`.
    b.onResolve({filter: /^\.\.?\//}, args => {
      if (!args.importer.startsWith(frontEnd)) {
        return undefined;
      }
      const target = join(dirname(args.importer), args.path).replace(/\.js$/, '.ts');
      const shim = shims.get(target);
      return shim ? {path: shim} : undefined;
    });
  },
};

const result = await build({
  entryPoints: [join(here, 'src', 'oracle.ts')],
  outfile: join(here, 'dist', 'devtools-oracle.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: false,
  metafile: true,
  logLevel: 'warning',
  plugins: [devtoolsPlugin],
  // DevTools targets current Chrome; Node 20 lacks Promise.withResolvers.
  banner: {
    js: `if (!Promise.withResolvers) {
  Promise.withResolvers = function() {
    let resolve, reject;
    const promise = new this((res, rej) => { resolve = res; reject = rej; });
    return {promise, resolve, reject};
  };
}`,
  },
});

const inputs = Object.keys(result.metafile.inputs);
const fromDevtools = inputs.filter(p => p.includes('chrome-devtools-frontend/'));
console.log(`dist/devtools-oracle.cjs: ${inputs.length} modules, ${fromDevtools.length} from chrome-devtools-frontend`);
if (process.env.ORACLE_BUILD_VERBOSE) {
  for (const p of inputs) {
    console.log('  ' + p);
  }
}
