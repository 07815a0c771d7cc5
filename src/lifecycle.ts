import type { Server } from 'node:http';
import type { CardReconciler } from './cards/reconciler.js';
import type { Database } from './db/database.js';
import type { DeliveryWorker } from './delivery/worker.js';
import type { Gateway } from './discord/gateway.js';
import type { createApp } from './http/app.js';
import { answerClientErrors } from './http/client-error.js';
import type { Logger } from './logger.js';
import type { Coordinator } from './replicas/coordinator.js';
import type { DigestScheduler } from './schedule/digest-scheduler.js';
import type { WebhookStorage } from './spool/webhook-storage.js';

/** How Dispatch's process listens and stops (src/dispatch.ts puts it together). */

/** Stops in the reverse order: webhooks, then the sends in flight, then the gateway, coordination, the spool and the database. */
export async function stopAll(parts: {
  logger: Logger;
  server: Server;
  worker: DeliveryWorker;
  reconciler: CardReconciler;
  digests: DigestScheduler;
  gateway: Gateway;
  coordinator: Coordinator;
  storage: WebhookStorage;
  db: Database;
  shutdownTimeoutMs: number;
}): Promise<void> {
  const { logger, server, worker, reconciler, digests, gateway, coordinator, storage, db } = parts;
  logger.info('shutting down');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await reconciler.stop();
  await digests.stop();
  await worker.stop(parts.shutdownTimeoutMs);
  server.closeAllConnections();
  await closed;
  await gateway.stop();
  await gateway.client.destroy();
  await coordinator.stop();
  await storage.close();
  await db.close();
  logger.info('stopped');
}

/** The first call runs `work`; later calls share its promise. */
export function once(work: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= work());
}

export async function listen(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  const server = await new Promise<Server>((resolve, reject) => {
    const started = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(started)));
  });
  answerClientErrors(server);
  return server;
}
