// `@keywarden/core/adapter`: what every adapter is made of. Applications do not need it; a new
// adapter is a page of glue on top of it (see `@keywarden/node`).

export { configError } from '../errors/config-error.js';
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
} from '../errors/options.js';
export { MAX_MINT_BODY_BYTES } from '../mint/mint-body.js';
export {
  hideCredential,
  isAnonymous,
  isCorsPreflight,
  type ProblemResponse,
  readRequestBody,
  renderProblem,
  requestHeaders,
  withoutQueryParameter,
} from './http.js';
export { isLogger, logFailures } from './logging.js';
export {
  MAX_PORTAL_BODY_BYTES,
  type OwnerResolver,
  portalMount,
  portalParts,
  portalRequestOf,
} from './portal.js';
export { createPrincipalRecord, type PrincipalRecord } from './principal-record.js';
export { warnUntrustedProxy } from './proxy-warning.js';
export { type RequestAccess, RequestView, requestIdOf } from './request-view.js';
export { renderMintResult } from './responses.js';
