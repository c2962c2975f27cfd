package dev.tokenkeep

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.firstOrNull
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.sql.Connection
import java.sql.DriverManager
import java.sql.SQLException
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import java.time.Duration as JavaDuration

/**
 * The outbound handles on the real OpenBao and PostgreSQL of `tokenkeep dev-stack
 * --postgres`, with short TTLs (token 6 s, max 15 s; lease 5 s, max 12 s) so that
 * renewals, new logins and lease replacements happen within a test.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OutboundTest {
    private val stack = DevStack(
        "--postgres", "--token-ttl", "6s", "--token-max-ttl", "15s", "--lease-ttl", "5s", "--lease-max-ttl", "12s",
    )

    @TempDir
    lateinit var dir: Path

    @AfterAll
    fun stop() {
        stack.close()
        IssuedSecrets.assertNoneIn(IssuedSecrets.shown.joinToString("\n"))
    }

    private fun jwtFile(): String = dir.resolve("jwt-${System.nanoTime()}").also { Files.writeString(it, stack.loginJwt()) }.toString()

    private fun tokenOptions(revokeOnClose: Boolean = false) = VaultTokenOptions(
        role = stack.openbao("role"),
        addr = stack.openbao("addr"),
        authMount = stack.openbao("auth_mount"),
        jwtFile = jwtFile(),
        revokeOnClose = revokeOnClose,
    )

    /** Events a listener given at construction saw, and their toString for the secret search. */
    private class Seen : EventListener {
        val events = ConcurrentLinkedQueue<Event>()
        override fun onEvent(event: Event) {
            events.add(event)
            IssuedSecrets.show(event)
        }
        fun names(): List<String> = events.map { it.name }
    }

    private fun lookupSelf(token: String): Int = stack.bao("GET", "auth/token/lookup-self", token = token).statusCode()

    private fun waitUntil(what: String, seconds: Long, check: () -> Boolean) {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds)
        while (!check()) {
            check(System.nanoTime() < deadline) { "not within $seconds s: $what" }
            Thread.sleep(100)
        }
    }

    @Test
    fun vaultTokenLogsInRenewsLogsInAgainAndIsRevokedOnClose(): Unit = runBlocking {
        val seen = Seen()
        val token = VaultToken(tokenOptions(revokeOnClose = true), seen)
        assertEquals("vault_token", token.kind)
        assertEquals("${stack.openbao("role")}@${stack.openbao("auth_mount")}", token.name)
        assertTrue(token.ready(30.seconds), token.health().toString())
        // The listener given at construction saw the first login.
        waitUntil("credential_obtained seen", 5) { "credential_obtained" in seen.names() }
        val first = token.current()
        val firstSecret = IssuedSecrets.remember(first.expose())
        assertEquals(200, lookupSelf(firstSecret))
        val health = token.health()
        assertTrue(health.state in Workspace.codes("credential_state"), health.state)
        assertNotNull(health.expiresInSeconds)
        assertEquals(health.kind, "vault_token")
        // token_ttl 6 s: renewed near 4 s; token_max_ttl 15 s: a new login, seen on the flow.
        val rotated = withTimeout(40.seconds) { token.rotations.first() }
        assertTrue(rotated >= 1)
        assertTrue("credential_renewed" in seen.names(), seen.names().toString())
        val second = IssuedSecrets.remember(token.current().expose())
        assertNotEquals(firstSecret, second)
        assertEquals(200, lookupSelf(second))
        IssuedSecrets.show(token, first, token.current(), token.health())
        assertFalse(token.toString().contains(second))
        assertEquals("Secret(<redacted>)", first.toString())

        token.shutdown()
        token.close() // idempotent
        assertTrue(token.isClosed)
        assertEquals(403, lookupSelf(second), "revoke_on_close revoked the token")
        val e = assertThrows<CredentialUnavailableException> { token.current() }
        assertEquals("closed", e.code)
        assertEquals(CredentialErrorCode.CLOSED, e.credentialError)
        assertFalse(token.refresh())
        IssuedSecrets.show(e, token)
        // The events named by the runtime are listed codes.
        assertTrue(Workspace.codes("event").containsAll(seen.names()), seen.names().toString())
    }

    @Test
    fun kvRotationIsSeenOnTheFlowAndTheFlowEndsOnClose(): Unit = runBlocking {
        stack.putKv("jvm/config", mapOf("password" to IssuedSecrets.remember("kv-jvm-password-one"), "user" to "app"))
        VaultToken(tokenOptions()).use { token ->
            val options = VaultSecretOptions(mount = stack.openbao("kv_mount"), path = "jvm/config", interval = JavaDuration.ofSeconds(1))
            val secret = VaultSecret(token, options)
            assertEquals("vault_secret", secret.kind)
            assertEquals("secret/jvm/config", secret.name)
            assertTrue(secret.ready(30.seconds), secret.health().toString())
            assertEquals("kv-jvm-password-one", secret.current().getString("password"))
            assertEquals("app", secret.current().getString("user"))
            val v1 = secret.currentVersion()
            val next = async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) { secret.rotations.first() }
            val v2 = stack.putKv("jvm/config", mapOf("password" to IssuedSecrets.remember("kv-jvm-password-two"), "user" to "app"))
            assertTrue(withTimeout(30.seconds) { next.await() } >= 1)
            assertEquals("kv-jvm-password-two", secret.current().getString("password"))
            assertEquals(v2, secret.currentVersion())
            assertEquals(v2, secret.health().version)
            assertTrue(v2 > v1)
            IssuedSecrets.show(secret, secret.current(), secret.health())
            assertFalse(secret.current().toString().contains("kv-jvm-password"))

            // A collector running when the handle closes completes.
            val collected = async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) { secret.rotations.toList() }
            secret.shutdown()
            assertEquals(emptyList<Long>(), withTimeout(30.seconds) { collected.await() })
            assertEquals("closed", assertThrows<CredentialUnavailableException> { secret.current() }.code)
        }
    }

    @Test
    fun aDatabaseLeaseKeepsAJdbcClientQueryingAcrossItsReplacement(): Unit = runBlocking {
        val url = "jdbc:postgresql://${stack.postgres("host")}:${stack.postgres("port")}/${stack.postgres("database")}?connectTimeout=10"
        VaultToken(tokenOptions()).use { token ->
            val lease = VaultLease(token, VaultLeaseOptions(path = stack.postgres("lease_path")))
            assertEquals("vault_lease", lease.kind)
            assertTrue(lease.ready(30.seconds), lease.health().toString())
            val first = lease.current()
            assertTrue(first.keys.containsAll(listOf("username", "password", "lease_id", "lease_duration", "renewable")), first.keys.toString())
            assertNotNull(first.getLong("lease_duration"))
            assertNotNull(first.getBoolean("renewable"))
            IssuedSecrets.remember(first.getString("password")!!)
            IssuedSecrets.remember(first.getString("lease_id")!!)
            IssuedSecrets.show(lease, first, lease.health())

            // A client that follows the lease: it queries every 100 ms, and opens a new
            // connection with the new credential as soon as the lease is replaced.
            val users = mutableListOf<String>()
            var connection: Connection? = null
            var current = first
            var queries = 0
            val startCount = lease.rotationCount
            try {
                withTimeout(60.seconds) {
                    while (users.size < 2 || queries < 5) {
                        val now = lease.current()
                        if (connection == null || now.getString("lease_id") != current.getString("lease_id")) {
                            connection?.close()
                            current = now
                            IssuedSecrets.remember(now.getString("password")!!)
                            IssuedSecrets.remember(now.getString("lease_id")!!)
                            connection = DriverManager.getConnection(url, now.getString("username"), now.getString("password"))
                            users.add(now.getString("username")!!)
                            queries = 0
                        }
                        connection!!.createStatement().use { st ->
                            st.executeQuery("select current_user").use { rs ->
                                assertTrue(rs.next())
                                assertEquals(current.getString("username"), rs.getString(1))
                            }
                        }
                        queries++
                        kotlinx.coroutines.delay(100.milliseconds)
                    }
                }
            } finally {
                connection?.close()
            }
            assertTrue(lease.rotationCount > startCount)
            assertEquals(users.distinct(), users, "each replacement is a new database user")
            assertNotEquals(first.getString("lease_id"), current.getString("lease_id"))

            // Revoked on close: the lease is gone and its database user with it.
            lease.close()
            val lookup = stack.bao("PUT", "sys/leases/lookup", """{"lease_id": "${current.getString("lease_id")}"}""")
            assertEquals(400, lookup.statusCode(), "the lease was revoked")
            assertThrows<SQLException> {
                DriverManager.getConnection(url, current.getString("username"), current.getString("password")).close()
            }
        }
    }

    @Test
    fun aFileTokenIsRereadWhenTheFileChanges() {
        val path = dir.resolve("token")
        val first = stack.loginJwt()
        Files.writeString(path, first)
        FileToken(FileTokenOptions(path = path.toString(), changePoll = JavaDuration.ofMillis(200))).use { file ->
            assertEquals("file_token", file.kind)
            assertTrue(file.readyBlocking(JavaDuration.ofSeconds(10)))
            assertEquals(first, file.current().expose())
            val seen = file.rotationCount
            val second = stack.loginJwt(ttl = 900)
            Files.writeString(path, second)
            assertNotNull(file.waitRotationBlocking(seen, JavaDuration.ofSeconds(15)), "the new file was read")
            assertEquals(second, file.current().expose())
            IssuedSecrets.show(file, file.current(), file.health())
        }
    }

    @Test
    fun anHmacKeyringSignsAndVerifiesAcrossARotation() {
        stack.putKv("jvm/hmac", mapOf("key" to IssuedSecrets.remember("kv-jvm-hmac-secret-0123456789")))
        VaultToken(tokenOptions()).use { token ->
            val options = HmacKeyringOptions(mount = stack.openbao("kv_mount"), path = "jvm/hmac", field = "key", interval = JavaDuration.ofSeconds(1))
            HmacKeyring(options, token).use { ring ->
                assertEquals("hmac_keyring", ring.kind)
                assertTrue(ring.readyBlocking(JavaDuration.ofSeconds(30)), ring.health().toString())
                val v1 = ring.current()
                val body = "{\"order\": 1}".toByteArray()
                val signature = ring.sign("POST", "/orders", body)
                assertEquals(v1, ring.verify(signature, "POST", "/orders", body))
                val bad = assertThrows<HmacException> { ring.verify(signature, "POST", "/orders", "tampered".toByteArray()) }
                assertEquals("bad_signature", bad.code)
                assertEquals(HmacErrorCode.BAD_SIGNATURE, bad.hmacError)
                assertEquals("malformed_signature", assertThrows<HmacException> { ring.verify("garbage", "POST", "/orders") }.code)

                val seen = ring.rotationCount
                stack.putKv("jvm/hmac", mapOf("key" to IssuedSecrets.remember("kv-jvm-hmac-secret-rotated-987654")))
                assertNotNull(ring.waitRotationBlocking(seen, JavaDuration.ofSeconds(30)), "the rotated secret was read")
                val v2 = ring.current()
                assertNotEquals(v1, v2)
                // The previous secret still verifies within its grace window; new signatures use the new one.
                assertEquals(v1, ring.verify(signature, "POST", "/orders", body))
                assertEquals(v2, ring.verify(ring.sign("POST", "/orders", body), "POST", "/orders", body))
                IssuedSecrets.show(ring, ring.health(), bad, signature)
            }
        }
    }

    @Test
    fun badOptionsAreConfigErrorsNamingTheField() {
        val e = assertThrows<ConfigException> { VaultToken(VaultTokenOptions(addr = "http://127.0.0.1:9", jwtFile = "/nonexistent")) }
        assertEquals(SpecErrorCode.MISSING_FIELD, e.specError)
        assertEquals("role", e.path)
        assertTrue(e.message!!.contains("role"), e.message)
        assertEquals("max_backoff", assertThrows<ConfigException> {
            VaultToken("""{"role": "app", "addr": "http://127.0.0.1:9", "jwt_file": "/x", "max_backoff": "forever"}""")
        }.path)
        assertEquals("unknown_field", assertThrows<ConfigException> { FileToken("""{"path": "/x", "bogus": 1}""") }.code)
        VaultToken(VaultTokenOptions(role = "app", addr = "http://127.0.0.1:9", jwtFile = "/nonexistent")).use { token ->
            val interval = assertThrows<ConfigException> { VaultSecret(token, VaultSecretOptions("secret", "app/db", JavaDuration.ofMillis(10))) }
            assertEquals("interval", interval.path)
            assertEquals("out_of_range", interval.code)
            assertEquals("path", assertThrows<ConfigException> { VaultLease(token, VaultLeaseOptions(path = "../x")) }.path)
            // Nothing listens on port 9: no value yet, and the code says so.
            assertFalse(token.readyBlocking(JavaDuration.ofMillis(200)))
            assertEquals("not_yet_obtained", assertThrows<CredentialUnavailableException> { token.current() }.code)
            assertEquals("empty", token.health().state)
        }
        assertThrows<ConfigException> { HmacKeyring(HmacKeyringOptions()) }
    }

    @Test
    fun noThreadIsLeftBehindAfterClose() {
        stack.putKv("jvm/exit", mapOf("hmac" to IssuedSecrets.remember("kv-jvm-exit-hmac-secret-0123456789")))
        val java = Paths.get(System.getProperty("java.home"), "bin", "java").toString()
        val process = ProcessBuilder(
            java, "-Dtokenkeep.root=${Workspace.root}", "-cp", System.getProperty("java.class.path"),
            "-Dstack.addr=${stack.openbao("addr")}", "-Dstack.role=${stack.openbao("role")}",
            "-Dstack.authMount=${stack.openbao("auth_mount")}", "-Dstack.jwtFile=${jwtFile()}",
            "-Dstack.kvMount=${stack.openbao("kv_mount")}", "-Dstack.leasePath=${stack.postgres("lease_path")}",
            "-Dstack.dir=$dir",
            OutboundExitProgram::class.java.name,
        ).redirectErrorStream(true).start()
        val output = StringBuilder()
        val reader = Thread { process.inputStream.bufferedReader().forEachLine { output.appendLine(it) } }.apply { start() }
        // A hang guard, not a timing check: a JVM kept alive by a thread never exits.
        val exited = process.waitFor(120, TimeUnit.SECONDS)
        if (!exited) process.destroyForcibly()
        reader.join()
        IssuedSecrets.show(output)
        assertTrue(exited, "the JVM did not exit after close():\n$output")
        assertEquals(0, process.exitValue(), output.toString())
        assertTrue(output.contains("outbound handles used and closed"), output.toString())
        assertTrue(output.contains("non-daemon threads left: []"), output.toString())
    }
}

/**
 * Uses every outbound handle with its threaded parts (listeners, the events and
 * rotations flows, suspend ready and close) and closes them: the JVM must exit.
 */
object OutboundExitProgram {
    @JvmStatic
    fun main(args: Array<String>) {
        val before = Thread.getAllStackTraces().keys.filter { !it.isDaemon }.map { it.name }.toSet()
        fun p(name: String) = System.getProperty("stack.$name")!!
        runBlocking {
            val seen = ConcurrentLinkedQueue<String>()
            val token = VaultToken(
                VaultTokenOptions(role = p("role"), addr = p("addr"), authMount = p("authMount"), jwtFile = p("jwtFile"), revokeOnClose = true),
            ) { seen.add(it.name) }
            val events = launch(Dispatchers.Default) { withTimeoutOrNull(30.seconds) { token.events.firstOrNull() } }
            check(token.ready(30.seconds)) { token.health() }
            val secretFile = Paths.get(p("dir"), "exit-hmac").also { Files.writeString(it, "exit-file-hmac-secret-0123456789") }
            val handles = listOf(
                VaultLease(token, VaultLeaseOptions(path = p("leasePath"))),
                FileToken(FileTokenOptions(path = p("jwtFile"))),
                HmacKeyring(HmacKeyringOptions(file = secretFile.toString())),
                HmacKeyring(HmacKeyringOptions(mount = p("kvMount"), path = "jvm/exit", field = "hmac", interval = JavaDuration.ofSeconds(1)), token) { println("kv keyring event: ${it.name} ${it.message} ${it.fields}") },
            )
            val watchers = handles.map { h -> launch(Dispatchers.Default) { withTimeoutOrNull(60.seconds) { h.rotations.firstOrNull() } } }
            for (h in handles) check(h.ready(30.seconds)) { "${h.kind}: ${h.health()}" }
            events.join()
            handles[0].close()
            handles[1].shutdown()
            handles[2].close()
            handles[3].shutdown()
            token.close()
            watchers.forEach { it.join() } // the flows end with their handles
            check("credential_obtained" in seen) { seen }
        }
        println("outbound handles used and closed")
        System.gc()
        val left = Thread.getAllStackTraces().keys.filter { !it.isDaemon && it.isAlive }.map { it.name }.toSet() - before
        println("non-daemon threads left: $left")
    }
}
