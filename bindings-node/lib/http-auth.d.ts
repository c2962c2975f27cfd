import type { AuthenticateOptions, AuthenticateResult } from './index'

/** What the middleware needs of a verifier: the Node `Verifier` and the edge build's both fit. */
export interface VerifierLike {
  authenticate(authorization: string | null | undefined, options?: AuthenticateOptions): Promise<AuthenticateResult>
}

export interface AuthOptions {
  /** Scopes the token must grant (`scope` or `scp`); else 403 `insufficient_scope`. */
  scopes?: string[]
  /** The realm every challenge names (`Bearer realm="…", error=…`). */
  realm?: string
}
