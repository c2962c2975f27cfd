package dev.tokenkeep

import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonArray
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put
import java.time.Duration

/*
 * The options spec as Kotlin data classes. They only carry values: each one is
 * serialized to the spec's JSON and parsed and validated by the runtime
 * (`tokenkeep::spec`), which names the field at fault in a ConfigException.
 * Null means "not given" (the runtime's default).
 */

/**
 * A verifier's options: one issuer inline, or several under [issuers]. Keys come
 * from [jwks] (static), else [jwksUrl], else OIDC discovery at the first issuer.
 */
data class VerifierOptions @JvmOverloads constructor(
    val issuer: List<String>? = null,
    val audience: List<String>? = null,
    val jwksUrl: String? = null,
    /** A JWKS document as JSON text (public keys). */
    val jwks: String? = null,
    val hmacKeys: List<HmacKey>? = null,
    val algorithms: List<String>? = null,
    val leeway: Duration? = null,
    val spiffeTrustDomain: List<String>? = null,
    val policy: PolicyOptions? = null,
    val cache: CacheOptions? = null,
    val http: HttpOptions? = null,
    val dangerousAllowHttp: Boolean = false,
    val issuers: List<VerifierOptions>? = null,
) {
    /** The spec's JSON text. */
    fun toJson(): String = toJsonObject().toString()

    internal fun toJsonObject(): JsonObject = buildJsonObject {
        strings("issuer", issuer)
        strings("audience", audience)
        jwksUrl?.let { put("jwks_url", it) }
        jwks?.let { put("jwks", it) }
        hmacKeys?.let { keys -> put("hmac_keys", buildJsonArray { keys.forEach { add(it.toJsonObject()) } }) }
        strings("algorithms", algorithms)
        seconds("leeway", leeway)
        strings("spiffe_trust_domain", spiffeTrustDomain)
        policy?.let { put("policy", it.toJsonObject()) }
        cache?.let { put("cache", it.toJsonObject()) }
        http?.let { put("http", it.toJsonObject()) }
        if (dangerousAllowHttp) put("dangerous_allow_http", true)
        issuers?.let { list -> put("issuers", buildJsonArray { list.forEach { add(it.toJsonObject()) } }) }
    }

    companion object {
        /** Tokens from [issuer] for [audience], keys from its OIDC discovery document. */
        @JvmStatic
        fun discovery(issuer: String, audience: String): VerifierOptions =
            VerifierOptions(issuer = listOf(issuer), audience = listOf(audience))
    }
}

/** An HMAC secret given explicitly (HS* are never trusted from a JWKS). Its [toString] hides [k]. */
class HmacKey @JvmOverloads constructor(
    val alg: String,
    /** The secret, base64url without padding (RFC 7518 `k`). */
    val k: String,
    val kid: String? = null,
) {
    internal fun toJsonObject(): JsonObject = buildJsonObject {
        put("kty", "oct")
        kid?.let { put("kid", it) }
        put("alg", alg)
        put("k", k)
    }

    override fun toString(): String = "HmacKey(alg=$alg, kid=$kid, k=<redacted>)"
    override fun equals(other: Any?): Boolean = other is HmacKey && other.alg == alg && other.k == k && other.kid == kid
    override fun hashCode(): Int = listOf(alg, k, kid).hashCode()
}

/** The rest of the policy, in the shared test vectors' form. */
data class PolicyOptions @JvmOverloads constructor(
    val issuers: List<String>? = null,
    val audiences: List<String>? = null,
    val leewaySecs: Long? = null,
    val requiredClaims: List<String>? = null,
    val algorithms: List<String>? = null,
    val typ: String? = null,
    val maxAgeSecs: Long? = null,
    val subjects: List<String>? = null,
    val subjectPrefix: String? = null,
    val spiffe: SpiffeOptions? = null,
    val maxTokenBytes: Long? = null,
) {
    internal fun toJsonObject(): JsonObject = buildJsonObject {
        strings("issuers", issuers)
        strings("audiences", audiences)
        leewaySecs?.let { put("leeway_secs", it) }
        strings("required_claims", requiredClaims)
        strings("algorithms", algorithms)
        typ?.let { put("typ", it) }
        maxAgeSecs?.let { put("max_age_secs", it) }
        strings("subjects", subjects)
        subjectPrefix?.let { put("subject_prefix", it) }
        spiffe?.let { s ->
            put("spiffe", buildJsonObject {
                strings("trust_domains", s.trustDomains)
                strings("allowed_ids", s.allowedIds)
                strings("path_prefixes", s.pathPrefixes)
            })
        }
        maxTokenBytes?.let { put("max_token_bytes", it) }
    }
}

/** SPIFFE JWT-SVID rules. */
data class SpiffeOptions @JvmOverloads constructor(
    val trustDomains: List<String>,
    val allowedIds: List<String>? = null,
    val pathPrefixes: List<String>? = null,
)

/** Key cache tunables; [verifiedTokens] sizes the verified-token cache (0 turns it off). */
data class CacheOptions @JvmOverloads constructor(
    val ttl: Duration? = null,
    val minTtl: Duration? = null,
    val maxTtl: Duration? = null,
    val refreshAhead: Double? = null,
    val staleIfError: Duration? = null,
    val missCooldown: Duration? = null,
    val requestTimeout: Duration? = null,
    val negativeKidTtl: Duration? = null,
    val verifiedTokens: Int? = null,
) {
    internal fun toJsonObject(): JsonObject = buildJsonObject {
        seconds("ttl", ttl)
        seconds("min_ttl", minTtl)
        seconds("max_ttl", maxTtl)
        refreshAhead?.let { put("refresh_ahead", it) }
        seconds("stale_if_error", staleIfError)
        seconds("miss_cooldown", missCooldown)
        seconds("request_timeout", requestTimeout)
        seconds("negative_kid_ttl", negativeKidTtl)
        verifiedTokens?.let { put("verified_tokens", it) }
    }
}

/** Transport options for key fetches. [headers] values are treated as secrets ([toString] hides them). */
data class HttpOptions @JvmOverloads constructor(
    val caFile: String? = null,
    val bearerTokenFile: String? = null,
    val resolve: Map<String, String>? = null,
    val headers: Map<String, String>? = null,
    val timeout: Duration? = null,
    val dangerousAcceptInvalidCerts: Boolean = false,
) {
    internal fun toJsonObject(): JsonObject = buildJsonObject {
        caFile?.let { put("ca_file", it) }
        bearerTokenFile?.let { put("bearer_token_file", it) }
        resolve?.let { m -> put("resolve", JsonObject(m.mapValues { JsonPrimitive(it.value) })) }
        headers?.let { m -> put("headers", JsonObject(m.mapValues { JsonPrimitive(it.value) })) }
        seconds("timeout", timeout)
        if (dangerousAcceptInvalidCerts) put("dangerous_accept_invalid_certs", true)
    }

    override fun toString(): String =
        "HttpOptions(caFile=$caFile, bearerTokenFile=$bearerTokenFile, resolve=$resolve, " +
            "headers=${headers?.keys?.associateWith { "<redacted>" }}, timeout=$timeout, " +
            "dangerousAcceptInvalidCerts=$dangerousAcceptInvalidCerts)"
}

internal fun kotlinx.serialization.json.JsonObjectBuilder.strings(name: String, values: List<String>?) {
    values?.let { list -> put(name, buildJsonArray { list.forEach { add(JsonPrimitive(it)) } } as JsonElement) }
}

internal fun kotlinx.serialization.json.JsonObjectBuilder.seconds(name: String, value: Duration?) {
    value?.let { put(name, it.toNanos() / 1e9) }
}
