// Test runner settings: every test under test/, in at most 2 forked workers (2-core machine shared
// with real server processes), timeouts sized for tests that start and crash servers.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Unit tests finish in milliseconds; process tests start servers (seconds) and crash them.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/setup-cleanup.ts'],
  },
});
