// The most common production surprise: `requireHttps` on (the default under NODE_ENV=production)
// behind a proxy that terminates TLS, with the framework not told to trust it. Every request then
// arrives as plain HTTP and is refused; the refusal's detail says why, and this warning puts the
// same reason in the server's log once, where whoever deploys looks first.

const warned = new WeakSet<object>();

/**
 * Emits the process warning `KEYWARDEN_HTTPS_PROXY` once per `app` (an application object, or
 * any object standing for one): `requireHttps` is on and the framework trusts no proxy, so behind
 * a TLS proxy every request is refused with 403 `https_required`. `advice` names the framework's
 * setting. Adapters call it at start-up when they can see the setting there (Fastify), and
 * otherwise at the first `https_required` refusal (Express, Koa, Node).
 *
 * @example
 * ```ts
 * if (error.code === 'https_required' && !req.app.get('trust proxy'))
 *   warnUntrustedProxy(req.app, "Express trusts no proxy: app.set('trust proxy', ...)");
 * ```
 */
export function warnUntrustedProxy(app: object, advice: string): void {
  if (warned.has(app)) return;
  warned.add(app);
  process.emitWarning(
    `keywarden: requireHttps is on and ${advice}. Behind a proxy that terminates TLS, every request ` +
      'arrives as plain HTTP and is refused with 403 https_required. Trust the proxy, or set ' +
      'requireHttps: false where plain HTTP is meant (local development).',
    { code: 'KEYWARDEN_HTTPS_PROXY' },
  );
}
