package dev.tokenkeep.example

import dev.tokenkeep.Verifier
import dev.tokenkeep.VerifierOptions
import io.ktor.server.application.Application
import io.ktor.server.application.install
import io.ktor.server.engine.embeddedServer
import io.ktor.server.netty.Netty
import io.ktor.server.response.respondText
import io.ktor.server.routing.get
import io.ktor.server.routing.route
import io.ktor.server.routing.routing

/** The example service: `/public` for everyone, `/orders` for tokens with the `orders:read` scope. */
fun Application.ordersService(verifier: Verifier) {
    routing {
        get("/public") { call.respondText("hello") }
        route("/orders") {
            install(TokenGuard) {
                this.verifier = verifier
                requiredScopes = setOf("orders:read")
            }
            get { call.respondText("orders of ${call.verifiedToken.subject}") }
        }
    }
}

/** `ISSUER=https://idp.example AUDIENCE=api java -jar ...`: keys by OIDC discovery, refreshed in the background. */
fun main() {
    val verifier = Verifier(VerifierOptions.discovery(System.getenv("ISSUER"), System.getenv("AUDIENCE") ?: "api"))
    verifier.readyBlocking(java.time.Duration.ofSeconds(10))
    val port = System.getenv("PORT")?.toInt() ?: 8080
    embeddedServer(Netty, port = port, host = "127.0.0.1") { ordersService(verifier) }.start(wait = true)
    verifier.close()
}
