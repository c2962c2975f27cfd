import type { RequestHandler } from 'express'
import type { Claims } from './index'
import type { AuthOptions, VerifierLike } from './http-auth'

export type { AuthOptions, VerifierLike } from './http-auth'

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The verified token's claims (set by tokenkeep's `jwtAuth`). */
      auth?: Claims
    }
  }
}

/**
 * Express middleware: `req.auth` gets the claims; else 401 with
 * `WWW-Authenticate: Bearer error="invalid_token", error_description="<code>"`
 * (`invalid_request` without a token), 403 `insufficient_scope`, or 503 with
 * `Retry-After` when no keys are usable.
 */
export declare function jwtAuth(verifier: VerifierLike, options?: AuthOptions): RequestHandler
