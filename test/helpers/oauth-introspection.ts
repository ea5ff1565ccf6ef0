import http from 'node:http';
import type net from 'node:net';

/**
 * An RFC 7662 token introspection endpoint on loopback for Dovecot's oauth2 passdb
 * (`introspection_mode = post`): the test decides which tokens are active and for whom.
 */
export interface IntrospectionServer {
  url: string;
  /** Marks a token active for this username. */
  allow(token: string, username: string): void;
  /** Makes a token inactive (as an expired or revoked one is). */
  revoke(token: string): void;
  /** Tokens Dovecot asked about, in order. */
  readonly asked: string[];
  stop(): Promise<void>;
}

export async function startIntrospection(): Promise<IntrospectionServer> {
  const active = new Map<string, string>();
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const token = form.get('token') ?? '';
      asked.push(token);
      const username = active.get(token);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(username ? { active: true, username, scope: 'mail' } : { active: false }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/introspect`,
    allow: (token, username) => active.set(token, username),
    revoke: (token) => active.delete(token),
    asked,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
