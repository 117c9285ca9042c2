// Owns the v2 keys API's error catalogue: etcd's v2 error codes, their exact messages, the HTTP
// status each maps to, and the JSON body clients parse (`{"errorCode","message","cause","index"}`).
export const v2ErrorMessages = {
  100: 'Key not found',
  101: 'Compare failed',
  102: 'Not a file',
  104: 'Not a directory',
  105: 'Key already exists',
  106: 'The prefix of given key is a keyword in etcd',
  107: 'Root is read only',
  108: 'Directory not empty',
  110: 'The request requires user authentication',
  200: 'Value is Required in POST form',
  201: 'PrevValue is Required in POST form',
  202: 'The given TTL in POST form is not a number',
  203: 'The given index in POST form is not a number',
  209: 'Invalid field',
  210: 'Invalid POST form',
  211: 'Value provided on refresh',
  212: 'A TTL must be provided on refresh',
  300: 'Raft Internal Error',
  301: 'During Leader Election',
  400: 'watcher is cleared due to etcd recovery',
  401: 'The event in requested index is outdated and cleared',
} as const;

export type V2ErrorCode = keyof typeof v2ErrorMessages;

export class V2Error extends Error {
  constructor(readonly errorCode: V2ErrorCode, readonly cause_: string, readonly index: number) {
    super(v2ErrorMessages[errorCode]);
  }

  /** etcd's v2error.StatusCode: everything not listed (401 included) is a client error. */
  get httpStatus(): number {
    switch (this.errorCode) {
      case 100: return 404;
      case 101: case 105: return 412;
      case 102: case 108: return 403;
      case 110: return 401;
      case 300: case 301: return 500;
      default: return 400;
    }
  }

  /** Field order as Go's encoder writes etcd's struct; clients compare bodies as text sometimes. */
  toJson(): string {
    return JSON.stringify({ errorCode: this.errorCode, message: this.message, cause: this.cause_, index: this.index });
  }
}

export function isV2Error(error: unknown): error is V2Error {
  return error instanceof V2Error;
}
