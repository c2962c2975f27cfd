package dev.tokenkeep

/**
 * What [Verifier.authenticate] answers for one request: [Authenticated] or
 * [Denied], the runtime's answer (the same on every tokenkeep host).
 *
 * A sealed result rather than an exception: refusing a request is an HTTP
 * layer's ordinary outcome, not a failure of the call. `when` makes the caller
 * handle both (Java: `instanceof`), and a refusal costs no stack trace.
 * Failures of tokenkeep itself (`closed`, `internal_error`) still throw
 * [TokenkeepException].
 */
sealed class Authentication {
    /** The token verified and grants every required scope. */
    class Authenticated internal constructor(
        /** The verified token. */
        val token: VerifiedToken,
    ) : Authentication() {
        /** The scopes the token grants (`scope`, then `scp`, each once), as the runtime read them. */
        val scopes: Set<String> get() = token.scopes

        override fun toString(): String = "Authenticated($token)"
    }

    /** The request is refused; send [status] with [headers] (never holds the token). */
    class Denied internal constructor(
        /** 401 (no token or a rejected one), 403 (missing scopes) or 503 (no usable keys). */
        val status: Int,
        /** The rejection code (`missing_token`, `expired`, …) or a denial code (`insufficient_scope`; both lists in tests/vectors/codes.json). */
        val error: String,
        /** The `WWW-Authenticate` challenge (RFC 6750), for 401 and 403. */
        val wwwAuthenticate: String?,
        /** Seconds for `Retry-After`, for 503. */
        val retryAfter: Int?,
    ) : Authentication() {
        /** `WWW-Authenticate` and `Retry-After`, as present. */
        val headers: Map<String, String>
            get() = buildMap {
                wwwAuthenticate?.let { put("WWW-Authenticate", it) }
                retryAfter?.let { put("Retry-After", it.toString()) }
            }

        override fun toString(): String = "Denied(status=$status, error=$error)"
    }

    internal companion object {
        fun of(answer: NativeAuthentication): Authentication = when (answer) {
            is NativeAuthentication.Authenticated -> Authenticated(answer.token.use { VerifiedToken.of(it) })
            is NativeAuthentication.Denied ->
                Denied(answer.status, answer.error, answer.wwwAuthenticate, answer.retryAfter)
        }
    }
}
