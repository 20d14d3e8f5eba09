import { describe, expect, it } from 'vitest';
import { createHmacHasher, createKeyManager, createMemoryKeyStore, type KeyRecord } from '../../src/index.js';
import { decodeStoredRecord, KEY_FIELD_NAMES, KEY_FIELDS } from '../../src/integration-kit.js';
import { toApiKeyInfo, validateKeySettings } from '../../src/keys/key-record.js';

async function aRecord(): Promise<KeyRecord> {
  const store = createMemoryKeyStore();
  const keys = createKeyManager({ store, hasher: createHmacHasher({ pepper: 'p'.repeat(32) }) });
  const { record } = await keys.create({
    name: 'k',
    scopes: ['images:read'],
    rateLimit: { limit: 5, windowSeconds: 60 },
    ownerId: 'alice',
  });
  return (await store.get(record.id))!;
}

describe('the key record’s field table', () => {
  it('has one row per field of a stored record, in the order stores write them', async () => {
    const record = await aRecord();
    expect([...KEY_FIELD_NAMES].sort()).toEqual(Object.keys(record).sort());
    expect(new Set(KEY_FIELD_NAMES.map((name) => KEY_FIELDS[name].column)).size).toBe(KEY_FIELD_NAMES.length);
  });

  it('drives the settings a caller may give: every setting row, nothing else', () => {
    const settings = KEY_FIELD_NAMES.filter((name) => KEY_FIELDS[name].setting);
    expect(settings).toEqual([
      'name',
      'scopes',
      'paths',
      'ips',
      'expiresAt',
      'rateLimit',
      'quota',
      'metadata',
      'ownerId',
      'portalBounds',
    ]);
    for (const name of KEY_FIELD_NAMES.filter((n) => !KEY_FIELDS[n].setting))
      expect(() => validateKeySettings({ [name]: 'x' } as never), name).toThrow(name);
    expect(() => validateKeySettings({ ownerId: 'a\u202Eb' })).toThrow(/ownerId/);
    expect(validateKeySettings({ ownerId: null, name: 'n' })).toEqual({ ownerId: null, name: 'n' });
  });

  it('drives the public info: every field but the hash, an older record’s filled in', async () => {
    const record = await aRecord();
    const info = toApiKeyInfo(record);
    expect(info).not.toHaveProperty('hash');
    expect(Object.keys(info)).toEqual(KEY_FIELD_NAMES.filter((name) => name !== 'hash'));
    const { portalBounds: _, ...older } = record;
    expect(toApiKeyInfo(older as KeyRecord).portalBounds).toEqual({
      scopes: record.scopes,
      paths: record.paths,
      ips: record.ips,
    });
  });

  it('decodes a stored record, fills in what an older one lacks, and names a bad field', async () => {
    const record = await aRecord();
    const stored = JSON.parse(JSON.stringify(record)) as Record<string, unknown>;
    expect(decodeStoredRecord((name) => stored[name])).toEqual(record);
    const { lineageId: _l, replacedBy: _r, portalBounds: _p, ...older } = stored;
    const filled = decodeStoredRecord((name) => older[name]);
    expect(filled.lineageId).toBe(record.id);
    expect(filled.replacedBy).toBeNull();
    expect(filled.portalBounds).toEqual({ scopes: record.scopes, paths: record.paths, ips: record.ips });
    // An SQL row: NULL where the field may not be null is a row from before it; where it may, null.
    const row: Record<string, unknown> = { ...stored, lineageId: null, portalBounds: null };
    expect(decodeStoredRecord((name) => row[name])).toMatchObject({
      lineageId: record.id,
      portalBounds: null,
    });
    for (const [name, bad] of [
      ['name', ''],
      ['scopes', 'images:read'],
      ['createdAt', 'yesterday'],
      ['expiresAt', 42],
      ['metadata', []],
      ['portalBounds', { scopes: [] }],
      ['hash', null],
    ] as const) {
      const broken = { ...stored, [name]: bad };
      expect(() => decodeStoredRecord((field) => broken[field]), name).toThrow(`field "${name}"`);
    }
  });
});
