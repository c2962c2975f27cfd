package dev.tokenkeep

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.time.Duration
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.seconds

/** Against the project's dev issuer over real HTTP on 127.0.0.1. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DevIssuerTest {
    private val issuer = DevIssuer("--jwks-max-age", "60s", "--alg", "ES256", "--alg", "RS256", "--alg", "EdDSA")

    @AfterAll
    fun stop() = issuer.close()

    /** A 1 s miss cooldown (the shortest allowed) so a test can rotate keys every few seconds. */
    private fun options() = VerifierOptions(
        issuer = listOf(issuer.issuer),
        audience = listOf("api"),
        cache = CacheOptions(missCooldown = java.time.Duration.ofSeconds(1)),
    )

    /** Past the miss cooldown: the next unknown kid is fetched at once, as with real IdPs rotating hours apart. */
    private suspend fun pastCooldown() = delay(1500)

    @Test
    fun discoveryThenVerifyEveryAlgorithm() = runBlocking {
        Verifier(options()).use { v ->
            assertTrue(v.ready(10.seconds))
            for (alg in listOf("ES256", "RS256", "EdDSA")) {
                val token = issuer.mint("user-1", "api", alg)
                val verified = v.verify(token)
                assertEquals("user-1", verified.subject)
                assertEquals(alg, verified.alg)
                assertEquals(issuer.issuer, verified.claims["iss"]!!.jsonPrimitive.content)
            }
            val health = v.health().single()
            assertEquals(issuer.issuer, health.issuer)
            assertEquals("fresh", health.state)
            assertTrue(health.keyCount >= 3)
            assertEquals("wrong_audience", assertThrows<TokenRejectedException> { v.verifyBlocking(issuer.mint("u", "other")) }.code)
        }
    }

    @Test
    fun rotationWithoutAWrongfulRejection() = runBlocking {
        Verifier(options()).use { v ->
            assertTrue(v.ready(10.seconds))
            val rotations = async(Dispatchers.Default) { v.rotations.first() }
            val rejected = AtomicInteger()
            val verified = AtomicInteger()
            val codes = java.util.concurrent.ConcurrentLinkedQueue<String>()
            repeat(5) { round ->
                pastCooldown()
                val before = issuer.mint("user-$round", "api")
                issuer.rotate()
                val after = issuer.mint("user-$round", "api")
                // Old and new keys at once, from many coroutines: the new kid is
                // fetched once, the old one still verifies.
                (1..50).map { i ->
                    async(Dispatchers.Default) {
                        try {
                            v.verify(if (i % 2 == 0) before else after)
                            verified.incrementAndGet()
                        } catch (e: TokenRejectedException) {
                            codes.add(e.code)
                            rejected.incrementAndGet()
                        }
                    }
                }.awaitAll()
            }
            assertEquals(0, rejected.get(), "wrongful rejections: ${codes.toSet()}")
            assertEquals(250, verified.get())
            assertTrue(withTimeout(10.seconds) { rotations.await() } >= 1)
            assertTrue(v.rotationCount >= 1)
        }
    }

    @Test
    fun outageIsServedFromCache() = runBlocking {
        Verifier(options()).use { v ->
            assertTrue(v.ready(10.seconds))
            val token = issuer.mint("user-2", "api")
            v.verify(token)
            issuer.outage(30, "503")
            try {
                servedDuringOutage(v, token)
            } finally {
                issuer.outage(0)
            }
        }
    }

    private suspend fun servedDuringOutage(v: Verifier, token: String) {
        run {
            val events = mutableListOf<Event>()
            val id = v.addEventListener { synchronized(events) { events.add(it) } }
            // A forced refresh fails against the outage; known keys keep working.
            v.refresh()
            val failed = v.waitForHealth { it.consecutiveFailures >= 1 }
            assertEquals("http_5xx", failed.lastErrorCode)
            assertEquals("user-2", v.verify(issuer.mint("user-2", "api")).subject)
            assertEquals("user-2", v.verifyBlocking(token).subject)
            v.removeEventListener(id)
            assertTrue(synchronized(events) { events.any { it.name == "jwks_refresh_failed" } }, "events: $events")
        }
    }

    @Test
    fun manyCoroutinesVerifyAtOnce() = runBlocking {
        Verifier(options()).use { v ->
            assertTrue(v.ready(10.seconds))
            val tokens = (1..20).map { issuer.mint("user-$it", "api", listOf("ES256", "RS256", "EdDSA")[it % 3]) }
            val results = (1..2000).map { i ->
                async(Dispatchers.Default) { v.verify(tokens[i % tokens.size]).subject }
            }.awaitAll()
            results.forEachIndexed { i, subject -> assertEquals("user-${(i + 1) % 20 + 1}", subject) }
        }
    }

    @Test
    fun closeWhileVerificationsAreInFlight() = runBlocking {
        val v = Verifier(options())
        assertTrue(v.ready(10.seconds))
        val known = issuer.mint("user-4", "api")
        // A hanging IdP: tokens with an unseen kid wait for a refetch that does not come.
        issuer.rotate()
        issuer.outage(60, "hang")
        try {
            closeWhileWaiting(v, issuer.mint("user-3", "api"), known)
        } finally {
            issuer.outage(0)
        }
    }

    private suspend fun closeWhileWaiting(v: Verifier, token: String, known: String) = coroutineScope {
        val started = AtomicInteger()
        val outcomes = (1..20).map {
            async(Dispatchers.Default) {
                started.incrementAndGet()
                runCatching { v.verify(token) }
            }
        }
        while (started.get() < 20) Thread.sleep(10)
        v.close()
        v.close() // idempotent
        val results = withTimeout(30.seconds) { outcomes.awaitAll() }
        // Every waiter was released with the runtime's answer, none hangs or crashes.
        results.forEach { r ->
            val e = r.exceptionOrNull()
            assertTrue(r.isSuccess || e is TokenRejectedException, "unexpected: $e")
        }
        assertTrue(v.isClosed)
        // Verification goes on after close with the keys at hand.
        assertEquals("user-4", v.verifyBlocking(known).subject)
    }

    @Test
    fun eventsFlowDeliversRefreshes() = runBlocking {
        Verifier(options()).use { v ->
            assertTrue(v.ready(10.seconds))
            val refreshed = async(Dispatchers.Default) { v.events.first { it.name == "jwks_refreshed" } }
            // The collector subscribes asynchronously: rotate until one refresh reaches it.
            withTimeout(60.seconds) {
                while (!refreshed.isCompleted) {
                    pastCooldown()
                    issuer.rotate()
                    v.verify(issuer.mint("user-5", "api"))
                }
            }
            val event = refreshed.await()
            assertEquals("jwks", event.sourceKind)
            assertEquals(issuer.issuer, event.source)
            // The kids the rotation added (the dev issuer rotates one key per algorithm).
            val added = event.fields["added"]
            assertTrue(added is FieldValue.TextList && added.values.isNotEmpty(), "fields: ${event.fields}")
        }
    }

    private fun Verifier.waitForHealth(predicate: (IssuerHealth) -> Boolean): IssuerHealth {
        val deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos()
        while (System.nanoTime() < deadline) {
            health().single().takeIf(predicate)?.let { return it }
            Thread.sleep(50)
        }
        error("health never matched: ${health()}")
    }
}
