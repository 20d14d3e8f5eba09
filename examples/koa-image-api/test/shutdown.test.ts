import { join } from 'node:path';
import { runShutdownSuite } from '../../image-api-shared/test/shutdown.js';

runShutdownSuite('koa', join(import.meta.dirname, '..'));
