package dev.tokenkeep.example

import dev.tokenkeep.Authentication
import dev.tokenkeep.VerifiedToken
import dev.tokenkeep.Verifier
import io.ktor.http.ContentType
import io.ktor.http.HttpHeaders
import io.ktor.http.HttpStatusCode
import io.ktor.server.application.ApplicationCall
import io.ktor.server.application.createRouteScopedPlugin
import io.ktor.server.response.respondText
import io.ktor.util.AttributeKey

/** What [TokenGuard] needs: the verifier, the scopes a route demands (in this order in a 403's challenge), the realm it names. */
class TokenGuardConfig {
    lateinit var verifier: Verifier
    var requiredScopes: Set<String> = emptySet()
    var realm: String? = "api"
}

private val VerifiedTokenKey = AttributeKey<VerifiedToken>("tokenkeep.verified")

/** The token that passed [TokenGuard] on this call. */
val ApplicationCall.verifiedToken: VerifiedToken get() = attributes[VerifiedTokenKey]

/**
 * Guards the routes it is installed on: one [Verifier.authenticate] call per
 * request, whose answer is the runtime's (RFC 6750, the same as every other
 * tokenkeep host): 401 with `WWW-Authenticate` for a missing or rejected
 * token, 403 `insufficient_scope` for missing scopes, 503 with `Retry-After`
 * when no keys are usable (the IdP's outage, not the caller's fault).
 */
val TokenGuard = createRouteScopedPlugin("TokenGuard", ::TokenGuardConfig) {
    val verifier = pluginConfig.verifier
    val required = pluginConfig.requiredScopes.toList()
    val realm = pluginConfig.realm
    onCall { call ->
        when (val answer = verifier.authenticate(call.request.headers[HttpHeaders.Authorization], required, realm)) {
            is Authentication.Authenticated -> call.attributes.put(VerifiedTokenKey, answer.token)
            is Authentication.Denied -> {
                answer.headers.forEach { (name, value) -> call.response.headers.append(name, value) }
                call.respondText("""{"error":"${answer.error}"}""", ContentType.Application.Json, HttpStatusCode.fromValue(answer.status))
            }
        }
    }
}
