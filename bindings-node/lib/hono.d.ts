import type { MiddlewareHandler } from 'hono'
import type { Claims } from './index'
import type { AuthOptions, VerifierLike } from './http-auth'

export type { AuthOptions, VerifierLike } from './http-auth'

/** The context variables the middleware sets: `c.get('auth')`. */
export type AuthVariables = { auth: Claims }

/** Hono middleware: the same answers as every tokenkeep host (401 / 403 / 503 + Retry-After). */
export declare function jwtAuth(verifier: VerifierLike, options?: AuthOptions): MiddlewareHandler<{ Variables: AuthVariables }>
