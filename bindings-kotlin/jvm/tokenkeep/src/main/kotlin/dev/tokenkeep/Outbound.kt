package dev.tokenkeep

import kotlinx.coroutines.flow.Flow
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.longOrNull
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * A secret string (a Vault token, a JWT): [toString] never shows it, [expose]
 * does, for where it goes on the wire.
 */
class Secret(private val value: String) {
    /** The secret itself. */
    fun expose(): String = value

    override fun toString(): String = "Secret(<redacted>)"
    override fun equals(other: Any?): Boolean = other is Secret && other.value == value
    override fun hashCode(): Int = value.hashCode()
}

/**
 * Secret data (a KV v2 secret's members, a lease's `username`/`password` with
 * `lease_id`, `lease_duration` in seconds and `renewable`): [toString] shows
 * only how many members there are; the accessors give the values.
 */
class SecretData internal constructor(private val json: String) {
    private val members: JsonObject by lazy { Json.parseToJsonElement(json).jsonObject }

    /** The member names. */
    val keys: Set<String> get() = members.keys

    /** A string member, or null when absent or not a string. */
    fun getString(key: String): String? = (members[key] as? JsonPrimitive)?.takeIf { it.isString }?.content

    /** A whole-number member (`lease_duration`), or null. */
    fun getLong(key: String): Long? = (members[key] as? JsonPrimitive)?.takeIf { !it.isString }?.longOrNull

    /** A boolean member (`renewable`), or null. */
    fun getBoolean(key: String): Boolean? = (members[key] as? JsonPrimitive)?.takeIf { !it.isString }?.booleanOrNull

    /** Everything, as the JSON object text. */
    fun exposeJson(): String = json

    override fun toString(): String = "SecretData(${members.size} members, <redacted>)"
    override fun equals(other: Any?): Boolean = other is SecretData && other.members == members
    override fun hashCode(): Int = members.hashCode()
}

/**
 * What every outbound handle offers: [health], [ready]/[readyBlocking],
 * [refresh], [reportUnauthorized], the rotation counter and [rotations] flow,
 * events, and [close] (`AutoCloseable`, idempotent: stops it, revoking what its
 * options say to revoke, and waits for that). Each kind adds its own `current()`.
 * The background work runs on tokenkeep's native threads.
 */
sealed class Credential(internal val handle: NativeCredential) : AutoCloseable {
    /** `vault_token`, `vault_secret`, `vault_lease`, `file_token` or `hmac_keyring`. */
    val kind: String get() = handle.kind()

    /** Its name in logs, metrics and health (`role@mount`, `<mount>/<path>`, the file). */
    val name: String get() = handle.name()

    /** A health snapshot (the runtime's: state, ages, next refresh, failures, last error code). */
    fun health(): CredentialHealth = native { handle.health() }

    /** Waits until a value is available; false after [timeout] or once closed. */
    suspend fun ready(timeout: Duration = 5.seconds): Boolean = native { handle.ready(timeout.inWholeMilliseconds) }

    /** The blocking twin of [ready]. */
    fun readyBlocking(timeout: java.time.Duration): Boolean = native { handle.readyBlocking(timeout.toMillis()) }

    /** Asks for a refresh now (rate-limited by the runtime); false once closed. */
    fun refresh(): Boolean = native { handle.refresh() }

    /** The upstream answered 401/403 to the current value: the runtime refreshes it (rate-limited). */
    fun reportUnauthorized() = native { handle.reportUnauthorized() }

    /** How many new values there were. */
    val rotationCount: Long get() = handle.rotationCount()

    /** The rotation counter after every new value, from subscription on; completes when the handle closes. */
    val rotations: Flow<Long> =
        rotationFlow({ handle.rotationCount() }, { after, ms -> handle.waitRotation(after, ms) }, { handle.isClosed() })

    /** Blocks until the rotation counter exceeds [after]; the count then, or null after [timeout] or close. */
    fun waitRotationBlocking(after: Long, timeout: java.time.Duration): Long? =
        native { handle.waitRotationBlocking(after, timeout.toMillis()) }

    /** Its `credential_*` events from collection on, delivered on the collector's dispatcher. */
    val events: Flow<Event> = eventFlow(::addEventListener, ::removeEventListener)

    /** Calls [listener] with every later event, on tokenkeep's thread; keep it short. */
    fun addEventListener(listener: EventListener): Long = native { handle.addEventListener(listener.toNative()) }

    /** Stops calling a listener added with [addEventListener]. */
    fun removeEventListener(id: Long) = handle.removeEventListener(id)

    /** Stops it, revoking what its options say to revoke, and waits for that (idempotent). */
    suspend fun shutdown() = native { handle.shutdown() }

    /** The blocking twin of [shutdown]; `use {}` and try-with-resources call it. */
    override fun close() = native { handle.closeBlocking() }

    /** Whether [close] or [shutdown] was called. */
    val isClosed: Boolean get() = handle.isClosed()

    override fun toString(): String {
        val state = runCatching { health().state }.getOrDefault("?")
        return "${javaClass.simpleName}(name=$name, state=$state${if (isClosed) ", closed" else ""})"
    }
}

internal fun EventListener.toNative(): NativeEventListener {
    val listener = this
    return object : NativeEventListener {
        override fun onEvent(event: Event) = listener.onEvent(event)
    }
}

/**
 * A Vault/OpenBao token obtained by JWT login, renewed near two thirds of its
 * TTL and replaced by a new login at its max TTL. [listener] sees every event
 * from the first (`credential_obtained` included).
 */
class VaultToken private constructor(handle: NativeCredential) : Credential(handle) {
    /** Starts from the options (validated by the runtime; a [ConfigException] names the field). */
    @JvmOverloads
    constructor(options: VaultTokenOptions, listener: EventListener? = null) : this(options.toJson(), listener)

    /** Starts from the spec's JSON text (`{"role": "app", "jwt_file": "/var/run/secrets/jwt"}`). */
    @JvmOverloads
    constructor(optionsJson: String, listener: EventListener? = null) :
        this(native { NativeCredential.vaultToken(optionsJson, listener?.toNative()) })

    /** The token to use now; [CredentialUnavailableException] when there is none (never a stale one). */
    fun current(): Secret = Secret(native { handle.currentToken() })
}

/** A KV v2 secret read with a [VaultToken] and polled; a new version is a rotation. */
class VaultSecret private constructor(handle: NativeCredential) : Credential(handle) {
    /** Starts from the options, reading with [token]. */
    @JvmOverloads
    constructor(token: VaultToken, options: VaultSecretOptions, listener: EventListener? = null) :
        this(token, options.toJson(), listener)

    /** Starts from the spec's JSON text (`{"mount": "secret", "path": "app/config"}`). */
    @JvmOverloads
    constructor(token: VaultToken, optionsJson: String, listener: EventListener? = null) :
        this(native { NativeCredential.vaultSecret(token.handle, optionsJson, listener?.toNative()) })

    /** The secret's data now; [CredentialUnavailableException] when there is none. */
    fun current(): SecretData = SecretData(native { handle.currentDataJson() })

    /** The KV version now. */
    fun currentVersion(): Long = native { handle.currentKvVersion() }
}

/**
 * A dynamic credential (`database/creds/<role>`) read with a [VaultToken]:
 * renewed, replaced before its max TTL, the replaced one revoked after the grace window.
 */
class VaultLease private constructor(handle: NativeCredential) : Credential(handle) {
    /** Starts from the options, reading with [token]. */
    @JvmOverloads
    constructor(token: VaultToken, options: VaultLeaseOptions, listener: EventListener? = null) :
        this(token, options.toJson(), listener)

    /** Starts from the spec's JSON text (`{"path": "database/creds/app"}`). */
    @JvmOverloads
    constructor(token: VaultToken, optionsJson: String, listener: EventListener? = null) :
        this(native { NativeCredential.vaultLease(token.handle, optionsJson, listener?.toNative()) })

    /** The credential now (`username`, `password`, `lease_id`, `lease_duration`, `renewable`). */
    fun current(): SecretData = SecretData(native { handle.currentDataJson() })
}

/** A rotating token file (a Kubernetes projected service-account token, a JWT-SVID). */
class FileToken private constructor(handle: NativeCredential) : Credential(handle) {
    /** Starts from the options. */
    @JvmOverloads
    constructor(options: FileTokenOptions, listener: EventListener? = null) : this(options.toJson(), listener)

    /** Starts from the spec's JSON text (`{"path": "/var/run/secrets/tokens/api"}`). */
    @JvmOverloads
    constructor(optionsJson: String, listener: EventListener? = null) :
        this(native { NativeCredential.fileToken(optionsJson, listener?.toNative()) })

    /** The token in the file now; [CredentialUnavailableException] when there is none. */
    fun current(): Secret = Secret(native { handle.currentToken() })
}

/**
 * HMAC request signing with a rotating secret (a KV field read with a
 * [VaultToken], or a file). The previous secret still verifies for the grace
 * window. The secrets never leave the native side: [sign] and [verify].
 */
class HmacKeyring private constructor(handle: NativeCredential) : Credential(handle) {
    /** Starts from the options; [token] reads a KV source. */
    @JvmOverloads
    constructor(options: HmacKeyringOptions, token: VaultToken? = null, listener: EventListener? = null) :
        this(options.toJson(), token, listener)

    /** Starts from the spec's JSON text (`{"file": "/etc/hmac/key"}`, `{"mount": …, "path": …, "field": …}`). */
    @JvmOverloads
    constructor(optionsJson: String, token: VaultToken? = null, listener: EventListener? = null) :
        this(native { NativeCredential.hmacKeyring(token?.handle, optionsJson, listener?.toNative()) })

    /** The current key version; [CredentialUnavailableException] when there is no secret. */
    fun current(): Long = native { handle.currentKeyVersion() }

    /** Signs a request with the current secret, timestamped now: the signature header's value. */
    @JvmOverloads
    fun sign(method: String, path: String, body: ByteArray = ByteArray(0)): String =
        native { handle.sign(method, path, body) }

    /** Verifies a signature header for this request now; the key version that matched, else [HmacException]. */
    @JvmOverloads
    fun verify(signature: String, method: String, path: String, body: ByteArray = ByteArray(0)): Long =
        native { handle.verify(signature, method, path, body) }
}
