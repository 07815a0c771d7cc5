import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { COLORS } from '../../embed/colors.js';
import { field, textField } from '../../embed/fields.js';
import { oneLine } from '../../embed/markdown.js';
import { loose, optString, parseLoose } from '../loose-schema.js';
import type { Formatter } from './types.js';

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
  return new LimitedEmbedBuilder()
    .setTitle(`Integration ${done}`)
    .setDescription(`${who} ${done} **${app}** for **${org}**.`)
    .setColor(event.action === 'deleted' ? COLORS.gray : COLORS.green)
    .addFields(
      field('App', app),
      field('Organization', org),
      textField('Status', installation?.status),
      field('By', actor?.name ? `${who} (${oneLine(actor.type) ?? 'user'})` : undefined),
    );
};
