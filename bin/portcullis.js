#!/usr/bin/env node
// The CLI is TypeScript run directly by Node's type stripping (Node >= 22.18), so a clone
// needs no build step. Refuse older runtimes with a clear message instead of a syntax error.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `portcullis: Node.js >= 22.18 is required (this is ${process.version}). ` +
      'Run it through npm (npx portcullis / npm run ...), which uses the Node 24 pinned in devDependencies.\n',
  );
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
