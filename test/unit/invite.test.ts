import { PermissionFlagsBits, PermissionsBitField } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { BOT_PERMISSIONS, missingForThreads, missingToPost } from '../../src/discord/channel-check.js';
import { describeInvitePermissions, inviteUrl } from '../../src/discord/invite.js';

const asked = (url: string) => BigInt(new URL(url).searchParams.get('permissions')!);
const grantedBy = (bits: bigint) => (bit: bigint) => (bits & bit) === bit;

describe('the invite URL deploy-commands prints', () => {
  const url = inviteUrl('1300000000000000001', '1300000000000000099');

  it('adds the bot and /dispatch to the server named', () => {
    const query = new URL(url).searchParams;
    expect(new URL(url).origin + new URL(url).pathname).toBe('https://discord.com/oauth2/authorize');
    expect(query.get('client_id')).toBe('1300000000000000001');
    expect(query.get('scope')).toBe('bot applications.commands');
    expect(query.get('guild_id')).toBe('1300000000000000099');
    expect(new URL(inviteUrl('1')).searchParams.has('guild_id')).toBe(false);
  });

  it('asks for exactly the permissions the bot checks and uses: with them nothing is missing, without any one of them something is', () => {
    const bits = asked(url);
    expect(new PermissionsBitField(bits).toArray().sort()).toEqual(
      ['ViewChannel', 'SendMessages', 'EmbedLinks', 'CreatePublicThreads', 'SendMessagesInThreads', 'ReadMessageHistory'].sort(),
    );
    expect(missingToPost(grantedBy(bits))).toEqual([]);
    expect(missingForThreads(grantedBy(bits))).toEqual([]);
    for (const { bit, name } of BOT_PERMISSIONS.filter((p) => p.bit !== PermissionFlagsBits.ReadMessageHistory)) {
      const without = grantedBy(bits & ~bit);
      expect([...missingToPost(without), ...missingForThreads(without)], name).toEqual([name]);
    }
    // Never more than that: no administrator, no managing anything, no mentioning everyone.
    for (const bit of [PermissionFlagsBits.Administrator, PermissionFlagsBits.ManageChannels, PermissionFlagsBits.MentionEveryone])
      expect(bits & bit).toBe(0n);
  });

  it('says what each permission is for', () => {
    expect(describeInvitePermissions()).toBe(
      "View Channel, Send Messages, Embed Links (to post, on every route); Create Public Threads, Send Messages in Threads (for cards' history threads); Read Message History (to tell whether a card has scrolled out of sight)",
    );
  });
});
