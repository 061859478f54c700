/**
 * The single benchmark entry: `npm run bench` runs every benchmark, `npm run bench -- NAME...` some.
 * Benchmarks print figures; they assert nothing about time (tests never do).
 */
import { runAuditBench } from './audit.ts';
import { formatRegistryBench, runRegistryBench } from './registry.ts';
import { runSignatureBench } from './signatures.ts';
import { runWebhookBench } from './webhook.ts';

const benchmarks: Readonly<Record<string, () => Promise<string>>> = {
  registry: async () => formatRegistryBench(await runRegistryBench({ log: (line) => console.error(line) })),
  signatures: () => runSignatureBench((line) => console.error(line)),
  webhook: () => runWebhookBench((line) => console.error(line)),
  audit: () => runAuditBench((line) => console.error(line)),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in benchmarks));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; available: ${Object.keys(benchmarks).join(', ')}`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(benchmarks)) {
  try {
    console.log(await (benchmarks[name] as () => Promise<string>)());
  } catch (error) {
    console.error(`benchmark ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
