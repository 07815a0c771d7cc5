import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { COLORS } from '../../embed/colors.js';
import { field, textField } from '../../embed/fields.js';
import { inlineCode, link, oneLine, prose } from '../../embed/markdown.js';
import { humanize, truncate } from '../../embed/text.js';
import { isoTime } from '../../embed/time.js';
import { loose, looseArray, optBool, optIdish, optNumberish, optString, parseLoose } from '../loose-schema.js';
import type { Formatter } from './types.js';

const Payload = z.looseObject({
  data: loose({
    buildId: optIdish,
    projectSlug: optString,
    platform: optString,
    state: optString,
    appInfo: loose({
      name: optString,
      appId: optString,
      version: optString,
      buildNumber: optIdish,
      artifactType: optString,
      dateAdded: optString,
    }),
    gitInfo: loose({ headSha: optString, headRepoName: optString, headRef: optString, baseRef: optString, prNumber: optIdish }),
    errorMessage: optString,
    downloadSize: optNumberish,
    installSize: optNumberish,
    baseAppInfo: loose({ version: optString, buildNumber: optIdish }),
    comparisons: looseArray(
      z.looseObject({
        metricsArtifactType: optString,
        identifier: optString,
        sizeMetricDiff: loose({
          headDownloadSize: optNumberish,
          baseDownloadSize: optNumberish,
          headInstallSize: optNumberish,
          baseInstallSize: optNumberish,
        }),
      }),
    ),
    buildConfiguration: optString,
    isInstallable: optBool,
    installUrl: optString,
  }),
});

export function bytes(n: number | undefined): string | undefined {
  if (n === undefined) return undefined;
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function change(head: number | undefined, base: number | undefined): string | undefined {
  if (head === undefined || base === undefined) return bytes(head);
  const delta = head - base;
  const sign = delta >= 0 ? '+' : '−';
  return `${bytes(head)} (${sign}${bytes(Math.abs(delta))})`;
}

/** Mobile build events: size analysis and build distribution. */
export const preprodArtifactFormatter: Formatter = (event) => {
  const data = parseLoose(Payload, event.payload).data ?? {};
  const app = data.appInfo;
  const name = [app?.name ?? app?.appId ?? 'Build', app?.version, app?.buildNumber !== undefined ? `(${app.buildNumber})` : undefined]
    .filter(Boolean)
    .join(' ');
  const git = data.gitInfo;
  const failed = Boolean(data.errorMessage) || data.state === 'FAILED';
  return new LimitedEmbedBuilder()
    .setTitle(oneLine(`${humanize(event.action.replace(/_completed$/, '')) ?? 'Build'}: ${name}`))
    .setURL(data.isInstallable ? data.installUrl : undefined)
    .setDescription(failed ? prose(data.errorMessage ?? 'The analysis failed.') : undefined)
    .setColor(failed ? COLORS.red : data.state === 'COMPLETED' ? COLORS.green : COLORS.blue)
    .addFields(
      textField('Platform', data.platform),
      textField('Artifact', app?.artifactType),
      textField('State', data.state),
      field('Download size', bytes(data.downloadSize)),
      field('Install size', bytes(data.installSize)),
      textField('Configuration', data.buildConfiguration),
      data.isInstallable !== undefined
        ? field('Installable', data.isInstallable ? (link('Install', data.installUrl) ?? 'yes') : 'no')
        : undefined,
      field('Branch', git?.headRef ? inlineCode([git.headRef, git.baseRef].filter(Boolean).join(' → ')) : undefined),
      field('Pull request', git?.prNumber !== undefined ? `${oneLine(git.headRepoName) ?? ''}#${git.prNumber}` : undefined),
      field('Commit', inlineCode(git?.headSha && truncate(git.headSha, 12, ''))),
      ...(data.comparisons ?? [])
        .slice(0, 5)
        .map((c) =>
          field(
            `Size vs base · ${oneLine(humanize(c.metricsArtifactType?.toLowerCase())) ?? 'artifact'}`,
            [
              `download ${change(c.sizeMetricDiff?.headDownloadSize, c.sizeMetricDiff?.baseDownloadSize) ?? '?'}`,
              `install ${change(c.sizeMetricDiff?.headInstallSize, c.sizeMetricDiff?.baseInstallSize) ?? '?'}`,
            ].join('\n'),
            false,
          ),
        ),
    )
    .setTimestamp(isoTime(app?.dateAdded));
};
