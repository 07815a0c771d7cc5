/**
 * The demo's burst: what a bad release of the story's Python project raises in a minute, each a
 * new issue of its own (its own error, where it happened, how bad, how often), so the flood
 * summary and the batched cards read like a real one rather than one issue fourteen times.
 */
export interface BurstError {
  type: string;
  value: string;
  culprit: string;
  level: 'warning' | 'error' | 'fatal';
  events: number;
  users: number;
}

export const BURST_ERRORS: readonly BurstError[] = [
  { type: 'KeyError', value: "'user_id'", culprit: 'app.api.orders in get_order', level: 'error', events: 214, users: 87 },
  {
    type: 'AttributeError',
    value: "'NoneType' object has no attribute 'email'",
    culprit: 'app.services.notify in send_receipt',
    level: 'error',
    events: 96,
    users: 41,
  },
  {
    type: 'OperationalError',
    value: 'could not connect to server: Connection refused',
    culprit: 'app.db.session in connect',
    level: 'fatal',
    events: 1302,
    users: 512,
  },
  {
    type: 'TimeoutError',
    value: 'payment provider did not answer within 10 s',
    culprit: 'app.payments.client in charge',
    level: 'error',
    events: 58,
    users: 33,
  },
  {
    type: 'ValueError',
    value: "invalid literal for int() with base 10: 'two'",
    culprit: 'app.api.cart in update_quantity',
    level: 'warning',
    events: 17,
    users: 9,
  },
  {
    type: 'IntegrityError',
    value: 'duplicate key value violates unique constraint "orders_pkey"',
    culprit: 'app.models.order in save',
    level: 'error',
    events: 44,
    users: 40,
  },
  {
    type: 'TypeError',
    value: "unsupported operand type(s) for +: 'int' and 'str'",
    culprit: 'app.pricing in apply_discount',
    level: 'error',
    events: 131,
    users: 62,
  },
  {
    type: 'ZeroDivisionError',
    value: 'division by zero',
    culprit: 'app.reports.revenue in average_basket',
    level: 'error',
    events: 12,
    users: 3,
  },
  {
    type: 'JSONDecodeError',
    value: 'Expecting value: line 1 column 1 (char 0)',
    culprit: 'app.integrations.shipping in parse_rates',
    level: 'error',
    events: 75,
    users: 58,
  },
  {
    type: 'PermissionError',
    value: "[Errno 13] Permission denied: '/var/app/uploads'",
    culprit: 'app.storage.local in save_upload',
    level: 'error',
    events: 23,
    users: 19,
  },
  {
    type: 'RecursionError',
    value: 'maximum recursion depth exceeded',
    culprit: 'app.catalog.tree in walk_categories',
    level: 'fatal',
    events: 8,
    users: 8,
  },
  {
    type: 'ConnectionResetError',
    value: '[Errno 104] Connection reset by peer',
    culprit: 'app.cache.redis in get',
    level: 'warning',
    events: 340,
    users: 201,
  },
  {
    type: 'UnicodeDecodeError',
    value: "'utf-8' codec can't decode byte 0xff in position 0",
    culprit: 'app.imports.csv in read_rows',
    level: 'error',
    events: 5,
    users: 2,
  },
  {
    type: 'IndexError',
    value: 'list index out of range',
    culprit: 'app.search.ranking in top_results',
    level: 'error',
    events: 66,
    users: 30,
  },
];

const PRIORITY = { warning: 'medium', error: 'high', fatal: 'high' } as const;

type Payload = Record<string, any>;

/** The story's issue made into the i-th burst issue: its own id, short id, links, title, culprit, level and counts. */
export function burstIssueOf(issue: Payload, i: number): Payload {
  const error = BURST_ERRORS[i % BURST_ERRORS.length]!;
  const id = String(7_000_000 + i);
  const shortId = `${String(issue.shortId).replace(/-[^-]*$/, '')}-${(100 + i).toString(36).toUpperCase()}`;
  const link = (url: string) => url.replace(String(issue.id), id);
  const title = `${error.type}: ${error.value}`;
  return {
    ...issue,
    id,
    shortId,
    url: link(issue.url),
    web_url: link(issue.web_url),
    permalink: link(issue.permalink),
    title,
    culprit: error.culprit,
    level: error.level,
    priority: PRIORITY[error.level],
    platform: 'python',
    logger: null,
    type: 'error',
    metadata: {
      type: error.type,
      value: error.value,
      filename: `${error.culprit.split(' ')[0]!.replaceAll('.', '/')}.py`,
      function: error.culprit.split(' in ')[1],
    },
    count: String(error.events),
    userCount: error.users,
  };
}
