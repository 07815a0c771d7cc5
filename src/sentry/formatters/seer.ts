import type { APIEmbedField } from 'discord.js';
import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { COLORS } from '../../embed/colors.js';
import { field, textField } from '../../embed/fields.js';
import { codeBlock, inlineCode, link, oneLine, prose } from '../../embed/markdown.js';
import { loose, looseArray, optBool, optIdish, optNumberish, optString, parseLoose } from '../loose-schema.js';
import type { Formatter } from './types.js';

/** Seer autofix runs through seven stages; each webhook says which one it just reached. */
const SEER_STAGES = [
  ['root_cause_started', 'Finding the root cause'],
  ['root_cause_completed', 'Root cause found'],
  ['solution_started', 'Planning a solution'],
  ['solution_completed', 'Solution planned'],
  ['coding_started', 'Writing the fix'],
  ['coding_completed', 'Fix written'],
  ['pr_created', 'Pull request opened'],
] as const;

const Step = z.looseObject({
  title: optString,
  description: optString,
  code_snippet_and_analysis: optString,
  is_most_important_event: optBool,
  relevant_code_file: loose({ file_path: optString, repo_name: optString }),
});
const FileChange = z.looseObject({ diff: optString, path: optString, type: optString, added: optNumberish, removed: optNumberish });

const Payload = z.looseObject({
  data: loose({
    run_id: optIdish,
    group_id: optIdish,
    root_cause: loose({
      one_line_description: optString,
      five_whys: looseArray(z.string()),
      reproduction_steps: looseArray(z.string()),
      relevant_repo: optString,
      // Legacy (Seer-service RPC) shape.
      description: optString,
      steps: looseArray(Step),
    }),
    solution: loose({ one_line_summary: optString, description: optString, steps: looseArray(Step) }),
    code_changes: z.record(z.string(), z.array(z.unknown())).optional().catch(undefined),
    // Legacy coding shape.
    changes: looseArray(
      z.looseObject({ repo_name: optString, title: optString, description: optString, diff: optString, branch_name: optString }),
    ),
    pull_requests: looseArray(
      z.looseObject({
        repo_name: optString,
        provider: optString,
        pull_request: loose({ pr_number: optIdish, pr_url: optString, pr_id: optIdish }),
      }),
    ),
  }),
});
type SeerData = NonNullable<NonNullable<z.output<typeof Payload>>['data']>;

/** `▰▰▱▱▱▱▱`: how far Seer's run has got. */
export function seerProgress(stage: number): string {
  return '▰'.repeat(stage) + '▱'.repeat(SEER_STAGES.length - stage);
}

/** The stage a Seer action reports (1–7, or 0 for an action Dispatch does not know) and its label. */
export function seerStage(action: string): { stage: number; of: number; label: string } {
  const index = SEER_STAGES.findIndex(([name]) => name === action);
  return { stage: index + 1, of: SEER_STAGES.length, label: index === -1 ? action.replace(/_/g, ' ') : SEER_STAGES[index]![1] };
}

function numbered(items: (string | undefined)[]): string | undefined {
  const lines = items.filter((i): i is string => Boolean(i?.trim())).map((item, i) => `${i + 1}. ${prose(item)}`);
  return lines.length > 0 ? lines.join('\n') : undefined;
}

function rootCause(data: SeerData): { summary?: string; fields: (APIEmbedField | undefined)[] } {
  const cause = data.root_cause;
  if (!cause) return { fields: [] };
  const reasoning = cause.five_whys?.length
    ? numbered(cause.five_whys)
    : numbered(
        (cause.steps ?? []).map((s) => {
          const file =
            s.relevant_code_file?.file_path && s.relevant_code_file.file_path !== 'N/A'
              ? ` (${inlineCode(s.relevant_code_file.file_path)})`
              : '';
          return s.title ? `${s.is_most_important_event ? '★ ' : ''}${s.title}${file}` : undefined;
        }),
      );
  return {
    summary: prose(cause.one_line_description ?? cause.description),
    fields: [
      field('Why it happens', reasoning, false),
      field('Reproduction', numbered(cause.reproduction_steps ?? []), false),
      field('Repository', inlineCode(cause.relevant_repo)),
    ],
  };
}

function solution(data: SeerData): { summary?: string; fields: (APIEmbedField | undefined)[] } {
  const plan = data.solution;
  if (!plan) return { fields: [] };
  const steps = (plan.steps ?? []).map((s) => (s.title && s.description ? `**${s.title}**: ${s.description}` : (s.title ?? s.description)));
  return {
    summary: prose(plan.one_line_summary ?? plan.description),
    fields: [field('Steps', numbered(steps.map((s) => s?.replace(/\*\*/g, ''))), false)],
  };
}

function codeChanges(data: SeerData): { summary?: string; fields: (APIEmbedField | undefined)[] } {
  const out: (APIEmbedField | undefined)[] = [];
  let firstDiff: string | undefined;
  for (const [repo, rawFiles] of Object.entries(data.code_changes ?? {})) {
    const files = rawFiles.map((f) => FileChange.safeParse(f)).flatMap((r) => (r.success ? [r.data] : []));
    const lines = files.map((f) => `${oneLine(f.type) ?? 'M'} ${inlineCode(f.path) ?? '?'} (+${f.added ?? 0} −${f.removed ?? 0})`);
    const added = files.reduce((n, f) => n + (f.added ?? 0), 0);
    const removed = files.reduce((n, f) => n + (f.removed ?? 0), 0);
    out.push(
      field(
        `${oneLine(repo) ?? 'Repository'} · ${files.length} file${files.length === 1 ? '' : 's'}, +${added} −${removed}`,
        lines.join('\n'),
        false,
      ),
    );
    firstDiff ??= files.find((f) => f.diff)?.diff;
  }
  for (const change of data.changes ?? []) {
    out.push(
      field(
        oneLine(change.repo_name) ?? 'Repository',
        [oneLine(change.title), prose(change.description), change.branch_name ? `Branch ${inlineCode(change.branch_name)}` : undefined]
          .filter(Boolean)
          .join('\n'),
        false,
      ),
    );
    firstDiff ??= change.diff;
  }
  return { summary: undefined, fields: [...out, field('Diff', codeBlock(firstDiff, 'diff'), false)] };
}

/** A pull request Seer opened: `repo#number (provider)`, and its address. */
export interface SeerPullRequest {
  label: string;
  provider?: string;
  url?: string;
}

function pullRequestsOf(data: SeerData): SeerPullRequest[] {
  return (data.pull_requests ?? []).map((pr) => ({
    label: `${pr.repo_name ?? 'repository'}#${pr.pull_request?.pr_number ?? '?'}`,
    ...(pr.provider && pr.provider !== 'unknown' ? { provider: pr.provider } : {}),
    ...(pr.pull_request?.pr_url ? { url: pr.pull_request.pr_url } : {}),
  }));
}

/** `[repo#12](url) (github)`: a pull request as shown in an embed. */
export function pullRequestText(pr: SeerPullRequest): string {
  return `${link(pr.label, pr.url) ?? oneLine(pr.label)}${pr.provider ? ` (${oneLine(pr.provider)})` : ''}`;
}

function pullRequests(data: SeerData): { summary?: string; fields: (APIEmbedField | undefined)[] } {
  const prs = pullRequestsOf(data).map(pullRequestText);
  return { summary: undefined, fields: [field(prs.length === 1 ? 'Pull request' : 'Pull requests', prs.join('\n'), false)] };
}

/**
 * What a Seer stage produced, in one line each (the text as Seer wrote it, escaped when shown):
 * what a live card keeps of Seer's run, the latest of each kind. The feed embed shows the same in full.
 */
export interface SeerSummary {
  rootCause?: string;
  repo?: string;
  solution?: string;
  /** The code changes: `repo: path (+4 −0), …` or the legacy shape's title, description and branch. */
  fix?: string;
  prs?: SeerPullRequest[];
}

function fixOf(data: SeerData): string | undefined {
  const parts: string[] = [];
  for (const [repo, rawFiles] of Object.entries(data.code_changes ?? {})) {
    const files = rawFiles.map((f) => FileChange.safeParse(f)).flatMap((r) => (r.success ? [r.data] : []));
    parts.push(`${repo}: ${files.map((f) => `${f.type ?? 'M'} ${f.path ?? '?'} (+${f.added ?? 0} −${f.removed ?? 0})`).join(', ')}`);
  }
  for (const change of data.changes ?? []) {
    const branch = change.branch_name ? ` (branch ${change.branch_name})` : '';
    parts.push(`${change.repo_name ?? 'repository'}: ${[change.title, change.description].filter(Boolean).join(' — ')}${branch}`);
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

export function seerSummary(action: string, payload: unknown): SeerSummary {
  const data: SeerData = parseLoose(Payload, payload).data ?? {};
  switch (action) {
    case 'root_cause_completed': {
      const cause = data.root_cause;
      const text = cause?.one_line_description ?? cause?.description;
      return { ...(text ? { rootCause: text } : {}), ...(cause?.relevant_repo ? { repo: cause.relevant_repo } : {}) };
    }
    case 'solution_completed': {
      const text = data.solution?.one_line_summary ?? data.solution?.description;
      return text ? { solution: text } : {};
    }
    case 'coding_completed': {
      const fix = fixOf(data);
      return fix ? { fix } : {};
    }
    case 'pr_created': {
      const prs = pullRequestsOf(data);
      return prs.length > 0 ? { prs } : {};
    }
    default:
      return {};
  }
}

const DETAILS: Partial<Record<string, (data: SeerData) => { summary?: string; fields: (APIEmbedField | undefined)[] }>> = {
  root_cause_completed: rootCause,
  solution_completed: solution,
  coding_completed: codeChanges,
  pr_created: pullRequests,
};

/** Where Seer's autofix stands, and what the completed stage produced. */
export const seerFormatter: Formatter = (event) => {
  const data: SeerData = parseLoose(Payload, event.payload).data ?? {};
  const { stage, label } = seerStage(event.action);
  const details = DETAILS[event.action]?.(data) ?? { fields: [] };
  const firstPr = data.pull_requests?.[0]?.pull_request?.pr_url;
  return new LimitedEmbedBuilder()
    .setAuthor({ name: 'Seer autofix' })
    .setTitle(oneLine(`${label}${data.group_id !== undefined ? ` · issue ${data.group_id}` : ''}`))
    .setURL(event.action === 'pr_created' ? firstPr : undefined)
    .setDescription(
      [stage > 0 ? `${seerProgress(stage)} stage ${stage} of ${SEER_STAGES.length}` : undefined, details.summary]
        .filter(Boolean)
        .join('\n\n'),
    )
    .setColor(event.action === 'pr_created' ? COLORS.green : COLORS.purple)
    .addFields(...details.fields, textField('Issue', data.group_id), textField('Run', data.run_id));
};
