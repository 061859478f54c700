/**
 * Images in Docker Compose files: `services.<name>.image`. Services with only `build` have no image to check
 * (the Dockerfile they build is checked when it is given to us).
 */
import { isMap, isScalar } from 'yaml';
import type { Node, YAMLMap } from 'yaml';
import { describeNode, deref, getField, nodePosition, stringValue } from './yaml-documents.ts';
import type { YamlDocumentContext } from './kubernetes.ts';
import type { ImageSource } from './types.ts';

/** A Compose file has a top-level `services` and, unlike a Kubernetes object, no `kind`. */
export function isComposeDocument(ctx: YamlDocumentContext, root: YAMLMap): boolean {
  return getField(ctx.doc, root, 'services') !== undefined && getField(ctx.doc, root, 'kind') === undefined;
}

export function extractCompose(ctx: YamlDocumentContext, root: YAMLMap): void {
  const services = getField(ctx.doc, root, 'services');
  if (services === undefined) return;
  if (!isMap(services)) {
    wrongType(
      ctx,
      services,
      `services must be a mapping of service names to services, got ${describeNode(services)}`,
    );
    return;
  }
  for (const pair of services.items) {
    const key = deref(ctx.doc, pair.key);
    const name = isScalar(key) ? String(key.value) : '?';
    const service = deref(ctx.doc, pair.value);
    if (service === null || (isScalar(service) && service.value === null)) continue;
    if (!isMap(service)) {
      wrongType(ctx, service, `services.${name} must be a mapping, got ${describeNode(service)}`);
      continue;
    }
    const imageNode = getField(ctx.doc, service, 'image');
    if (imageNode === undefined) continue;
    const image = stringValue(imageNode);
    if (image === undefined) {
      wrongType(ctx, imageNode, `services.${name}.image must be a string, got ${describeNode(imageNode)}`);
      continue;
    }
    const source: ImageSource = {
      file: ctx.file,
      ...nodePosition(ctx.lineCounter, imageNode),
      format: 'compose',
      name,
      documentIndex: ctx.documentIndex,
      path: `services.${name}.image`,
    };
    const containerName = stringValue(getField(ctx.doc, service, 'container_name'));
    if (containerName !== undefined) source.container = containerName;
    // Compose substitutes ${VAR} from the environment at run time; we cannot know it, so the image is
    // checked as written (an unsubstituted reference is invalid and therefore denied).
    const note = /\$(\{|[A-Za-z_])/.test(image)
      ? 'contains Compose variable interpolation, which is not substituted: the image used depends on the environment'
      : undefined;
    ctx.findings.image(note === undefined ? { image, source } : { image, source, note });
  }
}

function wrongType(ctx: YamlDocumentContext, node: unknown, message: string): void {
  const at =
    node !== null && typeof node === 'object' && 'range' in node
      ? nodePosition(ctx.lineCounter, node as Node)
      : {};
  ctx.findings.problem({ file: ctx.file, ...at, message, code: 'WRONG_TYPE' });
}
