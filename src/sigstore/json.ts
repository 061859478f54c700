/** JSON shape helpers shared by the parsers of bundles, annotations, payloads and trust roots. */
export type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
