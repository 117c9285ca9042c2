// Owns ConfigError: the one error type for a command line, environment or config file that etcd
// itself would refuse at start-up. The message is meant to be printed as-is before exiting.
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
