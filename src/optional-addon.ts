// Loads an optional native addon (an optionalDependency built by node-gyp at install): the module,
// or the Error that says why it is not there (no compiler at install, another platform). Callers
// log that and run without the feature.
import { createRequire } from 'node:module';

export function loadOptionalAddon<T>(name: string): T | Error {
  try {
    return createRequire(import.meta.url)(name) as T;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}
