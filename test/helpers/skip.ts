// A test that cannot run says so: it calls skip() and returns, and test/run.ts counts it as skipped, not
// passed. Under CI=true a skip of something CI installs the tools for (Chromium, PyTorch, onnx, root with
// unshare) is a failure instead, so a broken install step cannot turn the run green without checking.
import process from 'node:process';

export interface SkipOptions {
  /** True when .ci/run provides what the test needs, so a skip there means CI is broken. */
  requiredInCi: boolean;
}

const skipped: string[] = [];

/** Records the calling test as skipped, with a reason that says how to enable it. */
export function skip(reason: string, options: SkipOptions): void {
  if (options.requiredInCi && process.env.CI === 'true') {
    throw new Error(`cannot run under CI, which should provide it: ${reason}`);
  }
  skipped.push(reason);
  console.log(`    skipped: ${reason}`);
}

/** Every reason recorded so far, in order (test/run.ts reads this after the suites ran). */
export function skipReasons(): readonly string[] {
  return skipped;
}
