import type { Recording } from './recording.js';
import { renderTranscript, type ChannelView, type MessageView, type Transcript } from './transcript.js';

/**
 * demo/index.html: the recording as one page. Each block is a transcript drawn by the library
 * (transcript.ts); this module only arranges them, with a heading and a sentence each. Blocks have
 * ids (`channel-sentry`, `life-1`, `panel-triage`, `thread-1`) and end with `<!-- end <id> -->`, and
 * messages worth a picture carry `data-picture`, for `npm run docs:pictures` and the tests.
 */

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Layout of the page around the transcripts; the transcripts keep the library's own styles. */
const PAGE_STYLES = `
  body { margin: 0; background: #313338; color: #dbdee1; font-family: 'gg sans', 'Noto Sans', 'Helvetica Neue', Helvetica, Arial, sans-serif; }
  main { max-width: 1560px; margin: 0 auto; padding: 24px; }
  h1 { font-size: 26px; margin: 8px 0; color: #f2f3f5; }
  h2 { font-size: 19px; margin: 32px 0 6px; color: #f2f3f5; }
  p, li { line-height: 1.5; } code { background: #1e1f22; padding: 1px 4px; border-radius: 3px; }
  .block { margin: 10px 0 18px; border-radius: 8px; overflow: hidden; }
  .caption { color: #b5bac1; font-size: 14px; margin: 4px 0; }
  .discord-messages { min-height: 0 !important; border: 0 !important; }
  /* Discord keeps a button's label on one line and cuts a long one short; the library lets it wrap over what is above. */
  .discord-button { max-width: 100%; } .discord-button > span:first-child { display: block !important; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .discord-action-row { flex-wrap: wrap; }
  /* A card's states side by side: one column per state, without the channel's header and footer. */
  .states .discord-messages { display: flex; flex-direction: row; align-items: stretch; gap: 0; padding-bottom: 12px; }
  .states .discord-messages > * { flex: 1 1 0; min-width: 0; }
  .states .discord-header, .states .discord-messages > div:last-child { display: none; }
  .states .discord-message { padding-right: 12px !important; border-left: 1px solid #3f4147; }
  .state-captions { display: flex; background: #2b2d31; }
  .state-captions div { flex: 1 1 0; padding: 8px 16px; font-size: 14px; color: #f2f3f5; border-left: 1px solid #3f4147; }
  .panel .discord-header, .panel .discord-messages > div:last-child { display: none; }
  /* The triage panel shows the member's menu opened, its choices listed under it. */
  #panel-triage .discord-select-menu, #panel-archive .discord-select-menu { height: auto; flex-wrap: wrap; padding: 8px; }
  #panel-triage .discord-select-menu > div[style*="position: absolute"], #panel-archive .discord-select-menu > div[style*="position: absolute"] { display: block !important; position: static !important; margin-top: 8px; }
  .note { margin: 0 0 4px; padding: 6px 12px; border-radius: 4px; font-size: 14px; }
  .note.ok { background: #1f3b2b; } .note.warning { background: #4a3d1a; } .note.error { background: #4f2226; }
`;

/** A card's status on a state, for the caption above it. */
function statusOf(state: MessageView): string {
  const embed = state.embeds[0] as { fields?: { name: string; value: string }[]; title?: string } | undefined;
  const status = embed?.fields?.find((f) => f.name === 'Status')?.value ?? embed?.title ?? 'posted';
  // A time tag ("archived for 24 h, until <t:…:t>") as the time it stands for: the caption is plain text.
  return status.replace(
    /<t:(\d+):[a-zA-Z]>/g,
    (_, seconds: string) => `${new Date(Number(seconds) * 1000).toISOString().slice(11, 16)} UTC`,
  );
}

/** The transcript with `data-picture` on the messages named in `highlights`. */
function marked(transcript: Transcript, highlights: Record<string, string>): string {
  let body = transcript.body;
  for (const [name, viewId] of Object.entries(highlights)) {
    const elementId = transcript.elementIds.get(viewId);
    if (elementId) body = body.replace(`id="${elementId}"`, `id="${elementId}" data-picture="${name}"`);
  }
  return body;
}

/** Where `view` appears, as a channel of its own. */
const asChannel = (base: ChannelView, id: string, messages: MessageView[]): ChannelView => ({ ...base, id, messages });

export interface PageText {
  title: string;
  /** Paragraphs under the title (HTML). */
  intro: string[];
}

export async function renderStoryPage(recording: Recording, text: PageText): Promise<string> {
  const parts: string[] = [];
  const styles = new Map<string, string>();
  const block = async (id: string, view: ChannelView, className = 'block') => {
    const transcript = await renderTranscript(view);
    for (const [name, style] of transcript.styles) styles.set(name, style);
    return `<div class="${className}" id="${id}">${marked(transcript, recording.highlights)}</div><!-- end ${id} -->`;
  };
  const base = recording.channels[0]!;

  for (const channel of recording.channels) {
    parts.push(`<h2>#${escapeHtml(channel.name)}</h2>`, await block(`channel-${channel.name}`, channel));
  }
  parts.push(
    '<h2>Cards through their lives</h2>',
    '<p class="caption">Each card is one message, edited as its issue changes: here every state it went through, left to right.</p>',
  );
  for (const [i, life] of recording.lives.entries()) {
    const captions = life.states.map((state, n) => `<div>${n === 0 ? 'Posted' : `Edit ${n}`} · ${escapeHtml(statusOf(state))}</div>`);
    const transcript = await block(`life-states-${i + 1}`, asChannel(base, `${life.messageId}-life`, life.states), 'states');
    parts.push(
      `<div class="block" id="life-${i + 1}"><div class="state-captions">${captions.join('')}</div>${transcript}</div><!-- end life-${i + 1} -->`,
    );
  }
  for (const panel of recording.panels) {
    parts.push(
      `<h2>${panel.id === 'triage' ? 'Triage from the card' : 'Only you can see this'}</h2>`,
      `<p class="caption">${escapeHtml(panel.caption)}</p>`,
      await block(`panel-${panel.id}`, asChannel(base, `panel-${panel.id}`, panel.messages), 'block panel'),
    );
  }
  parts.push('<h2>Threads</h2>', '<p class="caption">Each card’s history, in the thread started on it.</p>');
  for (const [i, thread] of recording.threads.entries()) {
    parts.push(`<p class="caption">🧵 ${escapeHtml(thread.name)} (in #${escapeHtml(thread.parent?.name ?? '')})</p>`);
    parts.push(await block(`thread-${i + 1}`, thread));
  }
  return page(text, styles, parts);
}

/** One message with what the template did with its event, as notes beside it. */
export interface AnnotatedMessage {
  fixture: string;
  message: MessageView;
  notes: { kind: 'ok' | 'warning' | 'error'; text: string }[];
}

export async function renderTemplatePage(channel: ChannelView, rows: AnnotatedMessage[], text: PageText): Promise<string> {
  const parts: string[] = [];
  const styles = new Map<string, string>();
  for (const [i, row] of rows.entries()) {
    const transcript = await renderTranscript(asChannel(channel, `${channel.id}-${i}`, [row.message]));
    for (const [name, style] of transcript.styles) styles.set(name, style);
    const notes = row.notes.map((note) => `<p class="note ${note.kind}">${escapeHtml(note.text)}</p>`).join('');
    parts.push(
      `<h2><code>${escapeHtml(row.fixture)}</code></h2>${notes}<div class="block panel" id="event-${i + 1}">${transcript.body}</div>`,
    );
  }
  return page(text, styles, parts);
}

/** The page: every component stylesheet any transcript used, once, then the page's own layout. */
function page(text: PageText, styles: Map<string, string>, parts: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(text.title)}</title>
${[...styles.values()].join('\n')}
<style>${PAGE_STYLES}</style></head>
<body><main>
<h1>${escapeHtml(text.title)}</h1>
${text.intro.map((p) => `<p>${p}</p>`).join('\n')}
${parts.join('\n')}
</main></body></html>
`;
}
