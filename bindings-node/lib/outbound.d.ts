// Types of the outbound handles. Option shapes follow the runtime's specs
// (schema/options.schema.json), in camelCase.
import { EventEmitter } from 'node:events'
import type { CredentialHealth } from '../native/binding'
import type { EventName } from './codes'
import type { Duration, TokenkeepEvent } from './index'

/**
 * A secret value: `toString()`, `JSON.stringify` and `util.inspect` show
 * `[redacted]`; `expose()` gives the value, for where it goes on the wire.
 */
export declare class Secret<T = string> {
  constructor(value: T)
  /** The value itself. */
  expose(): T
  toString(): '[redacted]'
  toJSON(): '[redacted]'
}

/** The events of an outbound handle: the runtime's, and `rotated` with the rotation count. */
export type CredentialEventName = EventName | 'rotated'

export interface CredentialEvents {
  rotated: (count: number) => void
}

type Listener<N extends CredentialEventName> = N extends 'rotated'
  ? (count: number) => void
  : N extends EventName
    ? (event: TokenkeepEvent<N>) => void
    : never

/** What every outbound handle has; `current()` gives `V`. */
export declare abstract class Credential<V> extends EventEmitter {
  /** The value to use now; throws TokenkeepError (`not_yet_obtained`, `expired`, `fatal`, `closed`). */
  current(): V
  health(): CredentialHealth
  /** True once a value is available, false after `timeoutMs` (default 5000). */
  ready(timeoutMs?: number): Promise<boolean>
  /** Asks for a refresh now (rate-limited); false once closed. */
  refresh(): boolean
  /** The upstream answered 401/403 to the current value: the runtime refreshes it. */
  reportUnauthorized(): void
  /** New values so far (the first included). */
  readonly rotationCount: number
  readonly name: string
  readonly kind: 'vault_token' | 'vault_secret' | 'vault_lease' | 'file_token' | 'hmac_keyring'
  readonly closed: boolean
  /** The rotation count after each new value from now on; ends when the handle closes. */
  rotations(): AsyncIterableIterator<number>
  /** Stops it, revoking what its options say to revoke; idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
  toJSON(): { kind: string; name: string; state: string; closed: boolean }

  on<N extends CredentialEventName>(name: N, listener: Listener<N>): this
  once<N extends CredentialEventName>(name: N, listener: Listener<N>): this
  off<N extends CredentialEventName>(name: N, listener: Listener<N>): this
  addListener<N extends CredentialEventName>(name: N, listener: Listener<N>): this
  removeListener<N extends CredentialEventName>(name: N, listener: Listener<N>): this
}

export interface VaultTokenOptions {
  /** The role to log in as. */
  role: string
  /** `http(s)://host:port` (else `VAULT_ADDR`, then `BAO_ADDR`). */
  addr?: string
  namespace?: string
  caFile?: string
  /** Mount of the JWT auth method (`jwt`). */
  authMount?: string
  /** The file holding the JWT, read anew before every login. */
  jwtFile?: string
  /** Revoke the token when the handle is closed (default false). */
  revokeOnClose?: boolean
  requestTimeout?: Duration
  maxBackoff?: Duration
  dangerousAllowHttp?: boolean
}

export interface VaultSecretOptions {
  /** The KV v2 mount. */
  mount: string
  /** The path below the mount. */
  path: string
  /** Poll period (60 s). */
  interval?: Duration
  /** How long the replaced version stays available. */
  grace?: Duration
}

export interface VaultLeaseOptions {
  /** The path read for a new credential (`database/creds/app`). */
  path: string
  /** How long a replaced credential stays available before its lease is revoked (2 min). */
  grace?: Duration
  /** Revoke the leases held when the handle is closed (default true). */
  revokeOnClose?: boolean
}

export interface FileTokenOptions {
  path: string
  /** How often the file's metadata are compared (1 s). */
  changePoll?: Duration
}

export interface HmacKeyringOptions {
  /** KV source (with a VaultToken): mount, path and field. */
  mount?: string
  path?: string
  field?: string
  interval?: Duration
  /** File source instead. */
  file?: string
  changePoll?: Duration
  /** How long the previous secret still verifies after a rotation (2 min). */
  grace?: Duration
  maxAge?: Duration
  maxFuture?: Duration
}

/** A Vault/OpenBao token by JWT login, renewed and replaced in the background. */
export declare class VaultToken extends Credential<Secret<string>> {
  constructor(options: VaultTokenOptions)
}

/** A KV v2 secret read with a VaultToken; a new version is a rotation. */
export declare class VaultSecret<D extends Record<string, unknown> = Record<string, unknown>> extends Credential<Secret<D>> {
  constructor(token: VaultToken, options: VaultSecretOptions)
}

/** Lease data: the engine's fields and the lease's. */
export interface LeaseData {
  lease_id: string
  /** Seconds. */
  lease_duration: number
  renewable: boolean
  [field: string]: unknown
}

/** A dynamic credential (`database/creds/<role>`): renewed, replaced before its max TTL, revoked after the grace window. */
export declare class VaultLease<D extends LeaseData = LeaseData> extends Credential<Secret<D>> {
  constructor(token: VaultToken, options: VaultLeaseOptions)
}

/** A rotating token file. */
export declare class FileToken extends Credential<Secret<string>> {
  constructor(options: FileTokenOptions)
}

/** HMAC request signing with a rotating secret; `current()` is the key version. */
export declare class HmacKeyring extends Credential<number> {
  constructor(options: HmacKeyringOptions)
  constructor(token: VaultToken, options: HmacKeyringOptions)
  /** The signature header's value for this request, signed now. */
  sign(method: string, path: string, body?: string | Uint8Array): string
  /** The key version that matched; throws TokenkeepError (`bad_signature`, …). */
  verify(signature: string, method: string, path: string, body?: string | Uint8Array): number
}
