/**
 * A delivery's state, owned here. River's rule for a job queue (riverqueue/river): a row moves
 * only through the few statements of this folder, each naming the state it expects (`… where status =
 * 'pending'`) and reading the route's and source's *current* settings in the same statement or
 * transaction, so a decision made from an older read simply matches no row. Nothing else writes
 * `deliveries.status`, `batch_id` or `channel_id` (test/unit/delivery-state.test.ts checks).
 *
 * Not states of a delivery, and so not here: a channel on hold (the `holds` table: its routes'
 * deliveries stay pending and the queue skips them), a disabled source (a flag on the source: the
 * same), a route moved (its pending deliveries follow its `channel_id`, read when a send begins).
 */
export { DELIVERY_STATES, TRANSITIONS, type DeliveryStatus } from './states.js';
export { STEP_ROWS } from './common.js';
export { enqueue, lockSources, type NewDelivery } from './enqueue.js';
export { claim, delivered, fail, reform, release, sendDifferently, sendLater, toldByAnother } from './send.js';
export { digestQuiet, dropOfRoute, dueNow, failHeldTooLong, releaseQuiet, requeueFailed } from './bulk.js';
