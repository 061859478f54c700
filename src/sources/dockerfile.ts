/**
 * Images in Dockerfiles: the base image of every stage (`FROM`), and images used as sources of files
 * (`COPY --from=image`, `RUN --mount=...,from=image`), since their content ends up in the built image too.
 *
 * Not images: `FROM scratch`, references to build stages (by `AS` name, case-insensitively, or by index),
 * and instructions inside `ONBUILD` (they run in a later build, where that Dockerfile's check applies).
 */
import { lexDockerfile, positionOf, splitWords } from './dockerfile-lexer.ts';
import type { Instruction, Word } from './dockerfile-lexer.ts';
import { expand } from './dockerfile-variables.ts';
import type { ArgValue, Expansion, Scope, ScopeInfo } from './dockerfile-variables.ts';
import type { Findings } from './findings.ts';
import type { ExtractOptions, ImageSource } from './types.ts';

interface Stage {
  index: number;
  name?: string;
  scope: Scope;
}

export function extractDockerfile(
  file: string,
  text: string,
  findings: Findings,
  options: ExtractOptions = {},
): void {
  const buildArgs = options.buildArgs ?? {};
  const lexed = lexDockerfile(text);
  for (const p of lexed.problems) findings.problem({ file, ...p, code: 'DOCKERFILE_SYNTAX' });
  const { escape, instructions } = lexed;
  // COPY --from may name a stage defined later in the file, so stage names are collected first.
  const stageNames = new Set<string>();
  for (const instruction of instructions) {
    if (instruction.keyword !== 'FROM') continue;
    const words = splitWords(instruction.args, escape).filter((w) => !w.text.startsWith('--'));
    if (words[1]?.text.toLowerCase() === 'as' && words[2] !== undefined)
      stageNames.add(words[2].text.toLowerCase());
  }
  const globalScope: Scope = new Map();
  const earlierStages = new Set<string>();
  let stage: Stage | undefined;
  let stageCount = 0;

  for (const instruction of instructions) {
    const words = splitWords(instruction.args, escape);
    switch (instruction.keyword) {
      case 'ARG': {
        const scopeInfo =
          stage === undefined ? globalInfo(globalScope, buildArgs) : stageInfo(stage, buildArgs);
        declareArgs(words, escape, scopeInfo, stage === undefined ? undefined : globalScope);
        break;
      }
      case 'FROM': {
        const current: Stage = { index: stageCount++, scope: new Map() };
        const positional = words.filter((w) => !w.text.startsWith('--'));
        const imageWord = positional[0];
        if (positional[1]?.text.toLowerCase() === 'as' && positional[2] !== undefined)
          current.name = positional[2].text;
        stage = current;
        if (imageWord === undefined) {
          findings.problem({
            file,
            ...positionOf(instruction, 0),
            message: `stages[${current.index}].FROM has no image`,
            code: 'DOCKERFILE_SYNTAX',
          });
          break;
        }
        const path = `stages[${current.index}].FROM`;
        const expansion = resolve(instruction, imageWord, path, globalInfo(globalScope, buildArgs));
        if (
          expansion !== undefined &&
          expansion.value !== 'scratch' &&
          !earlierStages.has(expansion.value.toLowerCase())
        ) {
          emit(instruction, imageWord, expansion, path, current);
        }
        if (current.name !== undefined) earlierStages.add(current.name.toLowerCase());
        break;
      }
      case 'COPY':
        if (stage !== undefined) fromFlag(instruction, words, stage);
        break;
      case 'RUN':
        if (stage !== undefined) mountFrom(instruction, words, stage);
        break;
      default:
        break;
    }
  }
  if (stageCount === 0 && lexed.problems.length === 0) {
    findings.problem({
      file,
      message: 'no FROM instruction: this is not a Dockerfile with a base image',
      code: 'DOCKERFILE_SYNTAX',
    });
  }

  /** The substituted value, or undefined after reporting why it cannot be known. */
  function resolve(
    instruction: Instruction,
    word: Word,
    path: string,
    scope: ScopeInfo,
  ): Expansion | undefined {
    const expansion = expand(word.text, escape, scope);
    if (expansion.unresolved.length === 0) return expansion;
    findings.problem({
      file,
      ...positionOf(instruction, word.offset),
      message: `${path} image "${word.text}" cannot be resolved: ${expansion.unresolved.join('; ')}`,
      code: 'UNRESOLVED_VARIABLE',
    });
    return undefined;
  }

  function emit(
    instruction: Instruction,
    word: Word,
    expansion: Expansion,
    path: string,
    owner: Stage,
  ): void {
    const source: ImageSource = { file, ...positionOf(instruction, word.offset), format: 'dockerfile', path };
    if (owner.name !== undefined) source.name = owner.name;
    const notes = [...new Set(expansion.notes)];
    const image = expansion.value;
    findings.image(notes.length === 0 ? { image, source } : { image, source, note: notes.join('; ') });
  }

  function fromSource(instruction: Instruction, word: Word, path: string, owner: Stage): void {
    if (word.text === '') {
      const message = `${path} is empty`;
      findings.problem({ file, ...positionOf(instruction, word.offset), message, code: 'DOCKERFILE_SYNTAX' });
      return;
    }
    const expansion = resolve(instruction, word, path, stageInfo(owner, buildArgs));
    if (expansion === undefined) return;
    if (/^\d+$/.test(expansion.value) || stageNames.has(expansion.value.toLowerCase())) return;
    emit(instruction, word, expansion, path, owner);
  }

  function fromFlag(instruction: Instruction, words: Word[], owner: Stage): void {
    for (const word of words) {
      if (!word.text.startsWith('--')) break;
      const match = /^--from=/i.exec(word.text);
      if (match === null) continue;
      const valueWord = { text: word.text.slice(match[0].length), offset: word.offset + match[0].length };
      fromSource(instruction, valueWord, `stages[${owner.index}].COPY --from`, owner);
    }
  }

  function mountFrom(instruction: Instruction, words: Word[], owner: Stage): void {
    for (const word of words) {
      if (!word.text.startsWith('--')) break;
      const match = /^--mount=/i.exec(word.text);
      if (match === null) continue;
      let offset = word.offset + match[0].length;
      for (const field of word.text.slice(match[0].length).split(',')) {
        const option = /^from=/i.exec(field);
        if (option !== null) {
          const valueWord = { text: field.slice(option[0].length), offset: offset + option[0].length };
          fromSource(instruction, valueWord, `stages[${owner.index}].RUN --mount from`, owner);
        }
        offset += field.length + 1;
      }
    }
  }
}

function globalInfo(scope: Scope, buildArgs: Readonly<Record<string, string>>): ScopeInfo {
  return { scope, buildArgs, declaredWhere: 'before the first FROM', platformArgsVisible: true };
}

function stageInfo(stage: Stage, buildArgs: Readonly<Record<string, string>>): ScopeInfo {
  return {
    scope: stage.scope,
    buildArgs,
    declaredWhere: `in stage ${stage.index}`,
    platformArgsVisible: false,
  };
}

/** `ARG A=1 B`: inside a stage, `ARG B` without a default takes the value of the global ARG B. */
function declareArgs(words: Word[], escape: string, info: ScopeInfo, globalScope: Scope | undefined): void {
  for (const word of words) {
    const eq = word.text.indexOf('=');
    const name = eq < 0 ? word.text : word.text.slice(0, eq);
    const passed = info.buildArgs[name];
    let value: ArgValue;
    if (passed !== undefined) {
      value = { value: passed, origin: 'build-arg', notes: [], unresolved: [] };
    } else if (eq >= 0) {
      const expansion = expand(word.text.slice(eq + 1), escape, info);
      value = {
        value: expansion.value,
        origin: 'default',
        notes: expansion.notes,
        unresolved: expansion.unresolved,
      };
    } else {
      value = globalScope?.get(name) ?? { value: undefined, origin: 'default', notes: [], unresolved: [] };
    }
    info.scope.set(name, value);
  }
}
