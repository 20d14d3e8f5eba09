// `@keywarden/core/integration-kit`: what framework adapters and stores are made of. Applications
// do not need it. An adapter is a binding of its framework to the adapter kernel (kernel.ts: see
// `@keywarden/node`, the shortest); a store uses the option checks.

export { cloneAccount, decodeStoredAccount } from './accounts/account-record.js';
export {
  hideCredential,
  isAnonymous,
  isCorsPreflight,
  type ProblemResponse,
  readRequestBody,
  renderProblem,
  requestHeaders,
  withoutQueryParameter,
} from './adapter/http.js';
export {
  type AdapterKernel,
  type CommonAuthOptions,
  type CommonAuthSettings,
  createAdapterKernel,
  type FrameworkBinding,
  readCommonOptions,
  requireTokens,
} from './adapter/kernel.js';
export { isLogger, logFailures } from './adapter/logging.js';
export {
  MAX_PORTAL_BODY_BYTES,
  type OwnerResolver,
  portalMount,
  portalParts,
  portalRequestOf,
} from './adapter/portal.js';
export { createPrincipalRecord, type PrincipalRecord } from './adapter/principal-record.js';
export { warnUntrustedProxy } from './adapter/proxy-warning.js';
export { type RequestAccess, RequestView, requestIdOf } from './adapter/request-view.js';
export { renderMintResult } from './adapter/responses.js';
export { configError } from './errors/config-error.js';
export {
  decodeStoredRecord,
  type FieldCodec,
  KEY_FIELD_NAMES,
  KEY_FIELDS,
  type KeyField,
} from './keys/key-fields.js';
export { MAX_MINT_BODY_BYTES } from './mint/mint-body.js';
export { checkCountFilter, checkListFilter, unknownCursor } from './stores/key-pages.js';
export {
  booleanOption,
  checkedOption,
  conflict,
  functionOption,
  integerOption,
  invalid,
  type OptionRule,
  optionsObject,
  requiredOption,
} from './util/options.js';
