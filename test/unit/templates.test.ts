import { describe, expect, it } from 'vitest';
import { COLORS } from '../../src/embed/colors.js';
import { sampleEvent } from '../../src/sentry/samples.js';
import { RenderBudget } from '../../src/templates/engine.js';
import { renderTemplate, type TemplateEvent } from '../../src/templates/render-template.js';
import { compileTemplate } from '../../src/templates/template-spec.js';
import { TemplateError } from '../../src/templates/template-error.js';
import { loadFixture } from '../support/sentry.js';

const issueCreated: TemplateEvent = {
  type: 'issue.created',
  resource: 'issue',
  action: 'created',
  receivedAt: Date.parse('2026-11-27T10:00:00Z'),
  payload: loadFixture('issue.created.json'),
};

const render = (template: object, event = issueCreated) => renderTemplate(compileTemplate(JSON.stringify(template)), event);

function failure(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TemplateError) return error;
    throw error;
  }
  throw new Error('expected a TemplateError');
}

describe('rendering', () => {
  it('renders every embed part from the event and payload, with the helpers', () => {
    const out = render({
      content: 'New {{ event.type }} in {{ payload.data.issue.project.slug }}',
      embed: {
        title: '{{ payload.data.issue.shortId }}: {{ payload.data.issue.title | truncate: 20 }}',
        description: 'Culprit {{ payload.data.issue.culprit | code }}, last seen {{ payload.data.issue.lastSeen | discord_time: "R" }}',
        url: '{{ payload.data.issue.web_url }}',
        color: '{{ payload.data.issue.level | level_color }}',
        fields: [
          { name: 'Level', value: '{{ payload.data.issue.level }}', inline: true },
          { name: 'Events', value: '{{ payload.data.issue.count }}', inline: '{{ true }}' },
          { name: 'Assignee', value: '{{ payload.data.issue.assignedTo.name | default: "" }}' },
        ],
        footer: '{{ event.type }} · {{ event.received_at }}',
        author: { name: 'Sentry', url: 'https://sentry.io' },
        timestamp: '{{ payload.data.issue.firstSeen }}',
      },
    });
    expect(out.content).toBe('New issue.created in python');
    expect(out.embed).toEqual({
      title: 'PYTHON-Y: Error generated w...',
      description: 'Culprit `test-transaction-0-41e49cd3-7252-441f-8d27-63a9ad697b0a`, last seen <t:1762808160:R>',
      url: 'https://example-org.sentry.io/issues/1234567890/',
      color: COLORS.red,
      fields: [
        { name: 'Level', value: 'fatal', inline: true },
        { name: 'Events', value: '3', inline: true },
      ],
      footer: { text: 'issue.created · 2026-11-27T10:00:00.000Z' },
      author: { name: 'Sentry', url: 'https://sentry.io' },
      timestamp: '2025-11-10T20:56:00.679Z',
    });
    expect(out.warnings).toEqual(['embed.fields.2 ("Assignee") rendered empty, so it was left out']);
  });

  it('builds fields with a loop when `fields` is one Liquid string rendering to JSON', () => {
    const error = {
      type: 'error.created',
      resource: 'error',
      action: 'created',
      receivedAt: 0,
      payload: loadFixture('error.created.json'),
    };
    const out = render(
      {
        embed: {
          title: '{{ payload.data.error.title }}',
          fields:
            '[{% for tag in payload.data.error.tags limit: 3 %}{"name": {{ tag[0] | json }}, "value": {{ tag[1] | json }}, "inline": true}{% unless forloop.last %},{% endunless %}{% endfor %}]',
        },
      },
      error,
    );
    expect(out.embed.fields).toEqual([
      { name: 'browser', value: 'Chrome 75.0.3770', inline: true },
      { name: 'browser.name', value: 'Chrome', inline: true },
      { name: 'handled', value: 'no', inline: true },
    ]);
  });

  it('accepts colors as numbers, #rrggbb and 0xrrggbb', () => {
    expect(render({ embed: { title: 'x', color: 255 } }).embed.color).toBe(255);
    expect(render({ embed: { title: 'x', color: '#00ff00' } }).embed.color).toBe(0x00ff00);
    expect(render({ embed: { title: 'x', color: '0xff' } }).embed.color).toBe(0xff);
  });
});

describe('failures', () => {
  it('refuses a syntax error when compiling, with the engine message and where', () => {
    const error = failure(() => compileTemplate('{"embed": {"title": "{{ payload.data.issue.title "}}'));
    expect(error.kind).toBe('syntax');
    expect(error.message).toMatch(/^embed\.title: .*output .* not closed/i);
    expect(failure(() => compileTemplate('{"embed": {"title": "{% if x %}"}}')).kind).toBe('syntax');
  });

  it('refuses text that is not JSON, and JSON of the wrong shape', () => {
    expect(failure(() => compileTemplate('{"embed": ')).kind).toBe('invalid JSON');
    expect(failure(() => compileTemplate('{"title": "x"}')).message).toMatch(/not right/);
    expect(failure(() => compileTemplate('{"embed": {"title": "x", "colour": 1}}')).message).toMatch(/colour|Unrecognized/);
  });

  it('refuses a template over 4000 characters', () => {
    expect(failure(() => compileTemplate(JSON.stringify({ embed: { title: 'x'.repeat(4000) } }))).kind).toBe('limits');
  });

  it('fails on a missing variable', () => {
    const error = failure(() => render({ embed: { title: '{{ payload.data.issue.nope }}' } }));
    expect(error.kind).toBe('missing variable');
    expect(error.message).toMatch(/^embed\.title: .*undefined variable/i);
    // ...but not in a condition or with a default
    expect(
      render({ embed: { title: '{% if payload.data.nope %}a{% else %}b{% endif %}{{ payload.data.nope | default: "c" }}' } }).embed.title,
    ).toBe('bc');
  });

  it('fails when fields do not render to JSON', () => {
    expect(failure(() => render({ embed: { title: 'x', fields: '[{"name": {{ payload.data.issue.title }}}]' } })).kind).toBe(
      'invalid JSON',
    );
    expect(failure(() => render({ embed: { title: 'x', fields: '{"name": "a"}' } })).kind).toBe('invalid JSON');
  });

  it("fails on a result over Discord's limits instead of cutting it", () => {
    expect(failure(() => render({ embed: { title: '{% for i in (1..300) %}x{% endfor %}' } })).message).toBe(
      'embed.title is 300 characters long; Discord allows 256',
    );
    expect(failure(() => render({ content: '{% for i in (1..2100) %}x{% endfor %}', embed: { title: 'x' } })).message).toMatch(
      /content is 2100/,
    );
    expect(
      failure(() => render({ embed: { title: 'x', fields: [{ name: 'a', value: '{% for i in (1..1100) %}x{% endfor %}' }] } })).kind,
    ).toBe('limits');
    expect(failure(() => render({ embed: { title: '{{ "" }}' } })).message).toMatch(/empty embed/);
    expect(failure(() => render({ embed: { title: 'x', color: 'blue' } })).message).toMatch(/not a color/);
  });

  it('is bounded in work and memory, with the same result every time', () => {
    const huge = failure(() => render({ embed: { title: '{% for i in (1..10000000) %}{% endfor %}done' } }));
    expect(huge.kind).toBe('render');
    expect(huge.message).toMatch(/memory limit exceeded/);
    const nested = () =>
      failure(() => render({ embed: { title: '{% for i in (1..200) %}{% for j in (1..200) %}{% endfor %}{% endfor %}x' } }));
    const outcomes = Array.from({ length: 5 }, () => nested().message);
    expect(new Set(outcomes).size).toBe(1);
    expect(outcomes[0]).toMatch(/render limit exceeded: more than 10000 steps/);
    // Output counts too: a loop that prints a long value runs out of memory, not of time.
    const longText = { ...issueCreated, payload: { data: { text: 'x'.repeat(10_000) } } };
    const big = failure(() => render({ embed: { title: '{% for i in (1..200) %}{{ payload.data.text }}{% endfor %}' } }, longText));
    expect(big.message).toMatch(/memory limit exceeded/);
  });

  it("counts the steps of all of an event's strings together", () => {
    const loop = '{% for i in (1..3000) %}{% endfor %}x';
    expect(render({ embed: { title: loop } }).embed.title).toBe('x');
    expect(failure(() => render({ embed: { title: loop, description: loop, footer: loop, author: loop } })).message).toMatch(
      /more than 10000 steps/,
    );
  });

  it('keeps a wall-clock guard only as a last resort, far above a normal render', () => {
    const budget = new RenderBudget(0);
    budget.work.check(999);
    expect(() => budget.work.check(1001)).toThrow(/over 1000 ms/);
  });

  it('has no file system, no prototype access and no code execution', () => {
    expect(failure(() => render({ embed: { title: "{% include '/etc/passwd' %}" } })).kind).toMatch(/render|syntax/);
    expect(failure(() => render({ embed: { title: "{% render '../../package.json' %}" } })).kind).toMatch(/render|syntax/);
    expect(failure(() => render({ embed: { title: '{{ payload.constructor.name }}' } })).kind).toBe('missing variable');
    expect(failure(() => render({ embed: { title: '{{ payload.action.__proto__ }}' } })).kind).toBe('missing variable');
  });
});

describe('preview samples', () => {
  it('uses the issue sample, with the asked action, for anything issue-shaped, and an empty payload otherwise', () => {
    expect(sampleEvent('*', 0)).toMatchObject({
      eventType: 'issue.created',
      payload: { action: 'created', data: { issue: { shortId: 'DISPATCH-TEST' } } },
    });
    expect(sampleEvent('issue.*', 0).eventType).toBe('issue.created');
    expect(sampleEvent('issue.resolved', 0)).toMatchObject({
      eventType: 'issue.resolved',
      payload: { action: 'resolved', data: { issue: { shortId: 'DISPATCH-TEST' } } },
    });
    expect(sampleEvent('metric_alert.*', 0)).toEqual({ eventType: 'metric_alert.sample', payload: { action: 'sample', data: {} } });
    expect(sampleEvent('seer.pr_created', 0)).toEqual({ eventType: 'seer.pr_created', payload: { action: 'pr_created', data: {} } });
  });
});

describe('mentions', () => {
  const content = 'Fatal! <@&123456789012345678> <@&223456789012345678> @everyone @here <@323456789012345678>';
  it('lets content ping the roles it names only with allow_role_mentions, never @everyone, @here or users', () => {
    expect(render({ content, allow_role_mentions: true, embed: { title: 'x' } }).allowedRoleIds).toEqual([
      '123456789012345678',
      '223456789012345678',
    ]);
    expect(render({ content, embed: { title: 'x' } }).allowedRoleIds).toEqual([]);
  });

  it('can ping a role only on fatal, as a condition in content', () => {
    const template = {
      content: '{% if payload.data.issue.level == "fatal" %}<@&123456789012345678>{% endif %}',
      allow_role_mentions: true,
      embed: { title: 'x' },
    };
    expect(render(template).allowedRoleIds).toEqual(['123456789012345678']);
    const calm = { ...issueCreated, payload: { data: { issue: { level: 'warning' } } } };
    expect(render(template, calm).content).toBeUndefined();
  });
});
