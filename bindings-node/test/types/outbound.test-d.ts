// Type-level checks of the outbound API (tsc --noEmit --strict); never executed.
import {
  VaultToken,
  VaultSecret,
  VaultLease,
  FileToken,
  HmacKeyring,
  Secret,
  isTokenkeepError,
  type CredentialHealth,
  type LeaseData,
  type TokenkeepErrorCode,
  type TokenkeepEvent,
} from 'tokenkeep'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(): T => true as T

export async function outbound(): Promise<void> {
  const token = new VaultToken({ role: 'app', addr: 'http://127.0.0.1:8200', jwtFile: '/run/jwt', revokeOnClose: true, maxBackoff: '30s' })
  // @ts-expect-error: role is required
  new VaultToken({ addr: 'http://127.0.0.1:8200' })
  // @ts-expect-error: unknown option
  new VaultToken({ role: 'app', jwtFiles: '/run/jwt' })
  const vaultToken: Secret<string> = token.current()
  const wire: string = vaultToken.expose()
  const ok: boolean = await token.ready(1000)
  const health: CredentialHealth = token.health()
  const expires: number | undefined = health.expiresInSeconds
  token.on('rotated', (count) => {
    assertType<Equal<typeof count, number>>()
  })
  token.on('credential_renewed', (event: TokenkeepEvent<'credential_renewed'>) => {
    const source: string = event.source
    void source
  })
  // @ts-expect-error: not an event name
  token.on('renewed', () => {})

  const secret = new VaultSecret<{ password: string }>(token, { mount: 'secret', path: 'app/config', interval: 1 })
  const password: string = secret.current().expose().password
  // @ts-expect-error: the token must be a VaultToken
  new VaultSecret(secret, { mount: 'secret', path: 'x' })

  const lease = new VaultLease(token, { path: 'database/creds/app', grace: '5s' })
  const data: LeaseData = lease.current().expose()
  const duration: number = data.lease_duration
  for await (const count of lease.rotations()) {
    assertType<Equal<typeof count, number>>()
    break
  }
  const rotations: number = lease.rotationCount

  const file = new FileToken({ path: '/run/jwt', changePoll: '500ms' })
  const jwt: string = file.current().expose()

  const ring = new HmacKeyring({ file: '/run/hmac', grace: '2m' })
  const fromKv = new HmacKeyring(token, { mount: 'secret', path: 'app/hmac', field: 'key' })
  const version: number = ring.current()
  const signature: string = ring.sign('POST', '/orders', '{}')
  const matched: number = fromKv.verify(signature, 'POST', '/orders', new Uint8Array())
  try {
    ring.verify(signature, 'POST', '/orders')
  } catch (err) {
    if (isTokenkeepError(err, 'bad_signature', 'not_yet_obtained')) {
      const code: TokenkeepErrorCode = err.code
      void code
    }
  }
  await using disposable = new FileToken({ path: '/run/jwt' })
  await Promise.all([secret.close(), lease.close(), file.close(), ring.close(), fromKv.close(), token.close()])
  void wire, ok, expires, password, duration, rotations, jwt, version, matched, disposable
}
