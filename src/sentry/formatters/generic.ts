import { z } from 'zod';
import type { Formatter } from './types.js';
import { COLORS, excerpt, footer, loose, oneLine, optString, parseLoose } from './parts.js';

const Envelope = z.looseObject({
  data: z.record(z.string(), z.unknown()).optional().catch(undefined),
});

const ProjectCarrier = loose({
  project: z
    .union([z.string(), z.looseObject({ slug: optString, name: optString })])
    .optional()
    .catch(undefined),
  project_slug: optString,
  title: optString,
});

/** Finds a project slug and a title wherever common Sentry payloads keep them. */
export function projectAndTitle(data: Record<string, unknown> | undefined): { project?: string; title?: string } {
  for (const value of Object.values(data ?? {})) {
    const carrier = parseLoose(ProjectCarrier, value);
    const project = typeof carrier.project === 'string' ? carrier.project : (carrier.project?.slug ?? carrier.project_slug);
    if (project || carrier.title) return { project, title: carrier.title };
  }
  const top = parseLoose(ProjectCarrier, data);
  return { project: top.project_slug, title: top.title };
}

/** Any event without a formatter of its own: type, project and a compact excerpt. Never fails. */
export const genericFormatter: Formatter = (event) => {
  const { data } = parseLoose(Envelope, event.payload);
  const { project, title } = projectAndTitle(data);
  return {
    title: event.type,
    description: [oneLine(title), excerpt(data)].filter(Boolean).join('\n'),
    color: COLORS.gray,
    footer: footer(event.type, project),
  };
};
