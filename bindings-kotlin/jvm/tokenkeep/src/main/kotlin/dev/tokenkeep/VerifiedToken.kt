package dev.tokenkeep

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive

/**
 * A token that verified: the runtime's values, read in one native call (a
 * verified-token cache hit shares the claims' JSON the runtime built once).
 * [toString] shows no claim values.
 */
class VerifiedToken internal constructor(
    /** The issuer entry (its first issuer) that verified the token. */
    val issuer: String,
    /** `sub`, when it is a string. */
    val subject: String?,
    /** The header's algorithm (`RS256`, `ES256`, `EdDSA`, …). */
    val alg: String,
    /** The header's `kid`. */
    val kid: String?,
    /** The header's `typ`. */
    val typ: String?,
    /** Every claim as one JSON object's text (for Jackson, Gson, …). */
    val claimsJson: String,
    /** The granted scopes as the runtime gives them: one JSON array of strings. */
    private val scopesJson: String,
) {
    internal companion object {
        /** The uniffi path's token, its values in one crossing. */
        fun of(handle: NativeVerifiedToken): VerifiedToken = FastPath.lift(handle.fields().toTypedArray())
    }

    /** Every claim. */
    val claims: JsonObject by lazy { Json.parseToJsonElement(claimsJson).jsonObject }

    /** One claim, or null. */
    fun claim(name: String): JsonElement? = claims[name]

    /** One claim when it is a string, or null. */
    fun claimString(name: String): String? = (claims[name] as? JsonPrimitive)?.takeIf { it.isString }?.content

    /**
     * The OAuth scopes granted, in order, each once: `scope` (space-separated,
     * RFC 8693/9068), then `scp` (a list or a string, as Entra ID and Okta write
     * it), as the runtime reads them (the same on every host). What a framework
     * layer checks a route's required scopes against; [Verifier.authenticate]
     * does that check in the runtime.
     */
    val scopes: Set<String> by lazy {
        Json.parseToJsonElement(scopesJson).jsonArray.mapTo(LinkedHashSet()) { it.jsonPrimitive.content }
    }

    override fun toString(): String = "VerifiedToken(issuer=$issuer, subject=$subject, alg=$alg, kid=$kid)"
}
