package dev.tokenkeep

import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.time.Instant

/**
 * The JNI fast path of verifyBlocking/verifyCached (FastPath.kt, fast.rs): it
 * is bound in the library JNA loaded, and it answers every shared vector as
 * the uniffi path (the suspend verify) does, values and codes alike.
 */
class FastPathTest {
    @Test
    fun boundToTheLibraryUniffiLoaded() {
        assertTrue(FastPath.available, "System.load of JNA's tokenkeep library failed: every call would take the uniffi path")
    }

    @Test
    fun answersEveryVectorAsTheUniffiPath() {
        for ((file, v) in Workspace.vectors()) {
            val name = "$file/${v["name"]!!.jsonPrimitive.content}"
            val spec = Workspace.vectorOptions(v)
            val now = Instant.ofEpochSecond(v["now"]!!.jsonPrimitive.long)
            val token = v["token"]!!.jsonPrimitive.content
            Verifier(spec).use { verifier ->
                val viaUniffi = runCatching { runBlocking { verifier.verify(token, now) } }
                for (fast in listOf(runCatching { verifier.verifyBlocking(token, now) }, runCatching { verifier.verifyCached(token, now) })) {
                    assertEquals(viaUniffi.isSuccess, fast.isSuccess, name)
                    if (fast.isSuccess) {
                        val a = viaUniffi.getOrThrow()
                        val b = fast.getOrThrow()
                        assertEquals(listOf(a.issuer, a.subject, a.alg, a.kid, a.typ, a.claims), listOf(b.issuer, b.subject, b.alg, b.kid, b.typ, b.claims), name)
                    } else {
                        val a = viaUniffi.exceptionOrNull() as TokenRejectedException
                        val b = fast.exceptionOrNull() as TokenRejectedException
                        assertEquals(listOf(a.code, a.message, a.httpStatus), listOf(b.code, b.message, b.httpStatus), name)
                    }
                }
            }
        }
    }

    @Test
    fun aPanicArrivesAsInternalError() {
        val e = assertThrows<HostException> { FastPath.lift(FastPath.debugPanicForTests()) }
        assertEquals(HostErrorCode.INTERNAL_ERROR.code, e.code)
    }

    @Test
    fun verifyingAfterCloseUsesTheKeysAtHand() {
        val v = Workspace.vectors().first { (_, v) -> v["expect"]!!.jsonObject["code"] == null }.second
        val spec = Workspace.vectorOptions(v)
        val verifier = Verifier(spec)
        verifier.close()
        val token = verifier.verifyBlocking(v["token"]!!.jsonPrimitive.content, Instant.ofEpochSecond(v["now"]!!.jsonPrimitive.long))
        assertEquals(v["expect"]!!.jsonObject["header"]!!.jsonObject["alg"]!!.jsonPrimitive.content, token.alg)
    }
}
