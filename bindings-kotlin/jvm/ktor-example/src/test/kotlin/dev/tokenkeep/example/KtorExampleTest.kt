package dev.tokenkeep.example

import dev.tokenkeep.DevIssuer
import dev.tokenkeep.Verifier
import dev.tokenkeep.VerifierOptions
import io.ktor.server.engine.embeddedServer
import io.ktor.server.netty.Netty
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.jar.JarFile
import kotlin.time.Duration.Companion.seconds

/** The example service over real HTTP: a Netty server on 127.0.0.1, tokens from the dev issuer. */
class KtorExampleTest {
    private val client = HttpClient.newHttpClient()

    private fun get(url: String, token: String?): HttpResponse<String> {
        val request = HttpRequest.newBuilder(URI.create(url)).GET()
        token?.let { request.header("Authorization", "Bearer $it") }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString())
    }

    @Test
    fun guardsTheRoute() = runBlocking {
        DevIssuer("--jwks-max-age", "60s").use { issuer ->
            Verifier(VerifierOptions.discovery(issuer.issuer, "api")).use { verifier ->
                assertTrue(verifier.ready(10.seconds))
                val server = embeddedServer(Netty, port = 0, host = "127.0.0.1") { ordersService(verifier) }.start(wait = false)
                try {
                    val port = server.engine.resolvedConnectors().first().port
                    val orders = "http://127.0.0.1:$port/orders"

                    assertEquals(200, get("http://127.0.0.1:$port/public", null).statusCode())

                    val ok = get(orders, issuer.mint("alice", "api", extra = mapOf("scope" to "orders:read profile")))
                    assertEquals(200, ok.statusCode())
                    assertEquals("orders of alice", ok.body())

                    val none = get(orders, null)
                    assertEquals(401, none.statusCode())
                    assertEquals("Bearer realm=\"api\", error=\"invalid_request\"", none.headers().firstValue("WWW-Authenticate").get())
                    assertEquals("{\"error\":\"missing_token\"}", none.body())

                    val wrongAudience = get(orders, issuer.mint("alice", "other", extra = mapOf("scope" to "orders:read")))
                    assertEquals(401, wrongAudience.statusCode())
                    assertEquals(
                        "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"wrong_audience\"",
                        wrongAudience.headers().firstValue("WWW-Authenticate").get(),
                    )
                    assertEquals("{\"error\":\"wrong_audience\"}", wrongAudience.body())

                    val noScope = get(orders, issuer.mint("bob", "api", extra = mapOf("scope" to "profile")))
                    assertEquals(403, noScope.statusCode())
                    assertEquals("{\"error\":\"insufficient_scope\"}", noScope.body())
                    assertEquals(
                        "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"orders:read\"",
                        noScope.headers().firstValue("WWW-Authenticate").get(),
                    )
                } finally {
                    server.stop(100, 1000)
                }
            }
        }
    }

    @Test
    fun keysUnavailableIs503() = runBlocking {
        DevIssuer("--jwks-max-age", "60s").use { issuer ->
            // The IdP is down before the service ever got keys: no key can be had.
            issuer.outage(60, "503")
            Verifier(VerifierOptions.discovery(issuer.issuer, "api")).use { verifier ->
                val server = embeddedServer(Netty, port = 0, host = "127.0.0.1") { ordersService(verifier) }.start(wait = false)
                try {
                    val port = server.engine.resolvedConnectors().first().port
                    val response = get("http://127.0.0.1:$port/orders", issuer.mint("carol", "api", extra = mapOf("scope" to "orders:read")))
                    assertEquals(503, response.statusCode())
                    assertEquals("{\"error\":\"keys_unavailable\"}", response.body())
                    assertNull(response.headers().firstValue("WWW-Authenticate").orElse(null))
                    assertEquals("5", response.headers().firstValue("Retry-After").get())
                } finally {
                    server.stop(100, 1000)
                    issuer.outage(0)
                }
            }
        }
    }

    @Test
    fun theNativeLibraryComesFromTheJar() {
        // In the reactor's verify run this module sees the packaged jar, with the
        // library inside under JNA's platform prefix and nothing on java.library.path.
        val location = Verifier::class.java.protectionDomain.codeSource.location.path
        assertTrue(location.endsWith(".jar"), "tokenkeep classes from $location")
        JarFile(location).use { jar -> assertTrue(jar.getEntry("linux-x86-64/libtokenkeep_kotlin.so") != null) }
        assertTrue("tokenkeep" !in System.getProperty("java.library.path"))
        Verifier("""{"issuer": "https://issuer.example", "jwks": {"keys": []}}""").use { assertEquals(listOf("https://issuer.example"), it.issuers) }
    }
}
