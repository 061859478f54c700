import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractImages } from '../../src/sources/index.ts';
import { brief } from './helpers.ts';

void test('FROM: flags skipped, stage names recorded, scratch and stage references skipped', () => {
  const text = `# syntax=docker/dockerfile:1
FROM --platform=linux/amd64 golang:1.23 AS Build
RUN go build ./...

from build as test
FROM scratch AS export
FROM BUILD
FROM gcr.io/distroless/static:nonroot
`;
  const result = extractImages('Dockerfile', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.images, [
    {
      image: 'golang:1.23',
      source: {
        file: 'Dockerfile',
        line: 2,
        column: 29,
        format: 'dockerfile',
        path: 'stages[0].FROM',
        name: 'Build',
      },
    },
    {
      image: 'gcr.io/distroless/static:nonroot',
      source: { file: 'Dockerfile', line: 8, column: 6, format: 'dockerfile', path: 'stages[4].FROM' },
    },
  ]);
});

void test('ARG defaults are substituted in FROM in $X, ${X} and ${X:-default} forms, with a note', () => {
  const text = `ARG REGISTRY=ghcr.io/acme
ARG NAME=api VERSION=1.4
ARG EMPTY=
FROM $REGISTRY/\${NAME}:\${VERSION}
FROM \${REGISTRY}/tools:\${TOOLS_VERSION:-2.0}
FROM \${REGISTRY}/base\${EMPTY:-:3}
FROM \${REGISTRY}/plain\${EMPTY-:ignored}
`;
  const result = extractImages('Dockerfile', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(
    result.images.map((i) => [i.image, i.note]),
    [
      [
        'ghcr.io/acme/api:1.4',
        'ARG REGISTRY substituted with default "ghcr.io/acme"; ARG NAME substituted with default "api"; ARG VERSION substituted with default "1.4"',
      ],
      [
        'ghcr.io/acme/tools:2.0',
        'ARG REGISTRY substituted with default "ghcr.io/acme"; ${TOOLS_VERSION:-2.0}: ARG TOOLS_VERSION is not set, so the fallback was used',
      ],
      [
        'ghcr.io/acme/base:3',
        'ARG REGISTRY substituted with default "ghcr.io/acme"; ${EMPTY:-:3}: ARG EMPTY is empty, so the fallback was used',
      ],
      [
        'ghcr.io/acme/plain',
        'ARG REGISTRY substituted with default "ghcr.io/acme"; ARG EMPTY substituted with default ""',
      ],
    ],
  );
  assert.deepEqual(brief(result)[0], { image: 'ghcr.io/acme/api:1.4', path: 'stages[0].FROM', at: '4:6' });
});

void test('only global ARGs are visible to FROM; a stage ARG re-declaring a global inherits its value', () => {
  const text = `ARG BASE=alpine:3.20
FROM $BASE AS one
ARG BASE
ARG LOCAL=debian:12
COPY --from=$BASE /a /a
FROM $LOCAL
`;
  const result = extractImages('Dockerfile', text);
  assert.deepEqual(brief(result), [
    { image: 'alpine:3.20', path: 'stages[0].FROM', at: '2:6' },
    { image: 'alpine:3.20', path: 'stages[0].COPY --from', at: '5:13' },
  ]);
  assert.deepEqual(result.problems, [
    {
      file: 'Dockerfile',
      line: 6,
      column: 6,
      message:
        'stages[1].FROM image "$LOCAL" cannot be resolved: variable LOCAL is not declared by an ARG before the first FROM',
      code: 'UNRESOLVED_VARIABLE',
    },
  ]);
});

void test('an ARG without a default used in FROM is a problem, not a silently wrong image', () => {
  const text = 'ARG TAG\nFROM ghcr.io/acme/api:${TAG}\nFROM ghcr.io/acme/tool:${TARGETARCH}\n';
  const result = extractImages('Dockerfile', text);
  assert.deepEqual(result.images, []);
  assert.deepEqual(result.problems, [
    {
      file: 'Dockerfile',
      line: 2,
      column: 6,
      message:
        'stages[0].FROM image "ghcr.io/acme/api:${TAG}" cannot be resolved: ARG TAG has no default; pass it with --build-arg TAG=<value> or give it a default in the Dockerfile',
      code: 'UNRESOLVED_VARIABLE',
    },
    {
      file: 'Dockerfile',
      line: 3,
      column: 6,
      message:
        'stages[1].FROM image "ghcr.io/acme/tool:${TARGETARCH}" cannot be resolved: TARGETARCH is set by the builder for each target platform; pass it with --build-arg TARGETARCH=<value> or give it a default in the Dockerfile',
      code: 'UNRESOLVED_VARIABLE',
    },
  ]);
  const withArgs = extractImages('Dockerfile', text, { buildArgs: { TAG: '1.5', TARGETARCH: 'arm64' } });
  assert.deepEqual(withArgs.problems, []);
  assert.deepEqual(
    withArgs.images.map((i) => [i.image, i.note]),
    [
      ['ghcr.io/acme/api:1.5', 'ARG TAG substituted with build arg "1.5"'],
      ['ghcr.io/acme/tool:arm64', 'ARG TARGETARCH substituted with build arg "arm64"'],
    ],
  );
});

void test('${X:?message} and unsupported substitutions are problems', () => {
  const text = 'FROM a:${V:?set V}\nFROM b:${V/x/y}\n';
  assert.deepEqual(
    extractImages('Dockerfile', text).problems.map((p) => p.message),
    [
      'stages[0].FROM image "a:${V:?set V}" cannot be resolved: ARG V is required (set V); pass it with --build-arg V=<value> or give it a default in the Dockerfile',
      'stages[1].FROM image "b:${V/x/y}" cannot be resolved: unsupported substitution "${V/x/y}"',
    ],
  );
});

void test('line continuations, comments and blank lines inside them, CRLF; positions on the physical line', () => {
  const text =
    'FROM \\\r\n# a comment inside the instruction\r\n\r\n    --platform=linux/arm64 \\\r\n    nginx:1.27 \\\r\n    AS web\r\nFROM web\r\n';
  const result = extractImages('Dockerfile', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(brief(result), [{ image: 'nginx:1.27', path: 'stages[0].FROM', at: '5:5' }]);
  assert.equal(result.images[0]?.source.name, 'web');
});

void test('the escape directive changes the continuation character and backslashes become literal', () => {
  const text =
    '# escape=`\n\nFROM mcr.microsoft.com/windows/servercore:ltsc2022 AS base\nRUN dir c:\\\nFROM `\n  base\nCOPY --from=ghcr.io/acme/tools:1 `\n  c:\\tools c:\\tools\nCOPY --from= a b\n';
  const result = extractImages('Dockerfile', text);
  assert.deepEqual(result.problems, [
    {
      file: 'Dockerfile',
      line: 9,
      column: 13,
      message: 'stages[1].COPY --from is empty',
      code: 'DOCKERFILE_SYNTAX',
    },
  ]);
  assert.deepEqual(brief(result), [
    { image: 'mcr.microsoft.com/windows/servercore:ltsc2022', path: 'stages[0].FROM', at: '3:6' },
    { image: 'ghcr.io/acme/tools:1', path: 'stages[1].COPY --from', at: '7:13' },
  ]);
  // Without the directive (it must come first), the backslash continues the RUN line into the next FROM.
  const late = extractImages('Dockerfile', 'FROM a:1\n# escape=`\nRUN dir c:\\\nFROM b:2\n');
  assert.deepEqual(brief(late), [{ image: 'a:1', path: 'stages[0].FROM', at: '1:6' }]);
});

void test('COPY --from and RUN --mount from= name images unless they name a stage (earlier or later) or an index', () => {
  const text = `FROM alpine:3.20 AS deps
COPY --from=ghcr.io/acme/ca-bundle:1 /certs /certs
COPY --from=0 /a /b
COPY --from=LATER /a /b
COPY --chown=1000 --from=busybox:1.36 /bin/busybox /bin/
RUN --mount=type=bind,from=ghcr.io/acme/src:2,target=/src --mount=type=cache,target=/root/.cache make
RUN --mount=type=bind,from=deps,target=/deps true
COPY --link /x /y
FROM scratch AS later
`;
  const result = extractImages('Dockerfile', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(brief(result), [
    { image: 'alpine:3.20', path: 'stages[0].FROM', at: '1:6' },
    { image: 'ghcr.io/acme/ca-bundle:1', path: 'stages[0].COPY --from', at: '2:13' },
    { image: 'busybox:1.36', path: 'stages[0].COPY --from', at: '5:26' },
    { image: 'ghcr.io/acme/src:2', path: 'stages[0].RUN --mount from', at: '6:28' },
  ]);
  assert.ok(result.images.every((i) => i.source.name === 'deps'));
});

void test('heredoc bodies are not instructions; ONBUILD and other instructions are ignored', () => {
  const text = [
    'FROM alpine:3.20',
    'RUN <<EOF cat <<-"END"',
    'FROM not-an-image:1',
    'EOF',
    '\tFROM not-either:2',
    '\tEND',
    'ONBUILD COPY --from=onbuild:1 /a /b',
    'COPY <<EOF /etc/config',
    'FROM neither:3',
    'EOF',
    'FROM debian:12',
    '',
  ].join('\n');
  const result = extractImages('Dockerfile', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(
    result.images.map((i) => i.image),
    ['alpine:3.20', 'debian:12'],
  );
  assert.deepEqual(extractImages('Dockerfile', 'FROM a:1\nRUN <<EOF\nFROM b:2\n').problems, [
    {
      file: 'Dockerfile',
      line: 2,
      column: 1,
      message: 'heredoc <<EOF started on line 2 is never terminated',
      code: 'DOCKERFILE_SYNTAX',
    },
  ]);
});

void test('Dockerfiles without a usable FROM are problems', () => {
  assert.deepEqual(extractImages('Dockerfile', '# nothing here\n'), {
    images: [],
    problems: [
      {
        file: 'Dockerfile',
        message: 'no FROM instruction: this is not a Dockerfile with a base image',
        code: 'DOCKERFILE_SYNTAX',
      },
    ],
  });
  assert.deepEqual(extractImages('Dockerfile', 'FROM --platform=linux/amd64\n').problems, [
    {
      file: 'Dockerfile',
      line: 1,
      column: 6,
      message: 'stages[0].FROM has no image',
      code: 'DOCKERFILE_SYNTAX',
    },
  ]);
  assert.deepEqual(extractImages('Dockerfile', '# escape=x\nFROM a:1\n').problems, [
    {
      file: 'Dockerfile',
      line: 1,
      column: 1,
      message: 'invalid escape directive "x": must be \\ or `',
      code: 'DOCKERFILE_SYNTAX',
    },
  ]);
});

void test('Dockerfiles are recognised by name or, for stdin and other names, by their first instruction', () => {
  for (const name of [
    'Dockerfile',
    'Dockerfile.prod',
    'api.Dockerfile',
    'build/Containerfile',
    'x.dockerfile',
  ]) {
    assert.deepEqual(
      brief(extractImages(name, 'FROM a:1\n')),
      [{ image: 'a:1', path: 'stages[0].FROM', at: '1:6' }],
      name,
    );
  }
  assert.deepEqual(brief(extractImages('-', '# comment\n\narg V=1\nFROM a:$V\n')), [
    { image: 'a:1', path: 'stages[0].FROM', at: '4:6' },
  ]);
  // A .yaml file is YAML even if it looks like a Dockerfile: a scalar document is not an object.
  assert.equal(extractImages('x.yaml', 'FROM a:1\n').problems[0]?.code, 'WRONG_TYPE');
});

void test('quoted ARG defaults and quoted FROM values lose their quotes; escaped dollars stay literal', () => {
  const text = 'ARG REG="ghcr.io/acme" NAME=\'api\'\nFROM "$REG/$NAME:1"\nFROM $REG/\\$NAME:2\n';
  const result = extractImages('Dockerfile', text);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(
    result.images.map((i) => i.image),
    ['ghcr.io/acme/api:1', 'ghcr.io/acme/$NAME:2'],
  );
});

void test('COPY --from with a variable uses the stage scope, where global ARGs must be re-declared', () => {
  const text = 'ARG TOOLS=ghcr.io/acme/tools:1\nFROM alpine:3.20\nCOPY --from=$TOOLS /a /b\n';
  assert.deepEqual(extractImages('Dockerfile', text).problems, [
    {
      file: 'Dockerfile',
      line: 3,
      column: 13,
      message:
        'stages[0].COPY --from image "$TOOLS" cannot be resolved: variable TOOLS is not declared by an ARG in stage 0',
      code: 'UNRESOLVED_VARIABLE',
    },
  ]);
});

void test('an ARG default built from an ARG without a default is unresolvable where it is used', () => {
  const text = 'ARG REG\nARG IMAGE=${REG}/api:1\nFROM $IMAGE\n';
  assert.deepEqual(
    extractImages('Dockerfile', text).problems.map((p) => p.message),
    [
      'stages[0].FROM image "$IMAGE" cannot be resolved: ARG REG has no default; pass it with --build-arg REG=<value> or give it a default in the Dockerfile',
    ],
  );
});
