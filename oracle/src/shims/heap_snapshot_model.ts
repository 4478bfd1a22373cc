// Stand-in for DevTools' `models/heap_snapshot/heap_snapshot.js` barrel: the
// worker only needs the plain data model (HeapSnapshotModel), not the
// front-end proxy classes that drag in DevTools' UI infrastructure.
import * as HeapSnapshotModel from 'devtools:front_end/models/heap_snapshot/HeapSnapshotModel.js';

export {HeapSnapshotModel};
