package dev.tokenkeep.example

import dev.tokenkeep.TokenRejectedException
import dev.tokenkeep.VerifiedToken
import dev.tokenkeep.Verifier
import io.ktor.http.ContentType
import io.ktor.http.HttpHeaders
import io.ktor.http.HttpStatusCode
import io.ktor.server.application.ApplicationCall
import io.ktor.server.application.createRouteScopedPlugin
import io.ktor.server.response.respondText
import io.ktor.util.AttributeKey

/** What [TokenGuard] needs: the verifier, the scopes a route demands, the realm it names. */
class TokenGuardConfig {
    lateinit var verifier: Verifier
    var requiredScopes: Set<String> = emptySet()
    var realm: String = "api"
}

private val VerifiedTokenKey = AttributeKey<VerifiedToken>("tokenkeep.verified")

/** The token that passed [TokenGuard] on this call. */
val ApplicationCall.verifiedToken: VerifiedToken get() = attributes[VerifiedTokenKey]

/**
 * Guards the routes it is installed on: a Bearer token verified by tokenkeep.
 * The status is the runtime's (`TokenRejectedException.httpStatus`: 401, or 503
 * when keys are unavailable, which is the IdP's outage and not the caller's
 * fault); 401 carries `WWW-Authenticate` (RFC 6750). 403 `insufficient_scope`
 * when the token lacks a required scope.
 */
val TokenGuard = createRouteScopedPlugin("TokenGuard", ::TokenGuardConfig) {
    val verifier = pluginConfig.verifier
    val required = pluginConfig.requiredScopes
    val realm = pluginConfig.realm
    onCall { call ->
        val header = call.request.headers[HttpHeaders.Authorization].orEmpty()
        // The runtime answers an absent token with `missing_token`.
        val token = if (header.startsWith("Bearer ", ignoreCase = true)) header.substring(7).trim() else ""
        val verified = try {
            verifier.verify(token)
        } catch (e: TokenRejectedException) {
            if (e.httpStatus == 401) {
                val error = if (e.code == "missing_token") "" else ", error=\"invalid_token\", error_description=\"${e.code}\""
                call.response.headers.append(HttpHeaders.WWWAuthenticate, "Bearer realm=\"$realm\"$error")
            }
            call.respondError(HttpStatusCode.fromValue(e.httpStatus), e.code)
            return@onCall
        }
        val missing = required - verified.scopes
        if (missing.isNotEmpty()) {
            call.response.headers.append(
                HttpHeaders.WWWAuthenticate,
                "Bearer realm=\"$realm\", error=\"insufficient_scope\", scope=\"${required.joinToString(" ")}\"",
            )
            call.respondError(HttpStatusCode.Forbidden, "insufficient_scope")
            return@onCall
        }
        call.attributes.put(VerifiedTokenKey, verified)
    }
}

private suspend fun ApplicationCall.respondError(status: HttpStatusCode, code: String) =
    respondText("""{"error":"$code"}""", ContentType.Application.Json, status)
