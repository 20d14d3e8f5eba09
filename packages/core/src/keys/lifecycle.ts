// The management half of the key manager: create, list, get, update, revoke, rotate, delete.
// Every change goes to the store first, then drops what the verifier cached about the key, so
// the next request in this process sees it (other processes hear of it through the store).
import { configError } from '../errors/config-error.js';
import type { KeyListFilter } from '../stores/key-store.js';
import { integerOption, optionsObject } from '../util/options.js';
import { generateApiKey } from './key-format.js';
import type { CreatedApiKey, CreateKeyInput, KeyManager, RotateKeyOptions } from './key-manager.js';
import type { KeyManagerSettings } from './key-manager-options.js';
import {
  type ApiKeyInfo,
  boundsOf,
  type KeyRecord,
  type KeyRecordPatch,
  type KeySettings,
  toApiKeyInfo,
  validateKeySettings,
} from './key-record.js';

export type Lifecycle = Pick<
  KeyManager,
  'create' | 'list' | 'get' | 'update' | 'revoke' | 'rotate' | 'delete'
>;

/** A new key's record: `base` settings, defaults for the rest. */
function newRecord(
  base: KeyRecordPatch & { name: string },
  made: { id: string; prefix: string; environment: string; hash: string; at: number; lineageId: string },
): KeyRecord {
  return {
    id: made.id,
    name: base.name,
    environment: made.environment,
    prefix: made.prefix,
    hash: made.hash,
    scopes: base.scopes ?? [],
    paths: base.paths ?? ['*'],
    ips: base.ips ?? [],
    createdAt: new Date(made.at),
    expiresAt: base.expiresAt ?? null,
    revokedAt: null,
    lastUsedAt: null,
    rateLimit: base.rateLimit ?? null,
    quota: base.quota ?? null,
    metadata: base.metadata ?? {},
    ownerId: base.ownerId ?? null,
    replacedBy: null,
    lineageId: made.lineageId,
    // An operator's key: its owner may narrow what it was given. The portal names its own (null).
    portalBounds:
      base.portalBounds !== undefined
        ? base.portalBounds
        : { scopes: base.scopes ?? [], paths: base.paths ?? ['*'], ips: base.ips ?? [] },
  };
}

// biome-ignore lint/complexity/noExcessiveLinesPerFunction: the lifecycle operations share the store, hasher and invalidation in one closure; each inner function is short
export function createLifecycle(settings: KeyManagerSettings, invalidate: (id: string) => void): Lifecycle {
  const { store, hasher, environments, defaultEnvironment, now, defaultGraceSeconds, emit } = settings;

  async function updateRecord(id: string, patch: KeyRecordPatch): Promise<KeyRecord | null> {
    const record = await store.update(id, patch);
    invalidate(id);
    return record;
  }

  /** Generates, stores and announces a key; `lineageId` is the rotated key's, when rotating. */
  async function createRecord(
    base: KeyRecordPatch & { name: string },
    environment: string,
    lineageId?: string,
  ): Promise<CreatedApiKey> {
    const prefix = environments[environment];
    if (prefix === undefined)
      throw configError(
        'KW_INVALID_OPTION',
        'environment',
        `names no environment: ${JSON.stringify(environment)}`,
      );
    const at = now();
    if (base.expiresAt && base.expiresAt.getTime() <= at)
      throw configError('KW_INVALID_OPTION', 'expiresAt', 'is in the past', true);
    const { key, id } = generateApiKey(prefix);
    const hash = await hasher.hash(key);
    const record = newRecord(base, { id, prefix, environment, hash, at, lineageId: lineageId ?? id });
    await store.insert(record);
    invalidate(id);
    emit({ type: 'key.created', time: new Date(at), keyId: id, prefix, name: record.name });
    return { key, record: toApiKeyInfo(record) };
  }

  async function create(input: CreateKeyInput): Promise<CreatedApiKey> {
    if (typeof input !== 'object' || input === null)
      throw configError('KW_INVALID_OPTION', 'create', 'needs { name, ... }');
    const { environment = defaultEnvironment, expiresIn, ...keySettings } = input;
    if (keySettings.name === undefined) throw configError('KW_MISSING_OPTION', 'name', 'is required');
    const patch = validateKeySettings(keySettings);
    if (expiresIn !== undefined) {
      if (keySettings.expiresAt !== undefined)
        throw configError('KW_CONFLICTING_OPTIONS', 'expiresIn', 'and expiresAt: give one, not both');
      patch.expiresAt = new Date(
        now() + integerOption('expiresIn', expiresIn, 0, { max: 100 * 365 * 86400 }) * 1000,
      );
    }
    return createRecord({ ...patch, name: patch.name! }, environment);
  }

  async function revoke(id: string): Promise<ApiKeyInfo | null> {
    const existing = await store.get(id);
    if (!existing) return null;
    if (existing.revokedAt !== null) {
      invalidate(id);
      return toApiKeyInfo(existing);
    }
    const record = await updateRecord(id, { revokedAt: new Date(now()) });
    if (!record) return null;
    emit({ type: 'key.revoked', time: new Date(now()), keyId: id });
    return toApiKeyInfo(record);
  }

  /**
   * The new key's settings: the old key's, its expiry too (rotating never lengthens a key's life:
   * only an operator's `update` does), a new name if given.
   */
  function successorOf(old: KeyRecord, name: string | undefined): KeyRecordPatch & { name: string } {
    const copied = validateKeySettings({
      name: name ?? old.name,
      scopes: old.scopes,
      paths: old.paths,
      ips: old.ips,
      rateLimit: old.rateLimit,
      quota: old.quota,
      metadata: old.metadata,
      ownerId: old.ownerId,
      portalBounds: boundsOf(old),
      expiresAt: old.expiresAt,
    });
    return { ...copied, name: copied.name! };
  }

  async function rotate(id: string, options: RotateKeyOptions = {}): Promise<CreatedApiKey | null> {
    optionsObject('rotate', options, ['gracePeriodSeconds', 'name']);
    const grace = integerOption(
      'rotate.gracePeriodSeconds',
      options.gracePeriodSeconds,
      defaultGraceSeconds,
      { min: 0, max: 365 * 86400 },
    );
    const old = await store.get(id);
    if (!old) return null;
    if (old.revokedAt !== null) throw new Error(`keywarden: key ${id} is revoked and cannot be rotated`);
    // A second successor would be a second live key for one rotation: rotate the successor instead.
    if (old.replacedBy !== null)
      throw new Error(`keywarden: key ${id} was already replaced by ${old.replacedBy}; rotate that key`);
    const at = now();
    if (old.expiresAt !== null && old.expiresAt.getTime() <= at)
      throw new Error(`keywarden: key ${id} has expired and cannot be rotated`);
    const created = await createRecord(successorOf(old, options.name), old.environment, old.lineageId);
    const oldUntil = new Date(
      Math.min(at + grace * 1000, old.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY),
    );
    await updateRecord(id, { expiresAt: oldUntil, replacedBy: created.record.id });
    emit({
      type: 'key.rotated',
      time: new Date(at),
      keyId: id,
      newKeyId: created.record.id,
      oldKeyExpiresAt: oldUntil,
    });
    return created;
  }

  return {
    create,
    async list(filter?: KeyListFilter) {
      return (await store.list(filter)).map(toApiKeyInfo);
    },
    async get(id) {
      const record = await store.get(id);
      return record ? toApiKeyInfo(record) : null;
    },
    async update(id, keySettings: KeySettings) {
      const patch = validateKeySettings(keySettings);
      const { scopes, paths, ips } = patch;
      if ((scopes || paths || ips) && patch.portalBounds === undefined) {
        // An operator changed what the key may do: that is now what its owner may narrow from.
        const existing = await store.get(id);
        if (!existing) return null;
        patch.portalBounds = {
          scopes: scopes ?? existing.scopes,
          paths: paths ?? existing.paths,
          ips: ips ?? existing.ips,
        };
      }
      const record = await updateRecord(id, patch);
      if (!record) return null;
      emit({ type: 'key.updated', time: new Date(now()), keyId: id, fields: Object.keys(patch) });
      return toApiKeyInfo(record);
    },
    revoke,
    rotate,
    async delete(id) {
      const deleted = await store.delete(id);
      invalidate(id);
      if (deleted) emit({ type: 'key.deleted', time: new Date(now()), keyId: id });
      return deleted;
    },
  };
}
