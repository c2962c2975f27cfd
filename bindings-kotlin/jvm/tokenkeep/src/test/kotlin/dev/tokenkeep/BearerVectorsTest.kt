package dev.tokenkeep

import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonArray
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.contentOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.TestInstance
import kotlin.time.Duration.Companion.seconds

/**
 * Every case of tests/vectors/bearer.json through [Verifier.authenticate] and
 * [Verifier.authenticateBlocking], tokens minted by the dev issuer: the
 * runtime's bearer answers, converted to [Authentication].
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BearerVectorsTest {
    private val audience = "api"
    private val issuer = DevIssuer("--jwks-max-age", "60s")
    private val verifier = Verifier(VerifierOptions.discovery(issuer.issuer, audience))

    @AfterAll
    fun stop() {
        verifier.close()
        issuer.close()
    }

    private val cases: List<JsonObject> =
        Workspace.json("tests/vectors/bearer.json")["cases"]!!.jsonArray.map { it.jsonObject }

    /** An answer in the vectors' form. */
    private fun answer(a: Authentication): JsonObject = when (a) {
        is Authentication.Authenticated -> {
            assertEquals("alice", a.token.subject)
            assertEquals(a.token.scopes, a.scopes)
            buildJsonObject {
                put("status", 200)
                put("scopes", buildJsonArray { a.scopes.forEach { add(JsonPrimitive(it)) } })
            }
        }
        is Authentication.Denied -> {
            IssuedSecrets.show(a)
            assertTrue(a.headers.keys.all { it == "WWW-Authenticate" || it == "Retry-After" }, "${a.headers}")
            assertEquals(a.wwwAuthenticate, a.headers["WWW-Authenticate"])
            assertEquals(a.retryAfter?.toString(), a.headers["Retry-After"])
            // Every refusal's error is a listed code (tests/vectors/codes.json).
            assertTrue(a.error in Workspace.codes("rejection") + Workspace.codes("denial"), a.error)
            buildJsonObject {
                put("status", a.status)
                put("error", a.error)
                put("www_authenticate", a.wwwAuthenticate)
                put("retry_after", a.retryAfter)
            }
        }
    }

    private fun JsonElement.textOrNull(): String? = (this as? JsonPrimitive)?.contentOrNull

    @TestFactory
    fun everyBearerCase(): List<DynamicTest> {
        assertTrue(runBlocking { verifier.ready(10.seconds) })
        assertTrue(cases.size >= 20)
        return cases.map { case ->
            val name = case["name"]!!.jsonPrimitive.content
            DynamicTest.dynamicTest(name) {
                val claims = buildJsonObject {
                    put("sub", "alice")
                    put("aud", audience)
                    case["claims"]!!.jsonObject.forEach { (k, v) -> put(k, v) }
                }
                val token = issuer.mint(claims)
                val authorization = case["authorization"]!!.textOrNull()?.replace("{token}", token)
                val required = case["required"]!!.jsonArray.map { it.jsonPrimitive.content }
                val realm = case["realm"]!!.textOrNull()
                val expect = case["expect"]!!.jsonObject

                assertEquals(expect, answer(runBlocking { verifier.authenticate(authorization, required, realm) }), name)
                assertEquals(expect, answer(verifier.authenticateBlocking(authorization, required, realm)), "$name (blocking)")
            }
        }
    }

    @Test
    fun scopesComeFromTheRuntimeOnEveryPath() {
        assertTrue(verifier.readyBlocking(java.time.Duration.ofSeconds(10)))
        val token = issuer.mint(buildJsonObject {
            put("sub", "alice")
            put("aud", audience)
            put("scope", "b  a b")
            put("scp", buildJsonArray { add(JsonPrimitive("c")); add(JsonPrimitive(7)); add(JsonPrimitive("a")) })
        })
        // The JNI fast path, uniffi (suspend verify) and authenticate give the same scopes, in the runtime's order.
        assertEquals(listOf("b", "a", "c"), verifier.verifyBlocking(token).scopes.toList())
        assertEquals(listOf("b", "a", "c"), verifier.verifyCached(token).scopes.toList())
        assertEquals(listOf("b", "a", "c"), runBlocking { verifier.verify(token) }.scopes.toList())
        val answer = verifier.authenticateBlocking("Bearer $token", listOf("c"))
        assertTrue(answer is Authentication.Authenticated)
        assertEquals(listOf("b", "a", "c"), (answer as Authentication.Authenticated).scopes.toList())
        assertFalse(answer.toString().contains(token))
    }

    @Test
    fun aDenialNeverHoldsTheToken() {
        val token = issuer.mint("alice", "someone-else")
        val denied = verifier.authenticateBlocking("Bearer $token") as Authentication.Denied
        assertEquals(401 to "wrong_audience", denied.status to denied.error)
        for (text in listOf(denied.toString(), denied.headers.toString())) {
            assertFalse(text.contains(token.substringAfterLast('.')), text)
        }
    }
}
