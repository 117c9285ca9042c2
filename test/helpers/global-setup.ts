// Runs once before the whole test run: makes dist/ current so process tests start the code under test.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  try {
    execFileSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { cwd: root, stdio: 'inherit' });
  } catch (error) {
    // A build error in someone's in-progress file must not stop the unit tests of everyone else;
    // process tests that need dist/ fail on their own with the server's startup error.
    console.error(`global-setup: build failed, process tests will use whatever dist/ holds: ${String(error)}`);
  }
}
