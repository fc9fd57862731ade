import assert from 'node:assert/strict'

/** Polls `condition` until it holds; fails the test after `ms`. Resolves with the time it took. */
export async function until(
  condition: () => Promise<boolean> | boolean,
  what: string,
  ms = 20_000,
  everyMs = 50
): Promise<number> {
  const started = Date.now()
  while (!(await condition())) {
    if (Date.now() - started > ms) assert.fail(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  return Date.now() - started
}
