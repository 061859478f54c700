/**
 * Typed registry errors. Every message names the registry, the repository and the tag or digest involved,
 * because the message ends up in a denial that a human has to act on.
 */
export type RegistryErrorCode =
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'TOO_LARGE'
  | 'TOO_MANY'
  | 'TIMEOUT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'TOO_MANY_REDIRECTS'
  | 'INSECURE_REFUSED'
  | 'BAD_MANIFEST'
  | 'BAD_DIGEST'
  | 'BAD_RESPONSE'
  | 'RATE_LIMITED'
  | 'HTTP_ERROR'
  | 'NETWORK_ERROR'
  | 'TLS_ERROR'
  | 'BAD_REFERENCE'
  | 'CREDENTIALS_ERROR';

export interface RegistryErrorContext {
  readonly registry: string;
  readonly repository?: string;
  /** Tag or digest the operation was about. */
  readonly reference?: string;
  readonly status?: number;
  readonly cause?: unknown;
}

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly registry: string;
  readonly repository: string | undefined;
  readonly reference: string | undefined;
  readonly status: number | undefined;
  constructor(code: RegistryErrorCode, detail: string, context: RegistryErrorContext) {
    super(`${where(context)}: ${detail}`, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.registry = context.registry;
    this.repository = context.repository;
    this.reference = context.reference;
    this.status = context.status;
  }
}

function where(context: RegistryErrorContext): string {
  let location = context.registry;
  if (context.repository !== undefined) location += `/${context.repository}`;
  if (context.reference !== undefined)
    location += context.reference.includes(':') ? `@${context.reference}` : `:${context.reference}`;
  return `registry ${location}`;
}

/** The caller's signal (the decision's deadline) fired. */
export function deadlineError(context: RegistryErrorContext, signal?: AbortSignal): RegistryError {
  const reason: unknown = signal?.reason;
  if (reason instanceof RegistryError) return reason;
  return new RegistryError(
    'DEADLINE_EXCEEDED',
    'the overall deadline passed before the registry answered',
    context,
  );
}

/** Codes worth another attempt (within the deadline). */
export function isRetryable(error: unknown): boolean {
  return error instanceof RegistryError && (error.code === 'NETWORK_ERROR' || error.code === 'TIMEOUT');
}

/** Make registry-supplied text safe and short enough for a message. */
export function sanitize(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** Bad client settings (CA files, insecure hosts, limits): reported before any request is made. */
export class RegistryConfigError extends Error {
  readonly code = 'REGISTRY_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'RegistryConfigError';
  }
}
