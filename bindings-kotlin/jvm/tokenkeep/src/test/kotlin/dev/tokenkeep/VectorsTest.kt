package dev.tokenkeep

import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.assertThrows
import java.time.Instant

/** Every shared vector of tests/vectors, through the options spec and verifyBlocking. */
class VectorsTest {
    @TestFactory
    fun everySharedVector(): List<DynamicTest> = Workspace.vectors().map { (file, v) ->
        val name = v["name"]!!.jsonPrimitive.content
        DynamicTest.dynamicTest("$file/$name") {
            val spec = Workspace.vectorOptions(v)
            val now = Instant.ofEpochSecond(v["now"]!!.jsonPrimitive.long)
            val token = v["token"]!!.jsonPrimitive.content
            val expect = v["expect"]!!.jsonObject
            Verifier(spec).use { verifier ->
                val code = expect["code"]?.jsonPrimitive?.content
                if (code != null) {
                    val e = assertThrows<TokenRejectedException>("$name: want $code") { verifier.verifyBlocking(token, now) }
                    assertEquals(code, e.code, "$name: ${e.message}")
                    assertEquals(if (code == "keys_unavailable") 503 else 401, e.httpStatus)
                    assertEquals(code, e.rejection?.code)
                } else {
                    val verified = verifier.verifyBlocking(token, now)
                    assertEquals(expect["claims"]!!.jsonObject, verified.claims, name)
                    val header = expect["header"]!!.jsonObject
                    assertEquals(header["alg"]!!.jsonPrimitive.content, verified.alg, name)
                    assertEquals(header["kid"]?.takeIf { it != JsonNull }?.jsonPrimitive?.content, verified.kid, name)
                    assertEquals(header["typ"]?.takeIf { it != JsonNull }?.jsonPrimitive?.content, verified.typ, name)
                }
            }
        }
    }

    @Test
    fun everyRejectionCodeIsCovered() {
        val covered = Workspace.vectors().mapNotNull { (_, v) -> v["expect"]!!.jsonObject["code"]?.jsonPrimitive?.content }.toSet()
        assertTrue(covered.containsAll(Workspace.codes("rejection")), "vectors miss ${Workspace.codes("rejection") - covered}")
    }
}
