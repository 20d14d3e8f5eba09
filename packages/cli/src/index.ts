export type { CliIo } from './command.js';
export { parseDuration } from './parse.js';
export { runCli } from './run.js';
