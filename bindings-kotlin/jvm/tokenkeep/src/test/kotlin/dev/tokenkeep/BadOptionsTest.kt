package dev.tokenkeep

import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.assertThrows

/** The shared refused documents (tests/vectors/bad_options.json): the field path and code reach Kotlin as they are. */
class BadOptionsTest {
    @TestFactory
    fun everyBadOptionsDocument(): List<DynamicTest> =
        Workspace.json("tests/vectors/bad_options.json")["cases"]!!.jsonArray.map { it.jsonObject }.map { case ->
            DynamicTest.dynamicTest(case["name"]!!.jsonPrimitive.content) {
                val e = assertThrows<ConfigException> { Verifier(case["options"]!!.toString()).close() }
                assertEquals(case["code"]!!.jsonPrimitive.content, e.code, e.message)
                assertEquals(case["path"]!!.jsonPrimitive.content, e.path, e.message)
            }
        }
}
