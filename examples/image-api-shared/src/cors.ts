// What the examples' CORS handling allows, the same on every framework: pages on the configured
// origins may send credentials in headers (never cookies) and read the rate-limit headers.
export const CORS = Object.freeze({
  allowedHeaders: ['authorization', 'content-type', 'x-api-key'],
  exposedHeaders: ['ratelimit', 'ratelimit-policy', 'retry-after'],
  methods: ['GET', 'POST'],
});
