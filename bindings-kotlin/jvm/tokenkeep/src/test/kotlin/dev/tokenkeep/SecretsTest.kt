package dev.tokenkeep

import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.ByteArrayOutputStream
import java.io.PrintStream
import java.time.Instant
import kotlin.time.Duration.Companion.seconds

/**
 * No token, HMAC secret or header value in any toString, exception message,
 * event or metric, and nothing printed: everything this test handles is
 * collected and searched for every secret it used.
 */
class SecretsTest {
    @Test
    fun noSecretInAnythingShown() = runBlocking {
        val hs = Workspace.vectors().map { it.second }.first { v ->
            v["hmac_keys"] != null && v["expect"]!!.jsonObject["claims"] != null
        }
        val hmacK = hs["hmac_keys"]!!.let { (it as kotlinx.serialization.json.JsonArray)[0].jsonObject["k"]!!.jsonPrimitive.content }
        val hsToken = IssuedSecrets.remember(hs["token"]!!.jsonPrimitive.content)
        val headerSecret = IssuedSecrets.remember("header-secret-" + System.nanoTime())
        IssuedSecrets.remember(hmacK)

        val shown = StringBuilder()
        val stdout = System.out
        val stderr = System.err
        val captured = ByteArrayOutputStream()
        System.setOut(PrintStream(captured, true))
        System.setErr(PrintStream(captured, true))
        try {
            DevIssuer("--jwks-max-age", "60s").use { issuer ->
                val options = VerifierOptions(
                    issuer = listOf(issuer.issuer),
                    audience = listOf("api"),
                    http = HttpOptions(headers = mapOf("x-api-key" to headerSecret)),
                    cache = CacheOptions(verifiedTokens = 16),
                )
                shown.appendLine(options)
                Verifier(options).use { v ->
                    shown.appendLine(v)
                    v.addEventListener { shown.appendLine(it) }
                    v.ready(10.seconds)
                    val good = issuer.mint("secret-test", "api")
                    shown.appendLine(v.verify(good))
                    for (bad in listOf(good.dropLast(4) + "AAAA", issuer.mint("x", "wrong"), good + "x", "not.a.token")) {
                        IssuedSecrets.remember(bad)
                        runCatching { v.verify(bad) }.exceptionOrNull()?.let { shown.appendLine(it).appendLine(it.message) }
                    }
                    shown.appendLine(v.health())
                }
            }
            val hsOptions = VerifierOptions(
                jwks = hs["jwks"].toString(),
                hmacKeys = listOf(HmacKey(alg = "HS256", k = hmacK, kid = "hs-1")),
                policy = PolicyOptions(issuers = listOf("https://issuer.tokenkeep.test")),
            )
            shown.appendLine(hsOptions).appendLine(hsOptions.hmacKeys)
            runCatching { Verifier(hsOptions).use { it.verifyBlocking(hsToken, Instant.ofEpochSecond(hs["now"]!!.jsonPrimitive.content.toLong())) } }
                .let { shown.appendLine(it.getOrNull()).appendLine(it.exceptionOrNull()) }
            // A config error quoting a field that holds a secret.
            runCatching { Verifier(buildJsonObject { put("hmac_keys", JsonPrimitive(hmacK)) }.toString()) }
                .exceptionOrNull().let { shown.appendLine(it).appendLine(it?.message) }
            shown.appendLine(Metrics.prometheusText())
        } finally {
            System.setOut(stdout)
            System.setErr(stderr)
        }
        shown.append(captured.toString())
        assertTrue(shown.contains("secret-test"), "the collection holds what was shown")
        // What the other suites showed (the outbound handles' toString, health, values, events, errors) too.
        IssuedSecrets.shown.forEach { shown.appendLine(it) }
        IssuedSecrets.assertNoneIn(shown.toString())
    }
}
