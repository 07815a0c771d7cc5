import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderTemplate } from '../../src/templates/render-template.js';
import { compileTemplate } from '../../src/templates/template-spec.js';
import { loadFixture } from '../support/sentry.js';

/** The README's worked template examples must compile and render as it says. */
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const examples = [...readme.matchAll(/### Example: (.+)\n[\s\S]*?```json\n([\s\S]*?)```/g)].map((m) => ({ name: m[1]!, source: m[2]! }));

const event = (level: string) => {
  const fixture = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
  return {
    type: 'issue.created',
    resource: 'issue',
    action: 'created',
    receivedAt: 0,
    payload: { ...fixture, data: { issue: { ...fixture.data.issue, level } } },
  };
};

describe('README template examples', () => {
  it('has the two worked examples', () => {
    expect(examples.map((e) => e.name)).toEqual(['a compact issue line', 'ping on-call on fatal errors']);
  });

  it('the demo plays the compact issue line as the README prints it', () => {
    expect(readFileSync(new URL('../../demo/templates/compact-issue-line.json', import.meta.url), 'utf8')).toBe(examples[0]!.source);
  });

  it('renders the compact issue line', () => {
    const out = renderTemplate(compileTemplate(examples[0]!.source), event('fatal'));
    expect(out.embed.title).toMatch(/^PYTHON-Y · Error generated/);
    expect(out.embed.description).toMatch(/^CREATED in \*\*python\*\* · 3 events · last seen <t:\d+:R>$/);
    expect(out.warnings).toEqual([]);
  });

  it('pings on-call only for a fatal issue', () => {
    const template = compileTemplate(examples[1]!.source);
    const fatal = renderTemplate(template, event('fatal'));
    expect(fatal.content).toBe('<@&123456789012345678> fatal error in python');
    expect(fatal.allowedRoleIds).toEqual(['123456789012345678']);
    expect(fatal.embed.fields?.map((f) => f.name)).toEqual(['Culprit', 'First seen', 'Priority']);
    const error = renderTemplate(template, event('error'));
    expect(error.content).toBeUndefined();
    expect(error.allowedRoleIds).toEqual([]);
  });
});

describe('the README', () => {
  it('shows where each filter value is read exactly as the table in src/sentry/facts.ts says', async () => {
    const { readFileSync } = await import('node:fs');
    const { FACT_SOURCES } = await import('../../src/sentry/facts.js');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = /<!-- facts-table:start -->\n([\s\S]*?)\n<!-- facts-table:end -->/.exec(readme)?.[1];
    const facts = ['level', 'environment', 'projects', 'tags', 'issueId'] as const;
    const rows = Object.entries(FACT_SOURCES).map(
      ([resource, readers]) => `| \`${resource}\` | ${facts.map((f) => readers[f]?.where ?? '—').join(' | ')} |`,
    );
    expect(table).toBe(['| Resource | Level | Environment | Projects | Tags | Issue |', '|---|---|---|---|---|---|', ...rows].join('\n'));
  });
});
