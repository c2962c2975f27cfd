package dev.tokenkeep

import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put
import java.time.Duration

/*
 * The outbound handles' options (the spec's VaultTokenSpec, VaultSecretSpec,
 * VaultLeaseSpec, FileTokenSpec, HmacKeyringSpec) as Kotlin data classes, like
 * VerifierOptions: they only carry values, serialized to the spec's JSON and
 * validated by the runtime (a ConfigException names the field). Null means
 * "not given" (the runtime's default, or the environment: VAULT_ADDR, …).
 */

/** A Vault/OpenBao token obtained by JWT login at `auth/<authMount>/login` as [role]. */
data class VaultTokenOptions @JvmOverloads constructor(
    val role: String? = null,
    /** `http(s)://host:port` (else `VAULT_ADDR`, then `BAO_ADDR`). */
    val addr: String? = null,
    val namespace: String? = null,
    val caFile: String? = null,
    /** Mount of the JWT auth method (`jwt`). */
    val authMount: String? = null,
    /** The file holding the JWT, read anew before every login. */
    val jwtFile: String? = null,
    /** Revoke the token (`revoke-self`) on close. */
    val revokeOnClose: Boolean = false,
    val requestTimeout: Duration? = null,
    val maxBackoff: Duration? = null,
    val dangerousAllowHttp: Boolean = false,
) {
    /** The spec's JSON text. */
    fun toJson(): String = toJsonObject().toString()

    internal fun toJsonObject(): JsonObject = buildJsonObject {
        role?.let { put("role", it) }
        addr?.let { put("addr", it) }
        namespace?.let { put("namespace", it) }
        caFile?.let { put("ca_file", it) }
        authMount?.let { put("auth_mount", it) }
        jwtFile?.let { put("jwt_file", it) }
        if (revokeOnClose) put("revoke_on_close", true)
        seconds("request_timeout", requestTimeout)
        seconds("max_backoff", maxBackoff)
        if (dangerousAllowHttp) put("dangerous_allow_http", true)
    }
}

/** A KV v2 secret at [mount]/[path], polled every [interval]; the replaced version stays for [grace]. */
data class VaultSecretOptions @JvmOverloads constructor(
    val mount: String? = null,
    val path: String? = null,
    val interval: Duration? = null,
    val grace: Duration? = null,
) {
    /** The spec's JSON text. */
    fun toJson(): String = buildJsonObject {
        mount?.let { put("mount", it) }
        path?.let { put("path", it) }
        seconds("interval", interval)
        seconds("grace", grace)
    }.toString()
}

/** A dynamic credential at [path] (`database/creds/<role>`); revoked on close unless [revokeOnClose] is false. */
data class VaultLeaseOptions @JvmOverloads constructor(
    val path: String? = null,
    val grace: Duration? = null,
    val revokeOnClose: Boolean? = null,
) {
    /** The spec's JSON text. */
    fun toJson(): String = buildJsonObject {
        path?.let { put("path", it) }
        seconds("grace", grace)
        revokeOnClose?.let { put("revoke_on_close", it) }
    }.toString()
}

/** A rotating token file at [path], its metadata compared every [changePoll]. */
data class FileTokenOptions @JvmOverloads constructor(
    val path: String? = null,
    val changePoll: Duration? = null,
) {
    /** The spec's JSON text. */
    fun toJson(): String = buildJsonObject {
        path?.let { put("path", it) }
        seconds("change_poll", changePoll)
    }.toString()
}

/**
 * An HMAC keyring whose secret is the string [field] of the KV v2 secret
 * [mount]/[path] (read with a [VaultToken]), or the contents of [file].
 */
data class HmacKeyringOptions @JvmOverloads constructor(
    val mount: String? = null,
    val path: String? = null,
    val field: String? = null,
    val interval: Duration? = null,
    val file: String? = null,
    val changePoll: Duration? = null,
    /** How long the previous secret still verifies after a rotation. */
    val grace: Duration? = null,
    val maxAge: Duration? = null,
    val maxFuture: Duration? = null,
) {
    /** The spec's JSON text. */
    fun toJson(): String = buildJsonObject {
        mount?.let { put("mount", it) }
        path?.let { put("path", it) }
        field?.let { put("field", it) }
        seconds("interval", interval)
        file?.let { put("file", it) }
        seconds("change_poll", changePoll)
        seconds("grace", grace)
        seconds("max_age", maxAge)
        seconds("max_future", maxFuture)
    }.toString()
}
