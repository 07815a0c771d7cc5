import { z } from 'zod';
import type { Formatter } from './types.js';
import { COLORS, field, fields, footer, loose, oneLine, optString, parseLoose } from './parts.js';

const Payload = z.looseObject({
  data: loose({
    installation: loose({
      status: optString,
      app: loose({ slug: optString }),
      organization: loose({ slug: optString }),
    }),
  }),
  actor: loose({ type: optString, name: optString }),
});

/** The integration was installed or removed. Its grant `code` is a credential and is never shown. */
export const installationFormatter: Formatter = (event) => {
  const { data, actor } = parseLoose(Payload, event.payload);
  const installation = data?.installation;
  const app = oneLine(installation?.app?.slug) ?? 'the integration';
  const org = oneLine(installation?.organization?.slug) ?? 'an organization';
  const who = oneLine(actor?.name) ?? 'Someone';
  const done = event.action === 'deleted' ? 'uninstalled' : event.action === 'created' ? 'installed' : event.action;
  return {
    title: `Integration ${done}`,
    description: `${who} ${done} **${app}** for **${org}**.`,
    color: event.action === 'deleted' ? COLORS.gray : COLORS.green,
    fields: fields(
      field('App', app),
      field('Organization', org),
      field('Status', installation?.status),
      field('By', actor?.name ? `${who} (${actor.type ?? 'user'})` : undefined),
    ),
    footer: footer(event.type, installation?.organization?.slug),
  };
};
