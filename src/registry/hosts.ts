/**
 * Registry host names: one canonical spelling per registry so that credentials, insecure settings and
 * caches are matched by exact equality, never by substring or suffix (GHSA-pf56-329r-95rw: ghcr.io
 * credentials were sent to cr.io).
 */
export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's distribution API actually lives. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
]);
const HOST_PORT =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/;

export class HostError extends Error {
  readonly code = 'BAD_HOST';
  constructor(input: string, detail: string) {
    super(`invalid registry host ${JSON.stringify(input.slice(0, 200))}: ${detail}`);
    this.name = 'HostError';
  }
}

/**
 * Canonical registry host: lower-cased `host[:port]` (the port is significant), Docker Hub aliases
 * folded to `docker.io`. Accepts the URL-ish keys found in Docker config files
 * (`https://index.docker.io/v1/`, `http://host:5000/path`): scheme and path are stripped.
 */
export function canonicalHost(input: string): string {
  let host = input.trim().toLowerCase();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//.exec(host);
  if (scheme) host = host.slice(scheme[0].length);
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  if (host.includes('@')) throw new HostError(input, 'user information is not allowed');
  if (host.length === 0 || host.length > 255 || !HOST_PORT.test(host))
    throw new HostError(input, 'expected host[:port]');
  const port = /:([0-9]+)$/.exec(host)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    throw new HostError(input, 'port out of range');
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** The host the distribution API is reached at for a canonical registry. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}
