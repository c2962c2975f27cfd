package dev.tokenkeep

import kotlinx.coroutines.flow.Flow
import java.time.Instant
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Verifies JWTs of one or more issuers against keys that refresh themselves
 * (OIDC discovery, a JWKS URL, or static keys), in the background, on
 * tokenkeep's own native threads.
 *
 * Kotlin: `Verifier(options).use { v -> v.ready(); v.verify(token) }`.
 * Java: `try (var v = new Verifier(json)) { v.readyBlocking(Duration.ofSeconds(5)); v.verifyBlocking(token); }`.
 *
 * [close] stops the background refresh (idempotent); verification keeps
 * working afterwards with the keys at hand, without fetching.
 */
class Verifier private constructor(private val handle: NativeVerifier) : AutoCloseable {
    /** This verifier's id on the JNI fast path (0: the uniffi path). */
    private val fastId: Long = FastPath.register(this, handle)

    /** Starts a verifier from the options (validated by the runtime; a [ConfigException] names the field). */
    constructor(options: VerifierOptions) : this(options.toJson())

    /** Starts a verifier from the options spec's JSON text. */
    constructor(optionsJson: String) : this(native { NativeVerifier(optionsJson) })

    /**
     * Verifies [token]. Suspends only when the token names a key the cache does
     * not have (one refetch, bounded by the cooldown and the request timeout).
     * [now] moves the token's time checks only (the key cache follows the real clock).
     *
     * @throws TokenRejectedException with the rejection code.
     */
    suspend fun verify(token: String, now: Instant? = null): VerifiedToken =
        VerifiedToken.of(native { handle.verify(token, now?.toEpochMilli()) })

    /** The blocking twin of [verify]: blocks the calling thread while a refetch runs. */
    @JvmOverloads
    fun verifyBlocking(token: String, now: Instant? = null): VerifiedToken =
        if (fastId != 0L) fast(token, now, 0) else VerifiedToken.of(native { handle.verifyBlocking(token, now?.toEpochMilli()) })

    /** Verifies with the keys at hand; never waits, never fetches (a key miss is final). */
    @JvmOverloads
    fun verifyCached(token: String, now: Instant? = null): VerifiedToken =
        if (fastId != 0L) fast(token, now, 1) else VerifiedToken.of(native { handle.verifyCached(token, now?.toEpochMilli()) })

    private fun fast(token: String, now: Instant?, cached: Int): VerifiedToken {
        val answer = try {
            FastPath.verify(fastId, token, now?.toEpochMilli() ?: Long.MIN_VALUE, cached)
        } catch (e: RuntimeException) {
            // A JNI failure (out of memory, a panic outside the guard): the same code as a caught panic.
            throw HostException(HostErrorCode.INTERNAL_ERROR.code, "a bug in tokenkeep's native code")
        } finally {
            // The id stays registered while this call runs (the cleaner releases it once `this` is unreachable).
            java.lang.ref.Reference.reachabilityFence(this)
        }
        return FastPath.lift(answer)
    }

    /**
     * HTTP bearer authentication in one call: verifies the token of
     * [authorization] (an `Authorization` header value; null when the request
     * has none) as [verify] does and checks that it grants every scope in
     * [scopes]. The answer is the runtime's: [Authentication.Authenticated], or
     * [Authentication.Denied] with the status, code, `WWW-Authenticate` and
     * `Retry-After` to send. [realm], when given, is named in every challenge.
     */
    suspend fun authenticate(
        authorization: String?,
        scopes: List<String> = emptyList(),
        realm: String? = null,
    ): Authentication = native { Authentication.of(handle.authenticate(authorization, scopes, realm)) }

    /** The blocking twin of [authenticate]. */
    @JvmOverloads
    fun authenticateBlocking(
        authorization: String?,
        scopes: List<String> = emptyList(),
        realm: String? = null,
    ): Authentication = native { Authentication.of(handle.authenticateBlocking(authorization, scopes, realm)) }

    /** Waits until every issuer has usable keys; false after [timeout] or once closed. */
    suspend fun ready(timeout: Duration = 5.seconds): Boolean = native { handle.ready(timeout.inWholeMilliseconds) }

    /** The blocking twin of [ready]. */
    fun readyBlocking(timeout: java.time.Duration): Boolean = native { handle.readyBlocking(timeout.toMillis()) }

    /** Health of every issuer's keys. */
    fun health(): List<IssuerHealth> = native { handle.health() }

    /** Asks every fetched issuer for its keys now (the miss cooldown applies); whether a fetch runs for all. */
    fun refresh(): Boolean = native { handle.refresh() }

    /** How many times an issuer's key set changed. */
    val rotationCount: Long get() = handle.rotationCount()

    /**
     * The rotation counter after every key-set change, from subscription on; the
     * flow completes when the verifier closes.
     */
    val rotations: Flow<Long> =
        rotationFlow({ handle.rotationCount() }, { after, ms -> handle.waitRotation(after, ms) }, { handle.isClosed() })

    /** Blocks until the rotation counter exceeds [after]; the count then, or null after [timeout] or close. */
    fun waitRotationBlocking(after: Long, timeout: java.time.Duration): Long? =
        native { handle.waitRotationBlocking(after, timeout.toMillis()) }

    /** This verifier's events (`jwks_refreshed`, `jwt_validation_failed`, …), delivered on the collector's dispatcher. */
    val events: Flow<Event> = eventFlow(::addEventListener, ::removeEventListener)

    /** Calls [listener] with every event, on tokenkeep's thread that produced it; keep it short. */
    fun addEventListener(listener: EventListener): Long = native {
        handle.addEventListener(object : NativeEventListener {
            override fun onEvent(event: Event) = listener.onEvent(event)
        })
    }

    /** Stops calling a listener added with [addEventListener]. */
    fun removeEventListener(id: Long) = handle.removeEventListener(id)

    /** Stops the background refresh and waits for it to end (idempotent). */
    suspend fun shutdown() = native { handle.shutdown() }

    /** Stops the background refresh (idempotent); `use {}` and try-with-resources call it. */
    override fun close() = native { handle.closeBlocking() }

    /** Whether [close] or [shutdown] was called. */
    val isClosed: Boolean get() = handle.isClosed()

    /** The issuers, in configuration order. */
    val issuers: List<String> get() = handle.issuers()

    override fun toString(): String = "Verifier(issuers=$issuers, closed=$isClosed)"
}

/** Receives events (Java-friendly; Kotlin can collect [Verifier.events] instead). */
fun interface EventListener {
    /** One event: never a token, a key or a secret. */
    fun onEvent(event: Event)
}

/** The process-wide metrics (the same families on every host), for a Micrometer or Prometheus bridge. */
object Metrics {
    /** Every family at this moment. */
    @JvmStatic fun snapshot(): List<MetricFamily> = native { metricsSnapshot() }

    /** The same in the Prometheus text exposition format. */
    @JvmStatic fun prometheusText(): String = native { metricsPrometheusText() }
}
