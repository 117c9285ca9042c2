// etcd's access rules for HTTP requests on the client port (not gRPC, not the metrics listener):
// - --host-whitelist: over plain HTTP, a request whose Host names a host not listed is refused
//   with 421 and etcd's CVE-2018-5702 text (a web page could otherwise reach a local etcd through a
//   DNS name it controls). HTTPS requests, and a list that is empty or holds "*", pass.
// - --cors: the answer carries CORS headers for origin "*" when the list allows every origin
//   (empty or "*", etcd's default), else for the request's Origin when it is listed, else none.
//   OPTIONS is answered 200 with no body, whatever the origin.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

const corsMethods = 'POST, GET, OPTIONS, PUT, DELETE';
const corsAllowedHeaders = 'accept, content-type, authorization';

/** The CORS headers etcd adds for an allowed origin. */
function corsHeadersFor(origin: string): Readonly<Record<string, string>> {
  return Object.freeze({
    'Access-Control-Allow-Methods': corsMethods,
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Headers': corsAllowedHeaders,
  });
}

const noHeaders: Readonly<Record<string, string>> = Object.freeze({});

export class AccessControl {
  private readonly corsOrigins: ReadonlySet<string>;
  private readonly allowAnyOrigin: boolean;
  private readonly hosts: ReadonlySet<string>;
  private readonly allowAnyHost: boolean;
  /** One frozen object per origin seen in the list, and one for "*": answers share them. */
  private readonly headersByOrigin = new Map<string, Readonly<Record<string, string>>>();
  private readonly anyOriginHeaders = corsHeadersFor('*');

  /** `cors` and `hostWhitelist` as the flags give them (etcd's defaults: ["*"] each). */
  constructor(cors: readonly string[] = ['*'], hostWhitelist: readonly string[] = ['*']) {
    this.corsOrigins = new Set(cors);
    this.allowAnyOrigin = cors.length === 0 || this.corsOrigins.has('*');
    this.hosts = new Set(hostWhitelist);
    this.allowAnyHost = hostWhitelist.length === 0 || this.hosts.has('*');
    for (const origin of cors) this.headersByOrigin.set(origin, corsHeadersFor(origin));
  }

  /** The CORS headers for a request with this Origin header (none when it is not allowed). */
  corsHeaders(origin: string | undefined): Readonly<Record<string, string>> {
    if (this.allowAnyOrigin) return this.anyOriginHeaders;
    return (origin !== undefined && this.headersByOrigin.get(origin)) || noHeaders;
  }

  /**
   * The host a plain-HTTP request is refused for, or undefined when it may go on. Over TLS any
   * host passes (a DNS-rebinding page cannot present the server's certificate name).
   */
  refusedHost(request: IncomingMessage): string | undefined {
    if (this.allowAnyHost || (request.socket as TLSSocket).encrypted === true) return undefined;
    const host = hostnameOf(request.headers.host ?? '');
    return this.hosts.has(host) ? undefined : host;
  }
}

/**
 * The Host header without its port, as Go's net.SplitHostPort takes it: "[::1]:2379" ⇒ "::1",
 * "example.com:2379" ⇒ "example.com"; a value it cannot split (no port, "[::1]") stays whole.
 */
export function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) {
    const close = hostHeader.indexOf(']');
    if (close === -1 || hostHeader[close + 1] !== ':' || hostHeader.indexOf(':', close + 2) !== -1) return hostHeader;
    return hostHeader.slice(1, close);
  }
  const colon = hostHeader.indexOf(':');
  if (colon === -1 || hostHeader.indexOf(':', colon + 1) !== -1) return hostHeader;
  return hostHeader.slice(0, colon);
}

/** etcd's answer body for a refused host (Go's http.Error adds the final newline). */
export function dnsRebindingRefusal(host: string): string {
  return `
etcd received your request, but the Host header was unrecognized.

To fix this, choose one of the following options:
- Enable TLS, then any HTTPS request will be allowed.
- Add the hostname you want to use to the whitelist in settings.
  - e.g. etcd --host-whitelist ${JSON.stringify(host)}

This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).
\n`;
}
