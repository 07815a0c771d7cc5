import { admin, componentClick, interact, shownText, type Member } from '../test/support/interactions.js';
import { until, type Loopback } from './loopback.js';
import { view, type Recording } from './recording.js';
import { answerView, carries, fieldOf } from './story-views.js';

type Payload = Record<string, any>;
/** The story's issue webhook (`issue.<action>`, its dates made fresh) with these changes to the issue. */
export type IssueEvent = (action: string, changes?: Payload) => Payload;

/** The story's connected member: Bob, of the server, who is Sentry's user Bob (the loopback Sentry's member 502). */
const BOB = { id: '502', name: 'Bob', email: 'bob@example.com' };
const BOB_TOKEN = 'sntryu_demo-bob-personal-token';

/** A second issue of the story's project, Bob's to look after: its own card. */
const MAILER = {
  id: '1234567901',
  shortId: 'PYTHON-Z',
  title: "TypeError: Cannot read properties of undefined (reading 'email')",
  culprit: 'app/mailer.js in sendWelcomeEmail',
  level: 'error',
};
/** The story's issue event, made about the mailer's issue instead (its links at the same Sentry). */
function mailerEvent(issueEvent: IssueEvent, action: string, changes: Payload = {}): Payload {
  const story = issueEvent(action).data.issue as Payload;
  const web_url = String(story.web_url).replace(String(story.id), MAILER.id);
  return issueEvent(action, {
    ...MAILER,
    web_url,
    permalink: web_url,
    url: String(story.url).replace(String(story.id), MAILER.id),
    ...changes,
  });
}

/**
 * People: Bob connects his own Sentry identity; a new issue comes in, Alice gives it to him in
 * Sentry (he gets a DM with it and a link to its card), and he archives it for 24 hours from the
 * card, as himself (Sentry's activity names him; the card's thread says so).
 */
export async function people(
  loop: Loopback,
  story: { slug: string; cards: string; issueEvent: IssueEvent },
  panels: Recording['panels'],
  say: (step: string) => void,
): Promise<void> {
  const { slug, issueEvent } = story;
  const { discord } = loop;
  const cards = loop.channel(story.cards).id;
  const bob: Member = { ...admin(loop.guild), username: 'bob' };
  loop.sentry.addPersonalToken(BOB_TOKEN, BOB);
  const connected = await loop.form('me', 'connect', [], { token: BOB_TOKEN, url: loop.sentry.url, org: 'example-org' }, bob);
  if (!shownText(connected).includes('Connected as Bob')) throw new Error(`demo: me connect answered ${shownText(connected)}`);
  panels.push({
    id: 'me-connect',
    caption: 'bob runs /dispatch me connect and pastes a personal token of his',
    messages: [answerView(connected)],
  });
  say('/dispatch me connect (bob, a personal Sentry token) → his clicks act as him in Sentry, issues assigned to him come as DMs');

  await loop.webhook(slug, 'issue', mailerEvent(issueEvent, 'created'));
  const card = await discord.waitForMessage((m) => m.channel_id === cards && carries(m, MAILER.shortId));
  const assigned = mailerEvent(issueEvent, 'assigned', { assignedTo: { type: 'user', id: BOB.id, name: BOB.name, email: BOB.email } });
  assigned.actor = { type: 'user', id: 501, name: 'Alice' };
  assigned.data = { ...assigned.data, assignee: { type: 'user', id: Number(BOB.id), name: BOB.name, email: BOB.email } };
  await loop.webhook(slug, 'issue', assigned);
  await until(() => discord.directMessagesTo(bob.userId).length > 0, 'the DM to bob');
  panels.push({
    id: 'dm',
    caption:
      'Alice assigns a new issue to Bob in Sentry: Sentry’s webhook names him, and he gets a direct message with the issue and a link to its card',
    messages: discord.directMessagesTo(bob.userId).map((m) => view(m, discord)),
  });
  say(`issue.created ${MAILER.shortId}, then issue.assigned to Bob in Sentry → a DM to bob with the issue and a link to its card`);

  const now = () => discord.message(card.id)!;
  await until(() => fieldOf(now(), 'Assigned to') === BOB.name, 'the card to say Bob');
  const archive = now()
    .components.flatMap((row: { components: { label?: string; custom_id?: string }[] }) => row.components)
    .find((c) => c.label === 'Archive…');
  if (!archive?.custom_id) throw new Error('demo: the card has no Archive… button');
  const clicked = view(now(), discord);
  const opened = await interact(discord, componentClick(bob, now(), archive.custom_id));
  const menu = await discord.waitForResponse((r) => r.token === opened.token && r.kind === 'edit');
  panels.push({
    id: 'archive',
    caption: 'bob clicks Archive… on the card: Sentry’s choices, only he sees them',
    messages: [clicked, answerView(menu)],
  });
  const select = menu.body.components[0].components[0];
  const own = { id: 'bob-archive-menu', channel_id: card.channel_id, components: menu.body.components, embeds: [], flags: 64 };
  await interact(discord, componentClick(bob, own, select.custom_id, ['archive-24h']));
  await until(() => /^archived for 24 h, until /.test(fieldOf(now(), 'Status') ?? ''), 'the card archived for 24 h');
  say('bob chooses Archive… → For 24 hours → archived in Sentry as him; the card says "archived for 24 h, until …"');
}
