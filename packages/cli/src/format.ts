// How keys look in a terminal.
import type { ApiKeyInfo } from '@keywarden/core';

/**
 * Characters a terminal acts on instead of showing: controls (all but the line feed), DEL, C1
 * controls (U+009B starts an escape sequence on some terminals), line and paragraph separators, and
 * the bidirectional controls that reorder what follows them (a name `a\u202Egnp.exe` shows as
 * `aexe.png`). The key manager refuses them in names and metadata; a record written by other means
 * (a hand-edited keys file, an older version) may still hold them.
 */
const ACTIVE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every character a terminal would act on written as a `\uXXXX` escape: visible in
 * human output, and the very same string once parsed in JSON output.
 */
export const terminalSafe = (text: string): string =>
  text.replace(ACTIVE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

export function status(key: ApiKeyInfo, now: number): string {
  if (key.revokedAt && key.revokedAt.getTime() <= now) return 'revoked';
  if (key.expiresAt && key.expiresAt.getTime() <= now) return 'expired';
  return 'active';
}

export const when = (date: Date | null) => (date ? `${date.toISOString().slice(0, 19)}Z` : '-');

/** Columns padded to their widest cell. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${rows.map(line).join('\n')}\n`;
}

/** One key, field by field. */
export function describeKey(key: ApiKeyInfo, now: number): string {
  const lines: [string, string][] = [
    ['id', key.id],
    ['name', key.name],
    ['environment', `${key.environment} (${key.prefix})`],
    ['status', status(key, now)],
    ['scopes', key.scopes.join(' ') || '-'],
    ['paths', key.paths.join(' ')],
    ['ips', key.ips.join(' ') || 'any'],
    ['rate limit', key.rateLimit ? `${key.rateLimit.limit} per ${key.rateLimit.windowSeconds} s` : '-'],
    ['quota', key.quota ? `${key.quota.limit} per ${key.quota.period}` : '-'],
    ['owner', key.ownerId ?? '-'],
    ['metadata', Object.keys(key.metadata).length ? JSON.stringify(key.metadata) : '-'],
    ['created', when(key.createdAt)],
    ['expires', when(key.expiresAt)],
    ['revoked', when(key.revokedAt)],
    ['last used', when(key.lastUsedAt)],
    ['replaced by', key.replacedBy ?? '-'],
  ];
  return table(lines.map(([k, v]) => [`${k}:`, v]));
}
