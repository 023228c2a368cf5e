import type { AddressInfo, Server } from 'node:net';

/** A challenge responder listening: where, and how to stop it. */
export interface ListeningResponder {
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

/**
 * Starts `server` on host:port (0 picks a free port) and resolves once it listens, or
 * rejects with the listen error (EADDRINUSE, EACCES) for the caller to explain. `close`
 * stops it and drops what is still connected (`dropConnections`), so a validator's
 * keep-alive connection cannot hold the shutdown open.
 */
export async function listenResponder(
  server: Server,
  where: { host?: string; port: number },
  dropConnections: () => void,
): Promise<ListeningResponder> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        dropConnections();
      }),
  };
}
