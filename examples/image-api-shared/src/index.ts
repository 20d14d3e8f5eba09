export { type ExampleConfig, loadConfig } from './config.js';
export { ApiError, renderApiError } from './errors.js';
export { createExample, curlExamples, type Example } from './example.js';
export { PAGE } from './page.js';
export { checkFilePath, filePathFromUrl, namespaceOf, resolveInside } from './paths.js';
export { type Caller, createImageService, type ImageService, jsonBody, UPLOAD_LIMITS } from './service.js';
export { runTool, TOOLS, type ToolName } from './tools.js';
