// The public API of every published package, as users receive it: the runtime exports of the built
// ES module and CommonJS entries, and every name that the declaration files (.d.ts and .d.cts)
// export. Adding, removing or renaming an export must change this list, on purpose, with a
// changeset (a removal or rename is a breaking change).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const API: Record<string, { values: string[]; types: string[] }> = {
  core: {
    values: [
      'ACCESS_TOKEN_LIFETIME',
      'API_KEY_PARTS',
      'API_KEY_REGEX',
      'AUTH_ERROR_STATUS',
      'AuthError',
      'BASE62_ALPHABET',
      'DuplicateAccountError',
      'DuplicateKeyIdError',
      'KeywardenConfigError',
      'MAX_API_KEY_LENGTH',
      'MAX_KEY_PAGE',
      'MAX_PATH_LENGTH',
      'MAX_PATTERN_LENGTH',
      'MAX_PREFIX_LENGTH',
      'MAX_TOKEN_PATHS',
      'PORTAL_CSRF_HEADER',
      'PROBLEM_CONTENT_TYPE',
      'PROBLEM_TYPE_BASE',
      'accountUsageId',
      'allowsPath',
      'clientPartition',
      'createArgon2Hasher',
      'createHmacHasher',
      'createKeyManager',
      'createKeywarden',
      'createMemoryKeyStore',
      'createMemoryLimitStore',
      'createMemoryUsageStore',
      'createPortal',
      'formatApiKey',
      'generateApiKey',
      'generateTokenSecret',
      'isPatternWithin',
      'isSafeRawPath',
      'isValidKeyPrefix',
      'isValidPathPattern',
      'matchPathPattern',
      'normalizeCidr',
      'openFileKeyStore',
      'parseApiKey',
      'quotaPeriod',
      'utcDay',
      'validateRouteRequirements',
    ],
    types: [
      'AccessTokenClaims',
      'AccessTokenOptions',
      'AccessTokenResponse',
      'AccountLimitStatus',
      'AccountLimits',
      'AccountListFilter',
      'AccountManager',
      'AccountPatch',
      'AccountRecord',
      'AccountSettings',
      'AccountStatus',
      'AccountStore',
      'AccountTerms',
      'AccountView',
      'ApiKeyInfo',
      'ApiKeyParseFailure',
      'Argon2HasherOptions',
      'AuthErrorCode',
      'AuthFailureReason',
      'AuthRequest',
      'AuthResult',
      'CachedAccount',
      'ChargeResult',
      'ConfigErrorCode',
      'ConsumeResult',
      'CreateAccountInput',
      'CreateKeyInput',
      'CreatedApiKey',
      'CredentialKind',
      'CredentialSource',
      'EventHandler',
      'ExtractionFailureReason',
      'FailureThrottleOptions',
      'FileKeyStore',
      'FileKeyStoreOptions',
      'GeneratedApiKey',
      'Hasher',
      'HmacHasherOptions',
      'Hold',
      'HoldState',
      'JsonValue',
      'KeyBounds',
      'KeyCacheOptions',
      'KeyCountFilter',
      'KeyListFilter',
      'KeyManager',
      'KeyManagerOptions',
      'KeyMetadata',
      'KeyRecord',
      'KeyRecordPatch',
      'KeySettings',
      'KeyStore',
      'Keywarden',
      'KeywardenEvent',
      'KeywardenEventType',
      'KeywardenLogger',
      'KeywardenOptions',
      'LimitCounter',
      'LimitOptions',
      'LimitStatus',
      'LimitStore',
      'LimitUsage',
      'MemoryLimitStoreOptions',
      'MintAccessTokenOptions',
      'MintResult',
      'MintedAccessToken',
      'ParsedApiKey',
      'Plan',
      'Plans',
      'Portal',
      'PortalOptions',
      'PortalPolicy',
      'PortalRequest',
      'PortalResponse',
      'Principal',
      'ProblemBody',
      'QuotaSpec',
      'RateLimitSpec',
      'RateLimitHeaderStyle',
      'RawHeaders',
      'ReserveOptions',
      'ReserveResult',
      'RotateKeyOptions',
      'RouteRequirements',
      'SigningSecret',
      'StackedResult',
      'ThresholdOptions',
      'TokenFailureReason',
      'UsageDay',
      'UsageIncrement',
      'UsageOptions',
      'UsageRange',
      'UsageStore',
      'VerifyApiKeyResult',
      'VerifyClient',
      'VerifyFailureReason',
    ],
  },
  'core/integration-kit': {
    values: [
      'KEY_FIELDS',
      'KEY_FIELD_NAMES',
      'MAX_MINT_BODY_BYTES',
      'MAX_PORTAL_BODY_BYTES',
      'RequestView',
      'booleanOption',
      'checkCountFilter',
      'checkListFilter',
      'checkedOption',
      'cloneAccount',
      'configError',
      'conflict',
      'createAdapterKernel',
      'createPrincipalRecord',
      'decodeStoredAccount',
      'decodeStoredRecord',
      'functionOption',
      'hideCredential',
      'integerOption',
      'invalid',
      'isAnonymous',
      'isCorsPreflight',
      'isLogger',
      'logFailures',
      'optionsObject',
      'portalMount',
      'portalParts',
      'portalRequestOf',
      'readCommonOptions',
      'readRequestBody',
      'renderMintResult',
      'renderProblem',
      'requestHeaders',
      'requestIdOf',
      'requireTokens',
      'requiredOption',
      'unknownCursor',
      'warnUntrustedProxy',
      'withoutQueryParameter',
    ],
    types: [
      'AdapterKernel',
      'CommonAuthOptions',
      'CommonAuthSettings',
      'FieldCodec',
      'FrameworkBinding',
      'KeyField',
      'OptionRule',
      'OwnerResolver',
      'PrincipalRecord',
      'ProblemResponse',
      'RequestAccess',
    ],
  },
  express: {
    values: ['createExpressAuth', 'getAuth'],
    types: ['AuthenticatedRequest', 'ExpressAuth', 'ExpressAuthOptions', 'ExpressPortalOptions'],
  },
  koa: {
    values: ['createKoaAuth', 'getAuth'],
    types: ['KoaAuth', 'KoaAuthOptions', 'KoaPortalOptions'],
  },
  fastify: {
    values: ['default', 'getAuth', 'keywardenFastify', 'keywardenPortal'],
    types: ['FastifyAuthOptions', 'FastifyPortalOptions', 'RouteAuthConfig'],
  },
  node: {
    values: ['createNodeAuth', 'getAuth'],
    types: ['Next', 'NodeAuth', 'NodeAuthOptions', 'NodeHandler', 'NodePortalOptions'],
  },
  redis: {
    values: ['createRedisLimitStore'],
    types: ['RedisLimitStore', 'RedisLimitStoreOptions'],
  },
  postgres: {
    values: ['MIGRATIONS', 'createPostgresKeyStore', 'migrate'],
    types: ['Migration', 'PostgresKeyStore', 'PostgresKeyStoreOptions'],
  },
  cli: {
    values: ['parseDuration', 'runCli'],
    types: ['CliIo'],
  },
};

/** A package's built file; `core/integration-kit` is the core's subpath for adapter and store authors (`dist/integration-kit.*`). */
const dist = (entry: string, extension: string) => {
  const [pkg, sub = 'index'] = entry.split('/');
  return join(import.meta.dirname, '..', 'packages', pkg!, 'dist', `${sub}.${extension}`);
};

/** Every name a declaration file exports, as TypeScript resolves it for a user. */
function declared(file: string): string[] {
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const module = source && checker.getSymbolAtLocation(source);
  if (!module) throw new Error(`no module in ${file}`);
  return checker
    .getExportsOfModule(module)
    .map((s) => s.name)
    .sort();
}

describe.each(Object.entries(API))('@keywarden/%s', (pkg, api) => {
  it('ESM and CommonJS entries export exactly the runtime API', async () => {
    const esm = await import(dist(pkg, 'js'));
    const cjs = createRequire(import.meta.url)(dist(pkg, 'cjs'));
    expect(Object.keys(esm).sort()).toEqual(api.values);
    expect(Object.keys(cjs).sort()).toEqual(api.values);
  });

  it('both declaration files export the runtime API and the documented types', () => {
    const all = [...api.values, ...api.types].sort();
    expect(declared(dist(pkg, 'd.ts'))).toEqual(all);
    expect(declared(dist(pkg, 'd.cts'))).toEqual(all);
  });
});
