// What a valid HTTP/2 :authority is (RFC 3986 §3.2: host[:port] with optional userinfo) and how
// to recover one from a URL: etcdctl 3.4 dials "passthrough:///http://host:port", so Go's gRPC
// client sends the whole "http://host:port" as :authority, which nghttp2 refuses.

/** unreserved / pct-encoded / sub-delims / ":" / "@" / "[" / "]" (RFC 3986 §3.2). */
const authorityPattern = /^[A-Za-z0-9\-._~%!$&'()*+,;=:@[\]]*$/;
const schemePrefixPattern = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

export function isValidAuthority(value: string): boolean {
  return authorityPattern.test(value);
}

/**
 * Returns `value` when it is a valid authority; otherwise drops a leading "scheme://" and
 * everything from the first "/", "?" or "#" (where a URL's authority ends). The result is not
 * checked again: if it is still invalid the server refuses the stream, as it would have anyway.
 */
export function repairAuthority(value: string): string {
  if (isValidAuthority(value)) return value;
  const withoutScheme = value.replace(schemePrefixPattern, '');
  const end = withoutScheme.search(/[/?#]/);
  return end < 0 ? withoutScheme : withoutScheme.slice(0, end);
}
