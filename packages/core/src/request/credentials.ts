// Credential extraction. Pure string work over the header values exactly as
// the client sent them; nothing here touches a store or a hasher.

/** What a credential is. The scheme decides it: a key is never read as a token or the reverse. */
export type CredentialKind = 'api_key' | 'access_token';

/** Where the credential was found, so an adapter can remove it (`hideCredentials`). */
export interface CredentialSource {
  in: 'header' | 'query';
  /** Header name (lower case) or query parameter name. */
  name: string;
}

/** Header values as the client sent them: one string, or one string per repeated header. */
export type RawHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface ExtractedCredential {
  kind: CredentialKind;
  value: string;
  source: CredentialSource;
  /** Lower-case Authorization scheme, when the credential came in that header. */
  scheme?: string;
}

/** Why a request's credentials were refused before any lookup. */
export type ExtractionFailureReason =
  | 'no_credentials'
  | 'duplicate_header'
  | 'duplicate_parameter'
  | 'multiple_credentials'
  | 'unknown_scheme'
  | 'empty_credential'
  | 'invalid_characters'
  | 'credential_too_long'
  /** An access token (a JWT) sent where an API key goes (`Bearer`, `X-Api-Key`). */
  | 'access_token_as_api_key';

export type ExtractionResult =
  | { ok: true; credential: ExtractedCredential }
  | { ok: false; reason: ExtractionFailureReason };

export interface CredentialConfig {
  /** Lower-case API key header name, or null when that header is not read. */
  apiKeyHeader: string | null;
  /** Lower-case Authorization scheme to the kind it carries. */
  schemes: ReadonlyMap<string, CredentialKind>;
  /** Query parameter carrying an API key, or null (the default: off). */
  queryParam: string | null;
  maxLength: Readonly<Record<CredentialKind, number>>;
}

const failures = new Map<ExtractionFailureReason, { ok: false; reason: ExtractionFailureReason }>();
function refuse(reason: ExtractionFailureReason): { ok: false; reason: ExtractionFailureReason } {
  let failure = failures.get(reason);
  if (!failure) {
    failure = Object.freeze({ ok: false as const, reason });
    failures.set(reason, failure);
  }
  return failure;
}

function valuesOf(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

/**
 * Whether a header name as sent is `lower` (given in lower case), ignoring ASCII case, without
 * allocating: `toLowerCase()` made a string for every `X-Api-Key` a client capitalized.
 */
function isHeaderName(name: string, lower: string): boolean {
  return name.length === lower.length && startsWithFolded(name, lower);
}

/** Whether `text` starts with `lower` (given in lower case), ignoring ASCII case. */
function startsWithFolded(text: string, lower: string): boolean {
  const length = lower.length;
  if (text.length < length) return false;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    // Upper-case ASCII letters fold to lower case; no other character changes.
    if ((code >= 65 && code <= 90 ? code + 32 : code) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The configured scheme (lower case) that an Authorization value of `length` characters before
 * its first space names, or undefined. Compared in place against the 1-3 configured schemes, so
 * the hot path neither lower-cases a copy nor hashes a fresh string for the Map lookup.
 */
function schemeOf(raw: string, length: number, config: CredentialConfig): string | undefined {
  for (const scheme of config.schemes.keys()) {
    if (scheme.length === length && startsWithFolded(raw, scheme)) return scheme;
  }
  return undefined;
}

const AUTHORIZATION_SOURCE: CredentialSource = Object.freeze({ in: 'header', name: 'authorization' });
const headerSources = new Map<string, CredentialSource>();
let lastSource: CredentialSource = AUTHORIZATION_SOURCE;
/**
 * One frozen source per header name: a successful request allocates none. The last one answered
 * is checked first (an application configures one key header, so the Map is read once).
 */
function headerSource(name: string): CredentialSource {
  if (lastSource.name === name) return lastSource;
  let source = headerSources.get(name);
  if (!source) {
    source = Object.freeze({ in: 'header', name });
    headerSources.set(name, source);
  }
  lastSource = source;
  return source;
}

const NOT_VISIBLE_ASCII = /[^\x21-\x7e]/;

/**
 * Whether a credential holds a control character, a space, DEL or a non-ASCII character: such a
 * credential is refused as `invalid_characters` (400) rather than as a wrong one (401).
 *
 * The check runs only once a credential has been refused (`refuseCredential` in refusals.ts), not
 * on every request: a credential that passes is equal to a key or token verified before, and those
 * are base62 and base64url, so it cannot hold such characters. It cost 35 ns for a 58-character key
 * and 250 ns for a 330-character token (one character class, linear, native code in V8).
 */
export function hasInvalidCharacters(value: string): boolean {
  return NOT_VISIBLE_ASCII.test(value);
}

/** Null when `value` is a usable credential of `kind`, else the reason it is not. */
function checkValue(
  value: string,
  kind: CredentialKind,
  config: CredentialConfig,
): ExtractionFailureReason | null {
  if (value.length === 0) return 'empty_credential';
  if (value.length > config.maxLength[kind]) {
    // Only on this refusal path: an API key is never this long, a token always is.
    return kind === 'api_key' && looksLikeJwt(value) ? 'access_token_as_api_key' : 'credential_too_long';
  }
  return null;
}

/** Three base64url segments, the first a JSON object (`eyJ`): a JWT, whatever its signature. */
function looksLikeJwt(value: string): boolean {
  return value.startsWith('eyJ') && /^[\w-]+\.[\w-]+\.[\w-]*$/.test(value);
}

/** The raw query string of a request target (between `?` and `#`), or null. */
function rawQuery(url: string): string | null {
  const q = url.indexOf('?');
  if (q === -1) return null;
  const hash = url.indexOf('#', q);
  return url.slice(q + 1, hash === -1 ? undefined : hash);
}

/**
 * Finds the one credential of a request, or says why there is none or too many. Refuses a
 * repeated header or parameter, two credentials in different places (even if equal), an unknown
 * Authorization scheme, an empty value, and values over the cap. Characters are the caller's to
 * check ({@link hasInvalidCharacters}) when it refuses the credential.
 */
export function extractCredential(
  headers: RawHeaders | readonly string[],
  url: string,
  config: CredentialConfig,
): ExtractionResult {
  // How many times each credential header came, and its first value: one pass over Node's
  // rawHeaders ([name, value, ...], names as sent) for both names, building nothing, instead of
  // every header's array (`headersDistinct`), which `pnpm bench` showed costing about 1 µs.
  const keyName = config.apiKeyHeader;
  let authCount = 0;
  let authValue = '';
  let keyCount = 0;
  let keyValue = '';
  if (Array.isArray(headers)) {
    const raw = headers as readonly string[];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (isHeaderName(name, 'authorization') && authCount++ === 0) authValue = raw[i + 1]!;
      if (keyName !== null && isHeaderName(name, keyName) && keyCount++ === 0) keyValue = raw[i + 1]!;
    }
  } else {
    const auth = valuesOf((headers as RawHeaders).authorization);
    authCount = auth.length;
    authValue = auth[0] ?? '';
    if (keyName !== null) {
      const key = valuesOf((headers as RawHeaders)[keyName]);
      keyCount = key.length;
      keyValue = key[0] ?? '';
    }
  }

  let found: ExtractedCredential | null = null;
  if (authCount > 1) return refuse('duplicate_header');
  if (authCount === 1) {
    const raw = authValue;
    const space = raw.indexOf(' ');
    const scheme = schemeOf(raw, space === -1 ? raw.length : space, config);
    if (scheme === undefined) return raw.length === 0 ? refuse('empty_credential') : refuse('unknown_scheme');
    const kind = config.schemes.get(scheme)!;
    let start = space === -1 ? raw.length : space + 1;
    while (raw.charCodeAt(start) === 32) start++; // RFC 9110: 1*SP between scheme and credentials
    const value = raw.slice(start);
    const problem = checkValue(value, kind, config);
    if (problem) return refuse(problem);
    found = { kind, value, source: AUTHORIZATION_SOURCE, scheme };
  }

  if (keyName !== null) {
    if (keyCount > 1) return refuse('duplicate_header');
    if (keyCount === 1) {
      if (found) return refuse('multiple_credentials');
      const problem = checkValue(keyValue, 'api_key', config);
      if (problem) return refuse(problem);
      found = { kind: 'api_key', value: keyValue, source: headerSource(keyName) };
    }
  }

  if (config.queryParam !== null) {
    const query = rawQuery(url);
    if (query !== null && query.length > 0) {
      const values = new URLSearchParams(query).getAll(config.queryParam);
      if (values.length > 1) return refuse('duplicate_parameter');
      if (values.length === 1) {
        if (found) return refuse('multiple_credentials');
        const problem = checkValue(values[0]!, 'api_key', config);
        if (problem) return refuse(problem);
        found = { kind: 'api_key', value: values[0]!, source: { in: 'query', name: config.queryParam } };
      }
    }
  }

  return found ? { ok: true, credential: found } : refuse('no_credentials');
}
