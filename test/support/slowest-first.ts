import type { TestSpecification } from 'vitest/node';
import { BaseSequencer } from 'vitest/node';

/**
 * The files that take longest, measured (see README, Tests): started first, so that on a clean
 * clone — where Vitest has no timings cached and would order files by their size — the run does
 * not end with one worker busy with the simulation while the other has nothing left to do.
 */
const SLOWEST = ['test/simulation/', 'test/e2e/replicas', 'test/integration/formatters', 'test/unit/formatters', 'test/integration/fuzz'];

export default class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification) => {
      const i = SLOWEST.findIndex((prefix) => file.moduleId.includes(`/${prefix}`));
      return i === -1 ? SLOWEST.length : i;
    };
    // Array sort is stable: within a rank, Vitest's own order (its cached timings, when it has them).
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
