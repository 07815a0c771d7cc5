import { describe, expect, it } from 'vitest';
import { activityNeedsEyes, alertNeedsEyes, incidentNeedsEyes, unresolvedNeedsEyes } from '../../src/cards/attention.js';
import type { CardState } from '../../src/cards/card-state.js';
import { clearedIn, saysWhereItStands, withoutStatus } from '../../src/cards/standing.js';

describe('what needs eyes', () => {
  it('an issue unresolved again, and no other issue action', () => {
    expect(unresolvedNeedsEyes('unresolved')).toBe(true);
    for (const action of ['created', 'resolved', 'assigned', 'archived', 'ignored', 'deleted'])
      expect(unresolvedNeedsEyes(action)).toBe(false);
  });

  it('an alert rule firing again, not its first firing', () => {
    expect(alertNeedsEyes(1)).toBe(false);
    expect(alertNeedsEyes(2)).toBe(true);
  });

  it('an activity reporting an escalation', () => {
    expect(activityNeedsEyes('set_escalating')).toBe(true);
    expect(activityNeedsEyes('seer_root_cause_completed')).toBe(false);
  });

  it('a metric alert critical again after it calmed, or firing after it was resolved; not its first firing nor staying critical', () => {
    expect(incidentNeedsEyes(undefined, 'critical')).toBe(false);
    expect(incidentNeedsEyes(undefined, 'warning')).toBe(false);
    expect(incidentNeedsEyes('critical', 'critical')).toBe(false);
    expect(incidentNeedsEyes('critical', 'warning')).toBe(false);
    expect(incidentNeedsEyes('warning', 'critical')).toBe(true);
    expect(incidentNeedsEyes('resolved', 'warning')).toBe(true);
    expect(incidentNeedsEyes('resolved', 'resolved')).toBe(false);
  });
});

describe('where an issue stands', () => {
  const card: CardState = { key: 'issue:1', kind: 'issue', status: 'unresolved', lastUpdate: { text: '', at: 0 }, history: [] };

  it('a field an issue payload sends as null is empty now; a field it leaves out is unknown', () => {
    expect(clearedIn({ assignedTo: null, substatus: null, priority: 'high' })).toEqual(['substatus', 'assignee', 'assigneeId']);
    expect(clearedIn({ title: 'x' })).toEqual([]);
    expect(clearedIn(null)).toEqual([]);
  });

  it("an assignment's status is left out once the card knows one, and taken by a card it starts", () => {
    const update = { status: 'resolved', substatus: 'x', resolution: 'in 1.0', assignee: 'Alice' };
    expect(withoutStatus(card, update)).toEqual({ assignee: 'Alice' });
    expect(withoutStatus(undefined, update)).toEqual(update);
  });

  it('an event says where the issue stands when it sets or clears its status, substatus or assignee', () => {
    expect(saysWhereItStands({ status: 'resolved' }, [])).toBe(true);
    expect(saysWhereItStands({}, ['assigneeId'])).toBe(true);
    expect(saysWhereItStands({ title: 'x', count: 3 }, ['resolution'])).toBe(false);
  });
});
