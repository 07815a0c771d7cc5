/** A small issue.created payload in Sentry's shape, for `/dispatch source test` and template previews. */
export const SAMPLE_EVENT_TYPE = 'issue.created';

export function sampleIssueCreated(now: number): Record<string, unknown> {
  const iso = new Date(now).toISOString();
  return {
    action: 'created',
    installation: { uuid: '00000000-0000-4000-8000-000000000000' },
    data: {
      issue: {
        id: '1',
        shortId: 'DISPATCH-TEST',
        title: 'TestError: this is a sample event from Dispatch',
        culprit: 'dispatch.test(sample)',
        level: 'info',
        status: 'unresolved',
        substatus: 'new',
        priority: 'low',
        count: '1',
        userCount: 0,
        firstSeen: iso,
        lastSeen: iso,
        project: { slug: 'dispatch', name: 'Dispatch' },
        metadata: { type: 'TestError', value: 'this is a sample event from Dispatch' },
      },
    },
    actor: { type: 'application', id: 'dispatch', name: 'Dispatch' },
  };
}

/**
 * A sample to preview a template with when the source has received nothing matching `pattern`
 * (`issue.created`, `issue.*`, `*`): the issue sample for anything issue-shaped (every issue
 * action has the same payload), else an empty payload of the asked type.
 */
export function sampleEvent(pattern: string, now: number): { eventType: string; payload: Record<string, unknown> } {
  const [resource, action = 'sample'] = pattern.split('.') as [string, string?];
  if (pattern === '*' || resource === 'issue') {
    const eventType = pattern === '*' || action === '*' ? SAMPLE_EVENT_TYPE : pattern;
    return { eventType, payload: { ...sampleIssueCreated(now), action: eventType.split('.')[1] } };
  }
  const sampleAction = action === '*' ? 'sample' : action;
  return { eventType: `${resource}.${sampleAction}`, payload: { action: sampleAction, data: {} } };
}
