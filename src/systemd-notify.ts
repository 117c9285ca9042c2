// sd_notify(READY=1) for systemd units of Type=notify, as etcd sends it once it serves clients:
// Debian's own etcd.service is such a unit, and systemd kills a notify service that never says
// it is ready (after TimeoutStartSec). The notification is one datagram to the unix socket named in
// $NOTIFY_SOCKET (a leading '@' is Linux's abstract namespace), sent by the main process itself
// (systemd's default NotifyAccess=main ignores any other sender): Node has no unix datagram
// sockets, so this takes the small native addon unix-dgram, an optional dependency.
import type { Logger } from 'pino';
import { loadOptionalAddon } from './optional-addon.js';

interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback: (error?: Error) => void): void;
  close(): void;
  on(event: 'error', listener: (error: Error) => void): void;
}

type UnixDgram = { createSocket(type: 'unix_dgram'): UnixDgramSocket };

/** Sends `state` (e.g. "READY=1") to $NOTIFY_SOCKET; resolves false when there is no such socket or it failed. */
export async function sdNotify(state: string, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const socketPath = env.NOTIFY_SOCKET;
  if (socketPath === undefined || socketPath === '') return false;
  logger.info('notifying init daemon');
  const module = loadOptionalAddon<UnixDgram>('unix-dgram');
  if (module instanceof Error) {
    logger.error({ err: module }, 'failed to notify systemd for readiness: the unix-dgram addon is not installed');
    return false;
  }
  const target = socketPath.startsWith('@') ? `\0${socketPath.slice(1)}` : socketPath;
  const message = Buffer.from(state);
  return new Promise((resolve) => {
    let socket: UnixDgramSocket;
    try {
      socket = module.createSocket('unix_dgram');
    } catch (error) {
      logger.error({ err: error }, 'failed to notify systemd for readiness');
      resolve(false);
      return;
    }
    socket.on('error', (error) => logger.error({ err: error }, 'failed to notify systemd for readiness'));
    socket.send(message, 0, message.length, target, (error) => {
      socket.close();
      if (error) {
        logger.error({ err: error }, 'failed to notify systemd for readiness');
        resolve(false);
        return;
      }
      logger.info('successfully notified init daemon');
      resolve(true);
    });
  });
}
