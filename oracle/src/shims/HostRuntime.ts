// Stand-in for DevTools' `core/platform/HostRuntime.js`, whose top-level
// `await import(...)` cannot be bundled as CommonJS. In Node.js the real module
// selects `./node/node.js`; this shim makes that choice statically. (The heap
// snapshot analysis itself never touches HOST_RUNTIME.)
import * as NodeRuntime from 'devtools:front_end/core/platform/node/node.js';

export const IS_NODE = true;
export const IS_BROWSER = false;
export const HOST_RUNTIME = NodeRuntime.HostRuntime.HOST_RUNTIME;
