export { type ExampleConfig, loadConfig } from './config.js';
export { CORS } from './cors.js';
export { ApiError, renderApiError } from './errors.js';
export {
  createExample,
  curlExamples,
  type Example,
  KEY_ENVIRONMENTS,
  PAGE_TOKENS_PER_MINUTE,
} from './example.js';
export { PAGE } from './page.js';
export { checkFilePath, filePathFromUrl, namespaceOf, resolveInside } from './paths.js';
export {
  type Caller,
  type ChargeUnits,
  createImageService,
  type ImageService,
  jsonBody,
  UPLOAD_LIMITS,
} from './service.js';
export { createSessions, DEMO_OWNERS, PORTAL_POLICY, type Sessions } from './session.js';
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
