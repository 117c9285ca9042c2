// Makes `npm start` and `npm test` work on a fresh clone: installs the locked npm packages when
// they are missing and compiles src/ when dist/ is older than any source file.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd) => execSync(cmd, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });

function newestMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  run('npm ci --no-audit --no-fund');
}
const stamp = join(root, 'dist', '.build-stamp');
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (built < Math.max(newestMtimeMs(join(root, 'src')), statSync(join(root, 'tsconfig.json')).mtimeMs)) {
  run('npx tsc -p tsconfig.json');
  run('node -e "require(\'fs\').writeFileSync(\'dist/.build-stamp\', String(Date.now()))"');
}
