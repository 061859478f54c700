/**
 * Policy files embedded in the generated ConfigMap. They are loaded first, exactly as `serve` will load
 * them, so a bad policy fails the install here rather than leaving the webhook unready in the cluster.
 */
import { basename } from 'node:path';
import { readPolicyFiles } from '../policy/read-paths.ts';
import { loadPolicySet } from '../policy/load.ts';
import { formatDiagnostic } from '../policy/format-diagnostic.ts';
import { checkConfigMapKey, InstallOptionError, MAX_CONFIGMAP_BYTES } from './options.ts';

export class PolicyFilesError extends Error {
  readonly code = 'POLICY_FILES';
  readonly diagnostics: readonly string[];
  constructor(diagnostics: readonly string[]) {
    super(`the policies have ${diagnostics.length} error(s); nothing was generated`);
    this.name = 'PolicyFilesError';
    this.diagnostics = diagnostics;
  }
}

export async function readPoliciesForConfigMap(paths: readonly string[]): Promise<Map<string, string>> {
  const { files, problems } = await readPolicyFiles(paths);
  const result = loadPolicySet(files);
  // With no readable file the loader adds "no policy files were given"; the problems already say why.
  const loaded = result.ok ? [] : result.diagnostics.filter((d) => files.length > 0 || d.file !== '');
  const errors = [...problems, ...loaded].filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new PolicyFilesError(errors.map(formatDiagnostic));
  const data = new Map<string, string>();
  let bytes = 0;
  for (const file of files) {
    const key = checkConfigMapKey(basename(file.path));
    if (data.has(key))
      throw new InstallOptionError(
        `two policy files are both named ${key} (${file.path}); a ConfigMap needs distinct file names`,
      );
    data.set(key, file.text);
    bytes += Buffer.byteLength(file.text) + key.length;
  }
  if (bytes > MAX_CONFIGMAP_BYTES)
    throw new InstallOptionError(
      `the policies take ${bytes} bytes, more than the ${MAX_CONFIGMAP_BYTES} a ConfigMap holds; create your own ConfigMaps and use --policy-configmap`,
    );
  return data;
}
