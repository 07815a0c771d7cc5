import { describe, expect, it } from 'vitest';
import { schemaReply } from '../../commands/source-schema.js';
import { permissionsIn } from '../../src/discord/guild-view.js';
import { asGuildId, asRouteId } from '../../src/ids.js';
import { renderEvent } from '../../src/render/render-event.js';
import { alertActionOn, MISSING_ROUTE_LINE, selectRoutes } from '../../src/routing/select-routes.js';
import { alertActionIn, alertActionsOf } from '../../src/sentry/alert-action.js';
import { eventFacts } from '../../src/sentry/facts.js';
import { ACTION_TITLE, alertRuleActionSchema, sentryUiUri } from '../../src/sentry/ui-schema.js';
import { loadFixture } from '../support/sentry.js';

/**
 * The rules of Sentry's schema parser (getsentry/sentry src/sentry/sentry_apps/api/parsers/schema.py
 * @45331a91), re-implemented for what an alert-rule-action uses: the draft-7 schema's required keys,
 * types, enums, lengths and `oneOf`, and the checks around it (element types, one of each, text
 * defaults). Without a format checker, `format: uri` is not enforced there either; the requesters'
 * own URI check (`^/(?!/)[^@]*$`) is added.
 */
type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isString = (v: Json): v is string => typeof v === 'string';

function requireKeys(node: Json, keys: string[], where: string): asserts node is Record<string, Json> {
  if (!isObject(node)) throw new Error(`${where} is not an object`);
  for (const key of keys) if (!(key in node)) throw new Error(`'${key}' is a required property of ${where}`);
}

function checkUri(value: Json, where: string): void {
  if (!isString(value) || !/^\//.test(value)) throw new Error(`${where}.uri must be a string starting with /`);
  if (!/^\/(?!\/)[^@]*$/.test(value)) throw new Error(`${where}.uri fails the requesters' URI check`);
}

function checkSelect(field: Record<string, Json>, where: string): void {
  requireKeys(field, ['type', 'name', 'label'], where);
  if (!isString(field.label) || !isString(field.name)) throw new Error(`${where}: label and name are strings`);
  for (const key of ['async', 'skip_load_on_open'])
    if (key in field && typeof field[key] !== 'boolean') throw new Error(`${where}.${key} is a boolean`);
  if ('uri' in field === 'options' in field) throw new Error(`${where}: exactly one of uri and options (oneOf)`);
  if ('uri' in field) checkUri(field.uri, where);
  if ('options' in field) {
    const options = field.options;
    if (!Array.isArray(options) || options.length < 1) throw new Error(`${where}.options: at least one`);
    for (const pair of options)
      if (!Array.isArray(pair) || pair.length !== 2 || !isString(pair[0]) || !(isString(pair[1]) || typeof pair[1] === 'number'))
        throw new Error(`${where}.options: [value, label] pairs`);
  }
  if ('depends_on' in field) {
    const on = field.depends_on;
    if (!Array.isArray(on) || on.length < 1 || !on.every(isString)) throw new Error(`${where}.depends_on: strings, at least one`);
  }
}

function checkText(field: Record<string, Json>, where: string): void {
  requireKeys(field, ['type', 'label', 'name'], where);
  if (!isString(field.label) || !isString(field.name)) throw new Error(`${where}: label and name are strings`);
  if ('default' in field && !['issue.title', 'issue.description'].includes(field.default as string))
    throw new Error(`${where}.default may only be issue.title or issue.description`);
}

function checkFieldset(fields: Json, where: string): void {
  if (!Array.isArray(fields) || fields.length < 1) throw new Error(`${where}: an array of at least one field`);
  fields.forEach((field, i) => {
    const at = `${where}[${i}]`;
    if (!isObject(field)) throw new Error(`${at} is not an object`);
    if (field.type === 'select') checkSelect(field, at);
    else if (field.type === 'text' || field.type === 'textarea') checkText(field, at);
    else throw new Error(`${at}: type must be select, text or textarea`);
  });
}

function checkAlertRuleAction(element: Record<string, Json>): void {
  requireKeys(element, ['type', 'title', 'settings'], 'alert-rule-action');
  if (!isString(element.title)) throw new Error('alert-rule-action.title is a string');
  const settings = element.settings;
  requireKeys(settings, ['type', 'uri', 'required_fields'], 'alert-rule-settings');
  if (settings.type !== 'alert-rule-settings') throw new Error("settings.type must be 'alert-rule-settings'");
  checkUri(settings.uri, 'settings');
  if (
    'description' in settings &&
    (!isString(settings.description) || settings.description.length < 1 || settings.description.length > 140)
  )
    throw new Error('settings.description: 1 to 140 characters');
  checkFieldset(settings.required_fields, 'required_fields');
  if ('optional_fields' in settings) checkFieldset(settings.optional_fields, 'optional_fields');
}

/** `validate_ui_element_schema`, for alert-rule-action elements; throws the first problem found. */
function validateUiElementSchema(instance: Json): void {
  requireKeys(instance, ['elements'], 'the schema');
  const elements = instance.elements;
  if (!Array.isArray(elements) || elements.length < 1) throw new Error("'elements' should be an array of at least one object");
  const seen = new Set<string>();
  for (const element of elements) {
    if (!isObject(element) || !('type' in element)) throw new Error("Each element needs a 'type' field");
    if (!['issue-link', 'alert-rule-action', 'issue-media', 'stacktrace-link'].includes(element.type as string))
      throw new Error(`Element has type '${String(element.type)}'`);
    if (seen.has(element.type as string)) throw new Error(`Multiple elements of type: ${String(element.type)}`);
    seen.add(element.type as string);
    if (element.type === 'alert-rule-action') checkAlertRuleAction(element);
  }
}

const SLUG = 'Ab-_0123456789abcdefghijklmnopqr';
const schema = alertRuleActionSchema('https://dispatch.example.com', SLUG);

describe('the schema /dispatch source schema gives', () => {
  it("passes Sentry's schema parser rules (re-implemented), as JSON text", () => {
    expect(() => validateUiElementSchema(JSON.parse(JSON.stringify(schema)))).not.toThrow();
    const action = schema.elements[0]!;
    expect(action.title).toBe(ACTION_TITLE);
    expect(action.settings.required_fields.map((f) => f.name)).toEqual(['dispatch_route']);
    expect(action.settings.optional_fields.map((f) => [f.name, f.type])).toEqual([
      ['dispatch_ping_role', 'select'],
      ['dispatch_note', 'text'],
    ]);
  });

  it('the re-implemented rules refuse what Sentry refuses (they are not vacuous)', () => {
    const broken = (change: (s: any) => void) => {
      const copy = JSON.parse(JSON.stringify(schema));
      change(copy);
      return () => validateUiElementSchema(copy);
    };
    expect(broken((s) => delete s.elements[0].title)).toThrow(/title/);
    expect(broken((s) => (s.elements[0].settings.uri = 'https://x/y'))).toThrow(/uri/);
    expect(broken((s) => (s.elements[0].settings.uri = '//evil/y'))).toThrow(/URI check/);
    expect(broken((s) => (s.elements[0].settings.required_fields = []))).toThrow(/at least one/);
    expect(broken((s) => (s.elements[0].settings.required_fields[0].options = [['a', 'b']]))).toThrow(/oneOf/);
    expect(broken((s) => delete s.elements[0].settings.optional_fields[1].label)).toThrow(/label/);
    expect(broken((s) => (s.elements[0].settings.description = 'x'.repeat(141)))).toThrow(/140/);
    expect(broken((s) => s.elements.push(s.elements[0]))).toThrow(/Multiple/);
    expect(broken((s) => (s.elements[0].settings.optional_fields[1].default = 'hello'))).toThrow(/default/);
  });

  it("each uri carries the source's slug, under PUBLIC_URL's path (Sentry keeps only the webhook URL's host)", () => {
    expect(sentryUiUri('https://dispatch.example.com', SLUG, 'routes')).toBe(`/sentry-ui/${SLUG}/routes`);
    expect(sentryUiUri('https://example.com/dispatch/', SLUG, 'settings')).toBe(`/dispatch/sentry-ui/${SLUG}/settings`);
    expect(JSON.stringify(alertRuleActionSchema('https://example.com/dispatch', SLUG))).toContain(`"/dispatch/sentry-ui/${SLUG}/roles"`);
  });

  it('is answered inline when it fits in a message, as a file when it does not', () => {
    const json = JSON.stringify(schema, null, 2);
    const short = schemaReply(['steps'], json, 'dispatch-a-schema.json');
    expect(short.content).toContain(json);
    expect(short.files).toBeUndefined();
    const long = schemaReply(['x'.repeat(1500)], json, 'dispatch-a-schema.json');
    expect(long.content).not.toContain('"elements"');
    expect(long.content).toContain('dispatch-a-schema.json');
    expect(long.files).toHaveLength(1);
  });
});

const issueAlert = loadFixture('example-app-mocks/event_alert.triggered.with_alert_rule_action.json') as any;
const metricAlert = loadFixture('example-app-mocks/metric_alert.critical.with_alert_rule_action.json') as any;
const ours = (route: unknown, extra: { name: string; value: unknown }[] = []) => [{ name: 'dispatch_route', value: route }, ...extra];
const withIssueSettings = (settings: unknown) => ({
  ...issueAlert,
  data: { ...issueAlert.data, issue_alert: { ...issueAlert.data.issue_alert, settings } },
});
const withTriggers = (triggers: unknown[]) => ({
  ...metricAlert,
  data: {
    ...metricAlert.data,
    metric_alert: { ...metricAlert.data.metric_alert, alert_rule: { ...metricAlert.data.metric_alert.alert_rule, triggers } },
  },
});

describe("an alert's Dispatch actions, read from its payload", () => {
  it("the example app's settings are another integration's: not ours", () => {
    expect(alertActionsOf('event_alert.triggered', issueAlert)).toBeUndefined();
    expect(alertActionsOf('metric_alert.critical', metricAlert)).toBeUndefined();
  });

  it('an issue alert: data.issue_alert.settings, values as text (numbers too), "none" and blanks as nothing', () => {
    const settings = ours(12, [
      { name: 'dispatch_ping_role', value: 'none' },
      { name: 'dispatch_note', value: '  ' },
    ]);
    expect(alertActionsOf('event_alert.triggered', withIssueSettings(settings))).toEqual([[{ route: '12' }]]);
    const full = ours('12', [
      { name: 'dispatch_ping_role', value: '1300000000000000001' },
      { name: 'dispatch_note', value: 'Checkout is slow' },
    ]);
    expect(alertActionsOf('event_alert.triggered', withIssueSettings(full))).toEqual([
      [{ route: '12', pingRole: '1300000000000000001', note: 'Checkout is slow' }],
    ]);
    expect(alertActionIn([{ name: 'dispatch_route', value: null }])).toBeUndefined();
    expect(alertActionIn('not a list')).toBeUndefined();
    // Only alerts carry it: the same block on another resource is not read.
    expect(alertActionsOf('issue.created', withIssueSettings(full))).toBeUndefined();
  });

  it('a metric alert: every Dispatch action of every trigger, those of the trigger the webhook is about first', () => {
    const other = { type: 'sentry_app', settings: [{ name: 'channel', value: '#x' }] };
    const email = { type: 'email', settings: null };
    const dispatch = (route: string) => ({ type: 'sentry_app', settings: ours(route) });
    const payload = withTriggers([
      { label: 'critical', actions: [email, other, dispatch('1'), dispatch('3')] },
      { label: 'warning', actions: [dispatch('2')] },
    ]);
    const every = [{ route: '1' }, { route: '3' }, { route: '2' }];
    expect(alertActionsOf('metric_alert.critical', payload)).toEqual([[{ route: '1' }, { route: '3' }], every]);
    expect(alertActionsOf('metric_alert.warning', payload)).toEqual([[{ route: '2' }], every]);
    // `resolved` names no trigger: every trigger's; and it pings nobody.
    expect(alertActionsOf('metric_alert.resolved', payload)).toEqual([every]);
    const pinging = withTriggers([
      { label: 'critical', actions: [{ type: 'sentry_app', settings: ours('1', [{ name: 'dispatch_ping_role', value: '42' }]) }] },
    ]);
    expect(alertActionsOf('metric_alert.critical', pinging)).toEqual([[{ route: '1', pingRole: '42' }], [{ route: '1', pingRole: '42' }]]);
    expect(alertActionsOf('metric_alert.resolved', pinging)).toEqual([[{ route: '1' }]]);
    expect(alertActionsOf('metric_alert.critical', withTriggers([{ label: 'critical', actions: [other, email] }]))).toBeUndefined();
  });
});

describe('routing by the alert rule, and by filters', () => {
  const routes = [
    { id: asRouteId(5), filter: JSON.stringify({ events: ['issue.*'] }) },
    { id: asRouteId(9), filter: JSON.stringify({ events: ['issue.*'] }) },
  ];
  const facts = eventFacts('event_alert.triggered', issueAlert);
  const through = (actions: { route: string }[][]) => selectRoutes(routes, 'metric_alert.critical', facts, actions).through;

  it('a named route of the source takes the alert alone, its filter bypassed', () => {
    expect(selectRoutes(routes, 'event_alert.triggered', facts, [[{ route: '9' }]])).toEqual({ through: [routes[1]], filteredBy: [] });
  });

  it("another Dispatch source's action in the same rule is not this source's: its own action decides, wherever it is", () => {
    expect(through([[{ route: '77' }, { route: '9' }]])).toEqual([routes[1]]);
    // None in the trigger the alert is about: the source's own in another trigger.
    expect(through([[{ route: '77' }], [{ route: '77' }, { route: '5' }]])).toEqual([routes[0]]);
    // The trigger's own first, then the others'.
    expect(through([[{ route: '9' }], [{ route: '5' }, { route: '9' }]])).toEqual([routes[1]]);
  });

  it('a resolution named by several triggers goes to each of their routes, once', () => {
    expect(through([[{ route: '9' }, { route: '77' }, { route: '5' }, { route: '09' }]])).toEqual([routes[1], routes[0]]);
  });

  it("a route that is not the source's (gone, another's, not an id) → its first route, which says why", () => {
    for (const route of ['77', 'abc', '-1', '9.5'])
      expect(selectRoutes(routes, 'event_alert.triggered', facts, [[{ route }]]).through).toEqual([routes[0]]);
    expect(alertActionOn([[{ route: '77', note: 'a' }]], asRouteId(5))).toEqual({ action: { route: '77', note: 'a' }, misrouted: true });
    expect(alertActionOn([[{ route: '5', note: 'a' }]], asRouteId(5))).toEqual({ action: { route: '5', note: 'a' }, misrouted: false });
    expect(
      alertActionOn(
        [
          [
            { route: '77', note: 'b' },
            { route: '5', note: 'a' },
          ],
        ],
        asRouteId(5),
      ),
    ).toEqual({
      action: { route: '5', note: 'a' },
      misrouted: false,
    });
    // Two actions, neither the source's: which was its own cannot be told, so neither's note or role.
    expect(
      alertActionOn(
        [
          [
            { route: '77', note: 'b' },
            { route: '78', note: 'a' },
          ],
        ],
        asRouteId(5),
      ),
    ).toEqual({ misrouted: true });
    expect(alertActionOn(undefined, asRouteId(5))).toBeUndefined();
  });

  it('without our action, filters decide exactly as before', () => {
    expect(selectRoutes(routes, 'event_alert.triggered', facts)).toEqual({ through: [], filteredBy: [5, 9] });
  });

  it('the drawing shows the note escaped, and the fallback line only where the alert was not meant to go', () => {
    const note = '<@&1300000000000000009> @everyone **now** [x](https://evil.example)';
    const body = JSON.stringify(withIssueSettings(ours('9', [{ name: 'dispatch_note', value: note }])));
    const onNamed = renderEvent({ eventType: 'event_alert.triggered', receivedAt: 0, body, routeId: asRouteId(9) });
    const onFirst = renderEvent({ eventType: 'event_alert.triggered', receivedAt: 0, body, routeId: asRouteId(5) });
    const fields = (part: typeof onNamed) => part.embeds[0]!.fields ?? [];
    expect(fields(onNamed).find((f) => f.name === 'Note')?.value).toBe(
      '\\<@&1300000000000000009\\> @\u200beveryone \\*\\*now\\*\\* \\[x\\]\\(https://evil.example\\)',
    );
    expect(fields(onNamed).some((f) => f.value === MISSING_ROUTE_LINE)).toBe(false);
    expect(fields(onFirst)[0]).toMatchObject({ name: '⚠️ Route', value: MISSING_ROUTE_LINE });
    expect(onFirst.allowedRoleIds).toEqual([]);
    expect(onFirst.content).toBeUndefined();
  });
});

describe("the bot's permissions in a channel, as Discord computes them", () => {
  const guild = asGuildId('100');
  const VIEW = 1n << 10n;
  const SEND = 1n << 11n;
  const EMBED = 1n << 14n;
  const roles = [
    { id: '100', permissions: VIEW | SEND | EMBED },
    { id: '200', permissions: 0n },
    { id: '300', permissions: 1n << 3n },
  ];
  const channel = (overwrites: { id: string; type: number; allow: bigint; deny: bigint }[]) => ({ overwrites });

  it('@everyone, then role overwrites together, then the member', () => {
    expect(permissionsIn(guild, roles, '9', [], channel([]))).toBe(VIEW | SEND | EMBED);
    const denied = channel([{ id: '100', type: 0, allow: 0n, deny: SEND }]);
    expect(permissionsIn(guild, roles, '9', [], denied) & SEND).toBe(0n);
    const roleAllows = channel([...denied.overwrites, { id: '200', type: 0, allow: SEND, deny: 0n }]);
    expect(permissionsIn(guild, roles, '9', ['200'], roleAllows) & SEND).toBe(SEND);
    const memberDenies = channel([...roleAllows.overwrites, { id: '9', type: 1, allow: 0n, deny: SEND }]);
    expect(permissionsIn(guild, roles, '9', ['200'], memberDenies) & SEND).toBe(0n);
    // Administrator has everything, whatever the channel says.
    expect(permissionsIn(guild, roles, '9', ['300'], memberDenies) & SEND).toBe(SEND);
  });
});
