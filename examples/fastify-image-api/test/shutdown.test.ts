import { join } from 'node:path';
import { runShutdownSuite } from '../../image-api-shared/test/shutdown.js';

runShutdownSuite('fastify', join(import.meta.dirname, '..'));
