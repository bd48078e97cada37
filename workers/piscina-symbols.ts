/**
 * Piscina's internal symbols: the ones its worker runtime reads on a reply
 * to move it (`kMovable`, `kTransferable`, `kValue`), and the one under
 * which its thread views keep their thread (`kWorkerData`). Piscina does
 * not export them from its main module.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface PiscinaSymbols {
  kMovable: symbol;
  kTransferable: symbol;
  kValue: symbol;
  kWorkerData: symbol;
}

// In a pool thread, Piscina's worker script is the main module and its
// symbols module sits beside it, already loaded: requiring it from there
// costs nothing, while resolving 'piscina' costs a starting thread ~2 ms
// (and importing Piscina's main module, for Piscina.move(), ~20 ms).
function load(): PiscinaSymbols {
  const require = createRequire(import.meta.url);
  const main = require.main?.filename;
  if (main?.endsWith(join('piscina', 'dist', 'worker.js'))) return createRequire(main)('./symbols.js') as PiscinaSymbols;
  return require(join(dirname(require.resolve('piscina')), 'symbols.js')) as PiscinaSymbols;
}

export const piscinaSymbols = load();
