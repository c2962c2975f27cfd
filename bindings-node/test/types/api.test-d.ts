// Type-level checks of the public API (tsc --noEmit --strict); never executed.
import {
  Verifier,
  TokenkeepError,
  isTokenkeepError,
  type Claims,
  type IssuerHealth,
  type TokenkeepErrorCode,
  type RejectionCode,
  type DenialCode,
  type EventName,
  type TokenkeepEvent,
  type AuthenticateResult,
} from 'tokenkeep'
import { jwtAuth as expressAuth } from 'tokenkeep/express'
import { jwtAuth as honoAuth, type AuthVariables } from 'tokenkeep/hono'
import { tokenkeepAuth } from 'tokenkeep/fastify'
import { registerMetrics } from 'tokenkeep/prometheus'
import { Registry } from 'prom-client'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(): T => true as T

export async function usage(): Promise<void> {
  const verifier = new Verifier({ issuer: 'https://idp.example', audience: ['api'], leeway: '45s', cache: { verifiedTokens: 0 } })
  const fromJwks = Verifier.fromJwks({ keys: [] }, { issuer: 'https://idp.example' })
  const claims: Claims = await verifier.verify('t', { now: 1 })
  const typed = verifier.verifySync<{ sub: string; tenant: string }>('t')
  const tenant: string = typed.tenant
  const ready: boolean = await verifier.ready(1000)
  const health: IssuerHealth[] = fromJwks.health()
  const state: string = health[0].state
  verifier.on('jwks_refreshed', (event: TokenkeepEvent<'jwks_refreshed'>) => {
    const n = event.fields.key_count
    void n
  })
  // @ts-expect-error: not an event name
  verifier.on('jwks_refresh', () => {})
  // @ts-expect-error: unknown option
  new Verifier({ issuerr: 'x' })
  try {
    verifier.verifySync('t')
  } catch (err) {
    if (isTokenkeepError(err)) {
      const code: TokenkeepErrorCode = err.code
      const status: number | undefined = err.httpStatus
      void code, status
    }
    if (isTokenkeepError(err, 'expired', 'not_yet_valid')) {
      assertType<Equal<typeof err.code, 'expired' | 'not_yet_valid'>>()
    }
    // @ts-expect-error: not a code
    isTokenkeepError(err, 'expird')
  }
  const e = new TokenkeepError('keys_unavailable', 'no keys', { httpStatus: 503 })
  const rc: RejectionCode = 'keys_unavailable'
  const en: EventName = 'jwt_validation_failed'
  await using disposable = new Verifier({ issuer: 'https://idp.example' })
  void claims, tenant, ready, state, e, rc, en, disposable
  registerMetrics(new Registry())
  void expressAuth(verifier, { scopes: ['a'], realm: 'api' }), honoAuth(verifier), tokenkeepAuth
  const answer: AuthenticateResult = await verifier.authenticate('Bearer t', { scopes: ['a'], realm: 'api' })
  if (answer.ok) {
    const granted: string[] = answer.scopes
    const sub: string | undefined = answer.claims.sub
    void granted, sub
  } else {
    const status: 401 | 403 | 503 = answer.status
    const challenge: string | undefined = answer.headers['www-authenticate']
    const error: RejectionCode | DenialCode = answer.body.error
    const scopeError: DenialCode = 'insufficient_scope'
    // @ts-expect-error: not a code
    const notACode: DenialCode = 'insufficient_scopes'
    void status, challenge, error, scopeError, notACode
  }
  await verifier.authenticate(undefined)
  // @ts-expect-error: scopes are strings
  await verifier.authenticate('Bearer t', { scopes: [1] })
  const vars: AuthVariables = { auth: { sub: 'x' } }
  void vars
}
