/**
 * The shared test data (real TCG event logs, a tpm2-tools quote set) lives beside the checkout in
 * ../shared/testdata, never in the repository. A clone without it runs every other test and skips
 * the tests marked with `needsSharedTestdata`, saying why once.
 */
import { existsSync } from 'node:fs'

export const SHARED_TESTDATA = '../shared/testdata'
export const hasSharedTestdata: boolean = existsSync(SHARED_TESTDATA)

const marked = new WeakSet<object>()
let told = false

/** Marks a test, or every test of a suite, as reading ../shared/testdata. Returns it. */
export function needsSharedTestdata<T extends Mocha.Test | Mocha.Suite>(runnable: T): T {
  marked.add(runnable)
  return runnable
}

/** Root beforeEach: a marked test is skipped when the shared test data is absent. */
export function skipWithoutSharedTestdata(context: Mocha.Context): void {
  if (hasSharedTestdata) return
  let node: Mocha.Test | Mocha.Suite | undefined = context.currentTest
  while (node !== undefined && !marked.has(node)) node = node.parent
  if (node === undefined) return
  if (!told) {
    told = true
    process.stderr.write(`skipping the tests on real event logs and quote vectors: ${SHARED_TESTDATA} is absent\n`)
  }
  context.skip()
}
