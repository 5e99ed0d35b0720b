// Builds the JavaScript keyword router into <outdir>/keyword-router-js.wasm with the componentize-js API.
// The API is used instead of `jco componentize`, whose CLI cannot read the WIT directory here
// (see docs/plugins.md). Usage: node build.mjs [outdir], outdir defaulting to ../dist.
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(process.argv[2] ?? resolve(here, '../dist'));

const { component } = await componentize({
  sourcePath: resolve(here, 'router.js'),
  witPath: resolve(here, '../../wit'),
  worldName: 'routing-application',
  // With every WASI-backed feature off the component imports only switchyard:routing,
  // which is all the host links. The price: an uncaught exception traps silently.
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});

await mkdir(outDir, { recursive: true });
const out = resolve(outDir, 'keyword-router-js.wasm');
await writeFile(out, component);
console.log(`wrote ${out} (${component.byteLength} bytes)`);
