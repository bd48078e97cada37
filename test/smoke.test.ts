import { afterEach, describe, expect, it } from '@jest/globals';
import type { Runner } from 'baozi';
import { testRunner, type TestTasks } from './helpers/runner.js';

let runner: Runner<TestTasks>;
afterEach(() => runner.close());

describe('smoke', () => {
  it('runs', async () => {
    runner = testRunner();
    expect(await runner.run('add', 1, 2)).toBe(3);
  });
});
