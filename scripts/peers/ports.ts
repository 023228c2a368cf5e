/**
 * Free 127.0.0.1 ports, chosen by the kernel. All sockets of one call are held open
 * together, so the ports returned are distinct; ports marked `udp` are free for both TCP
 * and UDP (the DNS server listens on both).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';

const HOST = '127.0.0.1';

function listenTcp(port: number): Promise<Server> {
  return new Promise((resolveServer, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port, exclusive: true }, () => resolveServer(server));
  });
}

function bindUdp(port: number): Promise<UdpSocket> {
  return new Promise((resolveSocket, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: HOST, port, exclusive: true }, () => resolveSocket(socket));
  });
}

export async function freePorts<K extends string>(
  names: Readonly<Record<K, 'tcp' | 'udp'>>,
): Promise<Record<K, number>> {
  const tcpServers: Server[] = [];
  const udpSockets: UdpSocket[] = [];
  const ports = {} as Record<K, number>;
  try {
    for (const name of Object.keys(names) as K[]) {
      for (let attempt = 1; ; attempt++) {
        const server = await listenTcp(0);
        tcpServers.push(server);
        const address = server.address();
        if (typeof address !== 'object' || address === null) throw new Error('no port from the kernel');
        if (names[name] === 'udp') {
          const udp = await bindUdp(address.port).catch(() => undefined);
          if (udp === undefined) {
            if (attempt >= 20) throw new Error('no port free for both TCP and UDP after 20 tries');
            continue; // keep the TCP socket held so the next try gets another port
          }
          udpSockets.push(udp);
        }
        ports[name] = address.port;
        break;
      }
    }
    return ports;
  } finally {
    await Promise.all([
      ...tcpServers.map((server) => new Promise((done) => server.close(done))),
      ...udpSockets.map((socket) => new Promise<void>((done) => socket.close(() => done()))),
    ]);
  }
}
