import { createServer, type AddressInfo } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';

/** The first bytes a TLS client sends (its ClientHello), as Node's client writes them. */
export async function clientHelloBytes(options: ConnectionOptions): Promise<Buffer> {
  const server = createServer();
  const received = new Promise<Buffer>((resolve) =>
    server.once('connection', (socket) =>
      socket.once('data', (data: Buffer) => {
        socket.destroy();
        resolve(data);
      }),
    ),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect({ ...options, host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  client.on('error', () => undefined);
  const data = await received;
  client.destroy();
  server.close();
  return data;
}
