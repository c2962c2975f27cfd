import type { FastifyPluginAsync } from 'fastify'
import type { Claims } from './index'
import type { AuthOptions, VerifierLike } from './http-auth'

export type { AuthOptions, VerifierLike } from './http-auth'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified token's claims (set by the tokenkeep plugin). */
    auth: Claims | null
  }
  interface FastifyContextConfig {
    /** Scopes this route needs on top of the plugin's. */
    scopes?: string[]
  }
}

export interface TokenkeepFastifyOptions extends AuthOptions {
  verifier: VerifierLike
}

/** Fastify plugin: the same answers as every tokenkeep host (401 / 403 / 503 + Retry-After). */
export declare const tokenkeepAuth: FastifyPluginAsync<TokenkeepFastifyOptions>
