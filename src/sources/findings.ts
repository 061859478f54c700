/** Collects what one file yields, and stops a file that yields absurdly many findings (alias bombs). */
import { LIMITS } from './types.ts';
import type { ImageOccurrence, SourceProblem } from './types.ts';

export class FindingLimitReached extends Error {
  readonly code = 'LIMIT_EXCEEDED';
  constructor() {
    super('finding limit reached');
    this.name = 'FindingLimitReached';
  }
}

export class Findings {
  readonly images: ImageOccurrence[] = [];
  readonly problems: SourceProblem[] = [];

  image(occurrence: ImageOccurrence): void {
    this.guard();
    this.images.push(occurrence);
  }

  problem(problem: SourceProblem): void {
    this.guard();
    this.problems.push(problem);
  }

  private guard(): void {
    if (this.images.length + this.problems.length >= LIMITS.maxFindingsPerFile)
      throw new FindingLimitReached();
  }
}
