import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/sentry/verify.js';
import { allEvents } from '../support/db.js';
import { startHarness, type Harness } from '../support/harness.js';
import { loadFixture, serializeLikeSentry } from '../support/sentry.js';

const SECRET = 'hostile-secret';
const good = serializeLikeSentry(loadFixture('issue.created.json'));

let h: Harness;
let slug: string;
beforeAll(async () => {
  h = await startHarness({ env: { MAX_BODY_BYTES: String(64 * 1024) } });
  slug = (await h.addSource({ secret: SECRET })).slug;
});
afterAll(async () => {
  await h.close();
});

const headersFor = (body: string | Buffer) => ({
  'content-type': 'application/json',
  'sentry-hook-resource': 'issue',
  'sentry-hook-signature': sign(body, SECRET),
});

/** A raw HTTP exchange, for what fetch will not send (odd paths, chunked bodies, huge headers). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer | Buffer[],
): Promise<{ status: number; body: string; contentType?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${h.dispatch.url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text, contentType: res.headers['content-type'] }));
    });
    req.on('error', reject);
    for (const chunk of Array.isArray(body) ? body : body ? [body] : []) req.write(chunk);
    req.end();
  });
}

const deeplyNested = '{"action":"created","data":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
const invalidUtf8 = Buffer.concat([Buffer.from('{"action":"created","data":{"x":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}}')]);

const CASES: [string, () => Promise<{ status: number; body: string; contentType?: string }>, number][] = [
  ['malformed JSON', () => raw('POST', `/hooks/${slug}`, headersFor('{"action":'), Buffer.from('{"action":')), 400],
  ['an empty body', () => raw('POST', `/hooks/${slug}`, headersFor(''), Buffer.alloc(0)), 400],
  [
    'a wrong content type',
    () => raw('POST', `/hooks/${slug}`, { ...headersFor(good), 'content-type': 'text/html' }, Buffer.from(good)),
    415,
  ],
  [
    'no content type',
    () => {
      const { 'content-type': _, ...headers } = headersFor(good);
      return raw('POST', `/hooks/${slug}`, headers, Buffer.from(good));
    },
    415,
  ],
  ['invalid UTF-8', () => raw('POST', `/hooks/${slug}`, headersFor(invalidUtf8), invalidUtf8), 400],
  [
    'a gzip-encoded body',
    () => {
      const zipped = gzipSync(good);
      return raw('POST', `/hooks/${slug}`, { ...headersFor(zipped), 'content-encoding': 'gzip' }, zipped);
    },
    415,
  ],
  [
    'a body over the limit with a length',
    () => {
      const big = Buffer.alloc(70 * 1024, 'x');
      return raw('POST', `/hooks/${slug}`, headersFor(big), big);
    },
    413,
  ],
  [
    'a chunked body over the limit, without a length',
    () => raw('POST', `/hooks/${slug}`, headersFor('x'), Array(40).fill(Buffer.alloc(4096, ' '))),
    413,
  ],
  [
    'headers over 16 KiB',
    () => raw('POST', `/hooks/${slug}`, { ...headersFor(good), 'x-padding': 'p'.repeat(20_000) }, Buffer.from(good)),
    431,
  ],
  ['path traversal in the slug', () => raw('POST', '/hooks/..%2F..%2Fetc%2Fpasswd', headersFor(good), Buffer.from(good)), 404],
  ['dot segments', () => raw('POST', `/hooks/%2e%2e/${slug}`, headersFor(good), Buffer.from(good)), 404],
  [
    'an encoded slash inside a valid-looking slug',
    () => raw('POST', `/hooks/${slug.slice(0, 16)}%2F${slug.slice(17)}`, headersFor(good), Buffer.from(good)),
    404,
  ],
  ['a NUL byte in the slug', () => raw('POST', `/hooks/${slug.slice(0, 31)}%00`, headersFor(good), Buffer.from(good)), 404],
  ['a very long slug', () => raw('POST', `/hooks/${'A'.repeat(4000)}`, headersFor(good), Buffer.from(good)), 404],
  ['unicode in the slug', () => raw('POST', `/hooks/${encodeURIComponent('ｓｌｕｇ💥')}`, headersFor(good), Buffer.from(good)), 404],
  ['no slug', () => raw('POST', '/hooks/', headersFor(good), Buffer.from(good)), 404],
  ['GET on a hook', () => raw('GET', `/hooks/${slug}`, {}), 405],
  ['PUT on a hook', () => raw('PUT', `/hooks/${slug}`, headersFor(good), Buffer.from(good)), 405],
  ['DELETE on a hook', () => raw('DELETE', `/hooks/${slug}`, {}), 405],
  [
    'a malformed request line',
    () => raw('POST', `/hooks/${slug}`, { 'transfer-encoding': 'chunked', 'content-length': '5' }, Buffer.from('zz\r\n')),
    400,
  ],
];

describe('hostile input', () => {
  it.each(CASES)('%s gets a 4xx with a short JSON error, and nothing is stored or posted', async (_name, send, status) => {
    const before = (await allEvents(h.dispatch.db)).length;
    const postedBefore = h.discord.messages.length;
    const answer = await send();
    expect(answer.status).toBe(status);
    expect(answer.contentType).toMatch(/application\/json/);
    const parsed = JSON.parse(answer.body) as { error: string };
    expect(Object.keys(parsed)).toEqual(['error']);
    expect(parsed.error.length).toBeLessThan(80);
    expect(answer.body).not.toMatch(/at .*\.(ts|js):\d+/); // no stack trace
    await new Promise((r) => setTimeout(r, 50));
    expect((await allEvents(h.dispatch.db)).length).toBe(before);
    expect(h.discord.messages).toHaveLength(postedBefore);
    expect((await fetch(`${h.dispatch.url}/healthz`)).status).toBe(200);
  });

  it('accepts and posts a signed payload 10,000 levels deep: a signed event is never refused for its shape', async () => {
    const deep = (inner: string) => '{"action":"created","data":{"issue":' + '{"a":'.repeat(10_000) + inner + '}'.repeat(10_000) + '}}';
    for (const body of [deeplyNested, deep('1'), deep('[]')]) {
      const response = await raw('POST', `/hooks/${slug}`, headersFor(body), Buffer.from(body));
      expect(response.status).toBe(202);
    }
    await h.discord.waitForMessages(3, h.channelId);
    expect((await fetch(`${h.dispatch.url}/healthz`)).status).toBe(200);
  });

  it('still accepts a good request afterwards', async () => {
    const response = await raw('POST', `/hooks/${slug}`, headersFor(good), Buffer.from(good));
    expect(response.status).toBe(202);
  });
});
