package dev.tokenkeep

/**
 * Every failure tokenkeep reports: one type with the runtime's stable snake_case [code]
 * (the lists are in `tests/vectors/codes.json`), and one subclass per concern.
 *
 * Messages come from the runtime and never hold a token, a key or a secret.
 */
sealed class TokenkeepException(
    /** The stable code (`expired`, `invalid_url`, `internal_error`, …). */
    val code: String,
    message: String,
) : RuntimeException(message)

/**
 * The token was refused. [httpStatus] is the runtime's answer for the code:
 * 503 for `keys_unavailable` (an IdP outage is not the caller's fault), else 401.
 */
class TokenRejectedException(code: String, message: String, val httpStatus: Int) : TokenkeepException(code, message) {
    /** The code as a typed value (null only for a code newer than this jar). */
    val rejection: RejectionCode? get() = RejectionCode.of(code)
}

/** Options were refused; [path] names the field (`issuers[1].audience`), empty for the whole document. */
class ConfigException(code: String, val path: String, message: String) : TokenkeepException(code, message) {
    /** The code as a typed value. */
    val specError: SpecErrorCode? get() = SpecErrorCode.of(code)
}

/** The host surface itself: `closed`, `timeout`, or `internal_error` (a Rust panic, caught). */
class HostException(code: String, message: String) : TokenkeepException(code, message) {
    /** The code as a typed value. */
    val hostError: HostErrorCode? get() = HostErrorCode.of(code)
}

/**
 * An outbound handle has no value to give (never a stale one): `not_yet_obtained`,
 * `expired`, `fatal` or `closed`. Its health says why (`lastErrorCode`).
 */
class CredentialUnavailableException(code: String, message: String) : TokenkeepException(code, message) {
    /** The code as a typed value. */
    val credentialError: CredentialErrorCode? get() = CredentialErrorCode.of(code)
}

/** A request signature could not be made or did not verify (`bad_signature`, `key_retired`, …). */
class HmacException(code: String, message: String) : TokenkeepException(code, message) {
    /** The code as a typed value. */
    val hmacError: HmacErrorCode? get() = HmacErrorCode.of(code)
}

/** Why a token was rejected (concern `rejection`). */
enum class RejectionCode {
    MISSING_TOKEN, MALFORMED, UNSUPPORTED_ALG, ALG_NOT_ALLOWED, UNKNOWN_KID, INVALID_SIGNATURE, EXPIRED,
    NOT_YET_VALID, ISSUED_IN_FUTURE, TOO_OLD, WRONG_ISSUER, WRONG_AUDIENCE, MISSING_CLAIM, SUBJECT_NOT_ALLOWED,
    WRONG_TYPE, KEYS_UNAVAILABLE, TOKEN_TOO_LARGE;

    /** The snake_case code. */
    val code: String get() = name.lowercase()

    companion object {
        /** The constant for [code], or null. */
        @JvmStatic fun of(code: String): RejectionCode? = entries.firstOrNull { it.code == code }
    }
}

/** Why options were refused (concern `spec`). */
enum class SpecErrorCode {
    SYNTAX, UNKNOWN_FIELD, MISSING_FIELD, INVALID_TYPE, INVALID_VALUE, INVALID_DURATION, OUT_OF_RANGE, EMPTY_VALUE,
    CONFLICT, INVALID_URL, INSECURE_URL, UNKNOWN_ALGORITHM, INVALID_JWKS, INVALID_SECRET, INVALID_VAULT_PATH,
    MISSING_ADDRESS, FILE_UNREADABLE, INVALID_FILE;

    /** The snake_case code. */
    val code: String get() = name.lowercase()

    companion object {
        /** The constant for [code], or null. */
        @JvmStatic fun of(code: String): SpecErrorCode? = entries.firstOrNull { it.code == code }
    }
}

/** Errors of the host surface (concern `host`). */
enum class HostErrorCode {
    CLOSED, TIMEOUT, INTERNAL_ERROR;

    /** The snake_case code. */
    val code: String get() = name.lowercase()

    companion object {
        /** The constant for [code], or null. */
        @JvmStatic fun of(code: String): HostErrorCode? = entries.firstOrNull { it.code == code }
    }
}

/** Why an outbound handle has no value (concern `credential_error`). */
enum class CredentialErrorCode {
    NOT_YET_OBTAINED, EXPIRED, FATAL, CLOSED;

    /** The snake_case code. */
    val code: String get() = name.lowercase()

    companion object {
        /** The constant for [code], or null. */
        @JvmStatic fun of(code: String): CredentialErrorCode? = entries.firstOrNull { it.code == code }
    }
}

/** Why a request signature was not made or not accepted (concern `hmac`). */
enum class HmacErrorCode {
    NO_KEY, SECRET_TOO_SHORT, STALE_VERSION, UNKNOWN_KEY_VERSION, KEY_RETIRED, TIMESTAMP_TOO_OLD, TIMESTAMP_IN_FUTURE,
    BAD_SIGNATURE, MALFORMED_SIGNATURE, INVALID_INPUT;

    /** The snake_case code. */
    val code: String get() = name.lowercase()

    companion object {
        /** The constant for [code], or null. */
        @JvmStatic fun of(code: String): HmacErrorCode? = entries.firstOrNull { it.code == code }
    }
}

internal fun NativeException.toPublic(): TokenkeepException = when (this) {
    is NativeException.Rejected -> TokenRejectedException(code, detail, httpStatus)
    is NativeException.Config -> ConfigException(code, path, detail)
    is NativeException.Host -> HostException(code, detail)
    is NativeException.Credential -> CredentialUnavailableException(code, detail)
    is NativeException.Hmac -> HmacException(code, detail)
}

/** Runs a native call, turning its errors into the public exceptions. */
internal inline fun <T> native(block: () -> T): T = try {
    block()
} catch (e: NativeException) {
    throw e.toPublic()
} catch (e: InternalException) {
    // uniffi's own catch of a panic outside our guards: the same code.
    throw HostException(HostErrorCode.INTERNAL_ERROR.code, "a bug in tokenkeep's native code")
}
