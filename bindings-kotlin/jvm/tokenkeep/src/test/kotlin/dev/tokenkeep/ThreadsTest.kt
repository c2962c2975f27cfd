package dev.tokenkeep

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.file.Paths
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * A program that uses every threaded part (async verify, a refetch on an unknown
 * kid, events, the rotations flow) and then closes: its JVM must exit on its own.
 */
object ThreadExitProgram {
    @JvmStatic
    fun main(args: Array<String>) {
        val before = Thread.getAllStackTraces().keys.filter { !it.isDaemon }.map { it.name }.toSet()
        DevIssuer("--jwks-max-age", "60s").use { issuer ->
            runBlocking {
                Verifier(VerifierOptions.discovery(issuer.issuer, "api")).use { v ->
                    v.addEventListener { }
                    check(v.ready(10.seconds))
                    val watcher = launch(Dispatchers.Default) { withTimeoutOrNull(30.seconds) { v.rotations.first() } }
                    v.verify(issuer.mint("exit", "api"))
                    issuer.rotate()
                    v.verify(issuer.mint("exit", "api")) // new kid: one refetch, woken from a native thread
                    watcher.join()
                    withTimeoutOrNull(200.milliseconds) { v.events.first() }
                }
            }
        }
        // Give the JVM a moment to retire threads that ended, then list what is left.
        System.gc()
        val left = Thread.getAllStackTraces().keys.filter { !it.isDaemon && it.isAlive }.map { it.name }.toSet() - before
        println("non-daemon threads left: $left")
    }
}

class ThreadsTest {
    @Test
    fun theJvmExitsAfterClose() {
        val java = Paths.get(System.getProperty("java.home"), "bin", "java").toString()
        val process = ProcessBuilder(
            java, "-Dtokenkeep.root=${Workspace.root}", "-cp", System.getProperty("java.class.path"),
            ThreadExitProgram::class.java.name,
        )
            .redirectErrorStream(true)
            .apply { environment()["TOKENKEEP_BIN"] = Workspace.tokenkeepBin.toString() }
            .start()
        val output = StringBuilder()
        val reader = Thread { process.inputStream.bufferedReader().forEachLine { output.appendLine(it) } }.apply { start() }
        // A hang guard, not a timing check: a JVM kept alive by a thread never exits.
        val exited = process.waitFor(120, TimeUnit.SECONDS)
        if (!exited) process.destroyForcibly()
        reader.join()
        assertTrue(exited, "the JVM did not exit after close():\n$output")
        assertEquals(0, process.exitValue(), output.toString())
        assertTrue(output.contains("non-daemon threads left: []"), output.toString())
    }
}
