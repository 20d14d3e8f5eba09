export { type ExampleConfig, loadConfig } from './config.js';
export { CORS } from './cors.js';
export { ApiError, renderApiError } from './errors.js';
export {
  createExample,
  curlExamples,
  demoText,
  type Example,
  KEY_ENVIRONMENTS,
  PAGE_TOKENS_PER_MINUTE,
  VISITOR_LIMITS,
} from './example.js';
export { PAGE } from './page.js';
export { checkFilePath, filePathFromUrl, namespaceOf, resolveInside, visitorNamespaceOf } from './paths.js';
export {
  type Billing,
  type Caller,
  createImageService,
  type ImageService,
  jsonBody,
  MAX_UPLOAD_BYTES,
  UPLOAD_LIMITS,
} from './service.js';
export {
  createSessions,
  DEMO_ACCOUNTS,
  DEMO_OWNERS,
  PLANS,
  PORTAL_POLICY,
  type Sessions,
} from './session.js';
export {
  checkedSize,
  ENHANCEMENTS,
  MAX_INPUT_PIXELS,
  prepareTool,
  TOOLS,
  type ToolName,
  toolPaths,
  V1_COSTS,
} from './tools.js';
