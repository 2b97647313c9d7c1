// Runs bench/pytorch_digit.py (the tutorial's network in PyTorch) and parses the JSON object it prints
// on its last line. Used by the benchmark's peer and the e2e cross-checks.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's python3-torch lives in the system Python, which a pyenv or venv python3 may not see. */
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export function hasTorch(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function script(): string {
  let root = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(root, 'package.json'))) root = dirname(root);
  return join(root, 'bench', 'pytorch_digit.py');
}

export type PytorchResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** `pytorch_digit.py args...`; stderr passes through when `showProgress`, else its last line explains a failure. */
export function runPytorchDigit<T>(args: string[], showProgress = false): PytorchResult<T> {
  const py = spawnSync(PYTHON, [script(), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', showProgress ? 'inherit' : 'pipe'],
  });
  if (py.status !== 0) {
    return { ok: false, error: (py.stderr || py.error?.message || `${PYTHON} not found`).trim().split('\n').at(-1)! };
  }
  return { ok: true, value: JSON.parse(py.stdout.trim().split('\n').at(-1)!) as T };
}
