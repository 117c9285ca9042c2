// Loaded by vitest in every test file (setupFiles): after the file's tests, kill whatever child
// processes they left running and remove their temp dirs.
import { afterAll } from 'vitest';
import { cleanupAll } from './process-registry.js';

afterAll(async () => {
  await cleanupAll();
});
