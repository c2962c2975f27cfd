package dev.tokenkeep

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import kotlinx.coroutines.runBlocking

/** The typed codes equal tests/vectors/codes.json, concern by concern; panics arrive as internal_error. */
class CodesTest {
    @Test
    fun rejectionCodesMatchCodesJson() =
        assertEquals(Workspace.codes("rejection"), RejectionCode.entries.map { it.code })

    @Test
    fun specCodesMatchCodesJson() = assertEquals(Workspace.codes("spec"), SpecErrorCode.entries.map { it.code })

    @Test
    fun hostCodesMatchCodesJson() = assertEquals(Workspace.codes("host"), HostErrorCode.entries.map { it.code })

    @Test
    fun credentialErrorCodesMatchCodesJson() =
        assertEquals(Workspace.codes("credential_error"), CredentialErrorCode.entries.map { it.code })

    @Test
    fun hmacCodesMatchCodesJson() = assertEquals(Workspace.codes("hmac"), HmacErrorCode.entries.map { it.code })

    @Test
    fun outboundKindsAndStatesAreTheRuntimes(@org.junit.jupiter.api.io.TempDir dir: java.nio.file.Path) {
        // Nothing is served at port 9 and no file exists: each handle stays without a value.
        VaultToken(VaultTokenOptions(role = "app", addr = "http://127.0.0.1:9", jwtFile = "/nonexistent")).use { token ->
            val handles = listOf(
                token,
                VaultSecret(token, VaultSecretOptions(mount = "secret", path = "app")),
                VaultLease(token, VaultLeaseOptions(path = "database/creds/app")),
                FileToken(FileTokenOptions(path = dir.resolve("none").toString())),
                HmacKeyring(HmacKeyringOptions(file = dir.resolve("none").toString())),
            )
            assertEquals(Workspace.codes("credential_kind"), handles.map { it.kind })
            val states = Workspace.codes("credential_state")
            handles.forEach { h -> assertTrue(h.health().state in states, h.health().state) }
            val e = assertThrows<CredentialUnavailableException> { (handles[4] as HmacKeyring).current() }
            assertTrue(e.code in Workspace.codes("credential_error"), e.code)
            val sign = assertThrows<HmacException> { (handles[4] as HmacKeyring).sign("GET", "/") }
            assertEquals("no_key", sign.code)
            handles.drop(1).forEach { it.close() }
        }
    }

    @Test
    fun healthStatesAndEventNamesAreTheRuntimes() {
        // The records carry the runtime's strings; every one must be a listed code.
        Verifier("""{"issuer": "https://issuer.example", "jwks": {"keys": []}}""").use { v ->
            val states = Workspace.codes("cache_state")
            v.health().forEach { assertTrue(it.state in states, it.state) }
        }
        val families = Metrics.snapshot().map { it.name }
        assertTrue(Workspace.codes("metric").containsAll(families), "unknown families: ${families - Workspace.codes("metric").toSet()}")
    }

    @Test
    fun aSpecErrorNamesTheFieldAndItsCode() {
        val e = assertThrows<ConfigException> {
            Verifier(VerifierOptions(issuers = listOf(
                VerifierOptions(issuer = listOf("https://a.example")),
                VerifierOptions(issuer = listOf("https://b.example"), audience = emptyList()),
            )))
        }
        assertEquals("empty_value", e.code)
        assertEquals(SpecErrorCode.EMPTY_VALUE, e.specError)
        assertEquals("issuers[1].audience", e.path)
        assertEquals("issuers[1].audience: must not be empty", e.message)
    }

    @Test
    fun unknownFieldsAndBadJsonAreConfigErrors() {
        assertEquals("unknown_field", assertThrows<ConfigException> { Verifier("""{"isuer": "https://a.example"}""") }.code)
        assertEquals("syntax", assertThrows<ConfigException> { Verifier("{") }.code)
        assertEquals("insecure_url", assertThrows<ConfigException> {
            Verifier(VerifierOptions(issuer = listOf("http://idp.example"), audience = listOf("api")))
        }.code)
    }

    @Test
    fun aRustPanicIsInternalError() {
        val e = assertThrows<HostException> { native { debugPanicForTests() } }
        assertEquals("internal_error", e.code)
        assertEquals(HostErrorCode.INTERNAL_ERROR, e.hostError)
        val async = assertThrows<HostException> { runBlocking { native { debugPanicAsyncForTests() } } }
        assertEquals("internal_error", async.code)
        // The library is still usable after a caught panic.
        Verifier("""{"issuer": "https://issuer.example", "jwks": {"keys": []}}""").use { assertEquals(listOf("https://issuer.example"), it.issuers) }
    }
}
