// The TypeScript compiler holding the program of its own typescript.js (a
// 9 MB JavaScript file, with the default lib files), as a build server
// does, then its type checker:
//
//   node bench/programs/typescript-program.js PREFIX
//
// Snapshot 1: the program (syntax trees of typescript.js and the lib files);
// 2: with the type checker (bound symbols, global types); 3: after checking
// a small TypeScript file against them. What is made after snapshot 1 and
// kept is what find-leaks weighs: hundreds of thousands of objects.
'use strict';
const path = require('path');
const ts = require('typescript');
const { series } = require('./snapshots');

const snapshot = series('typescript-program.js');
const tsFile = require.resolve('typescript/lib/typescript.js');
const editFile = path.join(__dirname, 'edit.ts');
const editText = Array.from({ length: 40 }, (_, i) =>
  `export function handler${i}(input: { id: number; tags: string[] }): string {\n` +
  `  return input.tags.map(t => t + ${i}).join(",") + input.id;\n}\n`).join('');
const options = {
  allowJs: true,
  noEmit: true,
  skipLibCheck: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.CommonJS,
  types: [],
};

// The second file lives in memory; everything else is read from disk.
const host = ts.createCompilerHost(options);
const readFile = host.readFile.bind(host);
host.readFile = f => (path.resolve(f) === editFile ? editText : readFile(f));
host.fileExists = f => path.resolve(f) === editFile || ts.sys.fileExists(f);

const server = { program: ts.createProgram({ rootNames: [tsFile, editFile], options, host }) };
snapshot('program');
server.checker = server.program.getTypeChecker();
snapshot('type checker');
server.diagnostics = server.program.getSemanticDiagnostics(server.program.getSourceFile(editFile));
snapshot(`checked edit.ts (${server.diagnostics.length} diagnostics)`);
