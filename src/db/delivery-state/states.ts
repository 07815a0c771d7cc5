/** A delivery's states and the transitions between them: the table the README shows (see index.ts). */
export const DELIVERY_STATES = {
  pending: "waits its turn, due at `next_attempt_at`; goes to its route's channel as the route is when its send begins",
  sending: 'claimed for a channel and on its way there (or was when the process stopped: sent again there, under its nonce)',
  quiet: "arrived during its feed route's quiet hours below `quiet-pass`: waits for the digest at their end",
  delivered: 'posted (or its card edited): `message_id` says where',
  collapsed:
    'counted in a flood summary message instead of posted on its own; a member’s DM: not sent, another source’s copy of the same Sentry change tells them',
  digested: 'shown in a quiet-hours digest (`digest_id`) instead of posted on its own',
  failed: 'given up (Discord refused it for good, its deadline passed, or its channel stayed on hold); `source retry` queues it again',
} as const;

export type DeliveryStatus = keyof typeof DELIVERY_STATES;

/** Every way a delivery moves, for the README's table and the tests: which function, from what, to what, when. */
export const TRANSITIONS = [
  {
    by: 'enqueue',
    from: '—',
    to: 'pending, quiet',
    when: 'a webhook is stored (quiet from the route’s quiet hours as they are in that transaction)',
  },
  {
    by: 'claim',
    from: 'pending',
    to: 'sending',
    when: 'a send begins: only if the route still posts to that channel and its source is enabled (a batch whose send began: not deleted)',
  },
  { by: 'delivered', from: 'sending', to: 'delivered, collapsed', when: 'Discord took the message (a flood summary: collapsed)' },
  {
    by: 'toldByAnother',
    from: 'sending',
    to: 'collapsed',
    when: 'a member’s DM whose Sentry change another source’s copy claimed first, just before its own request: not sent',
  },
  {
    by: 'sendLater',
    from: 'sending',
    to: 'pending',
    when: 'a transient failure (retried at its time), a channel put on hold, or a member’s DM whose change another copy is still sending; keeps its batch and nonce for that channel',
  },
  {
    by: 'sendDifferently',
    from: 'sending',
    to: 'pending',
    when: 'Discord refused the batch as invalid: split, drawn more plainly, a summary split by type',
  },
  { by: 'release', from: 'sending', to: 'pending', when: 'a claim fell short (the route moved or was removed meanwhile): planned again' },
  {
    by: 'reform',
    from: 'pending, sending',
    to: 'pending',
    when: 'an event of a batch formed as a feed message, sent again as cards once its route became a card route, whose issue has a card by now: leaves the batch for its card’s edit (the rest keep the nonce)',
  },
  {
    by: 'fail',
    from: 'sending, pending',
    to: 'failed',
    when: 'refused for good, past DELIVERY_DEADLINE, held past EVENT_RETENTION, or impossible to plan',
  },
  { by: 'requeueFailed', from: 'failed', to: 'pending', when: '`/dispatch source retry`, in bounded batches' },
  {
    by: 'releaseQuiet',
    from: 'quiet',
    to: 'pending',
    when: 'the route no longer holds (quiet hours off, or a card route now), in bounded batches',
  },
  { by: 'digestQuiet', from: 'quiet', to: 'digested', when: 'its quiet-hours digest is claimed' },
  {
    by: 'dropOfRoute',
    from: 'any',
    to: '(deleted)',
    when: 'its route or source was removed (a DM route: its member disconnected, left or closed their DMs): purged in bounded batches, pending and quiet ones of a channel route counted as dropped',
  },
] as const;
