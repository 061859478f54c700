import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cli } from './run.ts';

const POLICIES = 'examples/policies';
const PINNED =
  'ghcr.io/acme/api:1.4.2@sha256:14c2529eb4498c5d1ffd6915d05bf58a91bdda796af59f41d480d11c099d0479';

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

test('verify: an allowed image exits 0 and the text names the policies it passed', async () => {
  const r = await cli(['verify', PINNED, '--policy', POLICIES, '--offline']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ALLOW ghcr\.io\/acme\/api:1\.4\.2@sha256:14c2/m);
  assert.match(r.stdout, /passed: .*production/);
  assert.ok(!r.stdout.includes('\u001b['), 'no colour when the output is not a terminal');
});

test('verify: one denied image makes the run exit 1, with the policy, rule and reason', async () => {
  const r = await cli(['verify', PINNED, 'nginx:latest', '--policy', POLICIES, '--offline']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^DENY {2}nginx:latest \(docker\.io\/library\/nginx:latest\)$/m);
  assert.match(r.stdout, /policy [\w-]+, rule no-latest: tag "latest" is forbidden/);
  assert.match(r.stdout, /2 image\(s\): 1 allowed, 0 allowed with warnings, 1 denied/);
});

test('verify --output json follows the documented contract', async () => {
  const r = await cli(['verify', PINNED, 'nginx:latest', '-p', POLICIES, '--offline', '-o', 'json']);
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout);
  assert.equal(report.apiVersion, 'portcullis.dev/report/v1');
  assert.equal(report.kind, 'Report');
  assert.equal(report.command, 'verify');
  assert.match(report.policySet.version, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(report.summary, { images: 2, allowed: 1, warned: 0, denied: 1 });
  const [ok, bad] = report.results;
  assert.equal(ok.image, PINNED);
  assert.equal(ok.reference, PINNED);
  assert.equal(ok.digest, 'sha256:14c2529eb4498c5d1ffd6915d05bf58a91bdda796af59f41d480d11c099d0479');
  assert.equal(ok.allowed, true);
  assert.equal(ok.mode, 'enforce');
  assert.equal(bad.reference, 'docker.io/library/nginx:latest');
  assert.equal(bad.allowed, false);
  assert.equal(bad.outcome, 'deny');
  const failing = bad.policies.flatMap((p: { rules: { verdict: string; name: string; kind: string }[] }) =>
    p.rules.filter((x) => x.verdict === 'fail'),
  );
  assert.ok(failing.some((x: { name: string; kind: string }) => x.name === 'no-latest' && x.kind === 'tags'));
  for (const p of bad.policies) {
    assert.match(p.version, /^sha256:/);
    assert.equal(p.source.file.endsWith('.yaml'), true);
  }
  assert.deepEqual(report.problems, []);
});

test('usage errors exit 2 with a one-line message and no stack trace', async () => {
  const noPolicy = await cli(['verify', 'nginx']);
  assert.equal(noPolicy.code, 2);
  assert.equal(noPolicy.stderr, 'portcullis: at least one --policy PATH is required\n');

  const badOption = await cli(['verify', 'nginx', '--bogus']);
  assert.equal(badOption.code, 2);
  assert.match(badOption.stderr, /unknown option '--bogus'/);

  const badFormat = await cli(['verify', 'nginx', '-p', POLICIES, '-o', 'yaml']);
  assert.equal(badFormat.code, 2);
  assert.match(badFormat.stderr, /Allowed choices are text, json/);

  const missing = await cli(['verify', 'nginx', '-p', '/nonexistent/policies']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /\/nonexistent\/policies/);
  for (const r of [noPolicy, badOption, badFormat, missing]) assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a broken policy set is a configuration error: every problem with file:line:column, nothing verified', async () => {
  const path = await tempFile(
    'bad.yaml',
    [
      'apiVersion: portcullis.dev/v1alpha1',
      'kind: ImagePolicy',
      'metadata: {name: broken}',
      'spec:',
      '  images: [{glob: "ghcr.io/[x"}]',
      '  rules:',
      '    - tags: {forbid: [latest], bogus: 1}',
      '',
    ].join('\n'),
  );
  const r = await cli(['verify', 'nginx', '-p', path]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^${path}:5:\\d+: error: .*spec\\.images\\[0\\]\\.glob`, 'm'));
  assert.match(r.stderr, new RegExp(`^${path}:7:\\d+: error: unknown field "bogus"`, 'm'));
  assert.match(r.stderr, /portcullis: the policy set has 2 error\(s\); nothing was verified/);
});

test('policy lint: exit 0 on the examples, 2 with positioned errors, JSON on request', async () => {
  const good = await cli(['policy', 'lint', POLICIES]);
  assert.equal(good.code, 0);
  assert.match(good.stdout, /polic(y|ies) valid \(sha256:/);

  const path = await tempFile('dup.yaml', 'apiVersion: portcullis.dev/v1alpha1\nkind: Nope\n');
  const bad = await cli(['policy', 'lint', path, '-o', 'json']);
  assert.equal(bad.code, 2);
  const report = JSON.parse(bad.stdout);
  assert.equal(report.kind, 'LintReport');
  assert.equal(report.valid, false);
  assert.equal(report.diagnostics[0].file, path);
  assert.equal(report.diagnostics[0].line, 2);
});

test('check: every image in the bundled examples, each with where it was found', async () => {
  const r = await cli(['check', 'examples/manifests', '-p', POLICIES, '--offline', '-o', 'json']);
  assert.equal(r.code, 1, 'the examples deliberately include denied images');
  const report = JSON.parse(r.stdout);
  assert.equal(report.command, 'check');
  assert.ok(report.summary.allowed > 0 && report.summary.denied > 0);
  for (const result of report.results) {
    assert.ok(result.source.file.startsWith('examples/manifests/'));
    assert.ok(result.source.line > 0 && result.source.column > 0);
    assert.ok(['kubernetes', 'compose', 'dockerfile'].includes(result.source.format));
  }
  const cron = report.results.find((x: { source: { kind?: string } }) => x.source.kind === 'CronJob');
  assert.equal(cron.source.path, 'spec.jobTemplate.spec.template.spec.containers[0].image');
  const latest = report.results.find((x: { image: string }) => x.image === 'nginx:latest');
  assert.equal(latest.allowed, false);
});

test('check reads standard input with -, and reports an invalid reference for that image only', async () => {
  const manifest = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata: {name: p, namespace: ns}',
    'spec:',
    '  containers:',
    '    - {name: ok, image: "' + PINNED + '"}',
    '    - {name: bad, image: "ghcr.io/Acme/x:1"}',
    '',
  ].join('\n');
  const r = await cli(['check', '-', '-p', POLICIES, '--offline', '-o', 'json'], manifest);
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout);
  assert.equal(report.results.length, 2);
  assert.equal(report.results[0].allowed, true);
  assert.equal(report.results[0].source.file, '-');
  assert.equal(report.results[1].allowed, false);
  assert.match(
    report.results[1].reasons[0],
    /invalid image reference "ghcr\.io\/Acme\/x:1": repository name must be lowercase/,
  );
  assert.equal(report.results[1].source.path, 'spec.containers[1].image');
  assert.equal(report.results[1].source.line, 7);
});

test('check: an unreadable manifest is an input error (exit 2) while the other files are still judged', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-check-'));
  await writeFile(join(dir, 'broken.yaml'), 'apiVersion: v1\nkind: Pod\nspec: {containers: [\n');
  await writeFile(
    join(dir, 'good.yaml'),
    `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: "${PINNED}"}]\n`,
  );
  const r = await cli(['check', dir, '-p', POLICIES, '--offline']);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /^ALLOW ghcr\.io\/acme\/api/m);
  assert.match(r.stdout, /^ERROR .*broken\.yaml:\d+:\d+: /m);
  assert.match(r.stdout, /1 allowed, 0 allowed with warnings, 0 denied, \d+ input error\(s\)$/m);
});

test('check: a manifest with no images is fine and says so', async () => {
  const path = await tempFile(
    'cm.yaml',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n',
  );
  const r = await cli(['check', path, '-p', POLICIES, '--offline']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^0 image\(s\)/m);
});

test('the installed command runs on a clone: npx portcullis exits 1 on the demo and prints no stack trace', () => {
  const r = spawnSync(
    process.execPath,
    ['bin/portcullis.js', 'check', 'examples/manifests', '--policy', POLICIES, '--offline'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /^ALLOW /m);
  assert.match(r.stdout, /^DENY {2}/m);
  assert.equal(r.stderr, '');
});

test('check --build-arg fills a Dockerfile ARG that has no default; without it the image is an input error', async () => {
  const path = await tempFile('Dockerfile', 'ARG TAG\nFROM ghcr.io/acme/base:${TAG}\n');
  const without = await cli(['check', path, '-p', POLICIES, '--offline', '-o', 'json']);
  assert.equal(without.code, 2);
  assert.match(
    JSON.parse(without.stdout).problems[0].message,
    /ARG TAG has no default; pass it with --build-arg TAG=<value>/,
  );

  const withArg = await cli([
    'check',
    path,
    '-p',
    POLICIES,
    '--offline',
    '-o',
    'json',
    '--build-arg',
    'TAG=1.0',
  ]);
  const report = JSON.parse(withArg.stdout);
  assert.deepEqual(report.problems, []);
  assert.equal(report.results[0].image, 'ghcr.io/acme/base:1.0');

  const bad = await cli(['check', path, '-p', POLICIES, '--build-arg', 'TAG']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'portcullis: --build-arg takes NAME=VALUE, not "TAG"\n');
});
