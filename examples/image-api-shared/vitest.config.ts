import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'image-api-shared', include: ['test/**/*.test.ts'] } });
