// The one error type of the HTTP/2 header path: anything the client sent that we cannot decode.
// The listener destroys that connection; it never reaches a request handler.

export class Http2ParseError extends Error {
  override readonly name = 'Http2ParseError';
}
