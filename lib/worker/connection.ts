// Redis connections for the queue helpers: a redis:// URL, ioredis options or a client of the caller's. Clients made
// here are closed here; a caller's client is only duplicated (for the cancel subscriber) and never closed.
import { Redis, type RedisOptions } from 'ioredis';
import { InvalidArgumentError } from '../errors.js';

export type RedisConnection = string | RedisOptions | Redis;

export interface OwnedConnection {
  /** What BullMQ's Queue / Worker / QueueEvents take. */
  client: Redis;
  /** A second client for pub/sub (a subscribed client can run no other command). */
  subscriber(): Redis;
  /** Closes the clients made here. */
  close(): Promise<void>;
}

/** BullMQ's workers need `maxRetriesPerRequest: null` (blocking commands wait through reconnects). */
export function openConnection(connection: RedisConnection, name = 'connection'): OwnedConnection {
  const made: Redis[] = [];
  const make = (): Redis => {
    let c: Redis;
    if (typeof connection === 'string') {
      if (!/^rediss?:\/\//.test(connection)) throw InvalidArgumentError.expected(name, 'a redis:// or rediss:// URL', connection);
      c = new Redis(connection, { maxRetriesPerRequest: null, lazyConnect: false });
    } else if (connection instanceof Redis) {
      c = connection.duplicate();
    } else if (typeof connection === 'object' && connection !== null) {
      c = new Redis({ ...connection, maxRetriesPerRequest: null });
    } else {
      throw InvalidArgumentError.expected(name, 'a redis:// URL, ioredis options or an ioredis client', connection);
    }
    c.on('error', () => {}); // reconnects are ioredis's job; errors surface on the commands that fail
    made.push(c);
    return c;
  };
  const client = connection instanceof Redis ? connection : make();
  return {
    client,
    subscriber: make,
    close: async () => {
      await Promise.all(made.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}

/** The Redis channel and key prefix of a queue's cancel requests (BullMQ's default key prefix 'bull'). */
export function cancelKeys(queue: string, prefix = 'bull'): { channel: string; marker: (jobId: string) => string } {
  return { channel: `${prefix}:${queue}:skipdit:cancel`, marker: (jobId) => `${prefix}:${queue}:skipdit:cancelled:${jobId}` };
}
