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
