#!/usr/bin/env node
// The CLI is TypeScript run directly by Node's type stripping, so a clone needs no build step.
// Node >= 22.18 strips types by default; 22.6-22.17 need a flag, so re-run ourselves with it.
import { spawnSync } from 'node:child_process';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(
    `portcullis: Node.js >= 22 is required (this is ${process.version}). ` +
      'Run it through npm (npx portcullis, npm run ...), which uses the Node 24 pinned in devDependencies.\n',
  );
  process.exit(2);
}
if (major === 22 && minor < 18 && !process.execArgv.includes('--experimental-strip-types')) {
  const args = ['--experimental-strip-types', '--no-warnings', ...process.argv.slice(1)];
  const child = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.exit(child.status ?? 2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
