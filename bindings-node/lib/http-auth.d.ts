import type { Claims } from './index'

/** What the middleware needs of a verifier: the Node `Verifier` and the edge build's both fit. */
export interface VerifierLike {
  verify(token: string): Promise<Claims>
}

export interface AuthOptions {
  /** Scopes the token must grant (`scope` or `scp`); else 403 `insufficient_scope`. */
  scopes?: string[]
}
