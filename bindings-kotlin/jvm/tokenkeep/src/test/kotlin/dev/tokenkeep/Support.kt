package dev.tokenkeep

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put
import java.io.BufferedReader
import java.io.InputStreamReader
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.TimeUnit

/** The workspace the suite runs in (tests/vectors, the tokenkeep binary). */
object Workspace {
    val root: Path = Paths.get(System.getProperty("tokenkeep.root") ?: "../../..").toAbsolutePath().normalize()

    /** `$TOKENKEEP_BIN`, else `target/debug/tokenkeep` (built by `cargo build -p tokenkeep-cli`). */
    val tokenkeepBin: Path = System.getenv("TOKENKEEP_BIN")?.let { Paths.get(it) }
        ?: root.resolve("target/debug/tokenkeep")

    fun json(relative: String): JsonObject = Json.parseToJsonElement(Files.readString(root.resolve(relative))).jsonObject

    /** Every shared vector with the file it came from. */
    fun vectors(): List<Pair<String, JsonObject>> =
        listOf("valid", "rejections", "attacks", "keysets", "spiffe").flatMap { file ->
            json("tests/vectors/$file.json")["vectors"]!!.jsonArray.map { file to it.jsonObject }
        }

    /** A vector's verifier options (its keys and policy) as the spec's JSON text. */
    fun vectorOptions(v: JsonObject): String = buildJsonObject {
        put("jwks", v["jwks"]!!)
        v["hmac_keys"]?.let { put("hmac_keys", it) }
        put("policy", v["policy"]!!)
    }.toString()

    /** `concerns.<name>.codes` of tests/vectors/codes.json. */
    fun codes(concern: String): List<String> =
        json("tests/vectors/codes.json")["concerns"]!!.jsonObject[concern]!!.jsonObject["codes"]!!.jsonArray
            .map { it.jsonPrimitive.content }
}

/** Everything secret a test handed out, so a suite-wide check can search output for it. */
object IssuedSecrets {
    val all = ConcurrentLinkedQueue<String>()
    fun <T : String> remember(secret: T): T = secret.also { all.add(it) }

    /** What tokenkeep showed in tests other than SecretsTest (toString, health, events, error messages). */
    val shown = ConcurrentLinkedQueue<String>()
    fun show(vararg things: Any?) {
        things.forEach { shown.add(it.toString()); if (it is Throwable) shown.add(it.message.toString()) }
    }

    /** Fails when any remembered secret (or a token's signature part) appears in [text]. */
    fun assertNoneIn(text: String) {
        for (secret in all) {
            val line = text.lines().firstOrNull { it.contains(secret) }?.replace(secret, "<SECRET>")
            check(line == null) { "a secret appeared in what tokenkeep showed: $line" }
            // Tokens: not even their signature part.
            secret.split('.').getOrNull(2)?.takeIf { it.length > 16 }?.let { check(!text.contains(it)) { "a signature appeared" } }
        }
    }
}

/**
 * `tokenkeep dev-issuer`: the project's real OIDC/JWKS issuer on 127.0.0.1,
 * in a child process stopped by [close].
 */
class DevIssuer(vararg args: String) : AutoCloseable {
    private val process: Process = ProcessBuilder(
        listOf(Workspace.tokenkeepBin.toString(), "--json", "dev-issuer") + args,
    ).redirectError(ProcessBuilder.Redirect.INHERIT).start()
    private val announced: JsonObject
    private val http: HttpClient = HttpClient.newHttpClient()

    init {
        val line = BufferedReader(InputStreamReader(process.inputStream)).readLine()
            ?: error("dev-issuer exited without announcing itself (${Workspace.tokenkeepBin})")
        announced = Json.parseToJsonElement(line).jsonObject
    }

    val issuer: String get() = announced["issuer"]!!.jsonPrimitive.content
    val jwksUri: String get() = announced["jwks_uri"]!!.jsonPrimitive.content
    private val tokenEndpoint: String get() = announced["token_endpoint"]!!.jsonPrimitive.content

    /** The issuer's base URL (its endpoints hang off it). */
    private fun endpoint(path: String): String = tokenEndpoint.removeSuffix("/token") + path

    private fun post(url: String, body: String): JsonElement {
        val request = HttpRequest.newBuilder(URI.create(url))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)).build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == 200) { "$url answered ${response.statusCode()}" }
        return if (response.body().isBlank()) JsonObject(emptyMap()) else Json.parseToJsonElement(response.body())
    }

    /** A token with [claims] (iss, iat and exp filled in by the issuer). */
    fun mint(claims: JsonObject, alg: String = "ES256", ttl: Long = 600): String {
        val body = buildJsonObject {
            put("claims", claims)
            put("alg", alg)
            put("ttl", ttl)
        }
        return IssuedSecrets.remember(post(tokenEndpoint, body.toString()).jsonObject["token"]!!.jsonPrimitive.content)
    }

    fun mint(sub: String, aud: String, alg: String = "ES256", extra: Map<String, String> = emptyMap()): String =
        mint(buildJsonObject {
            put("sub", sub)
            put("aud", aud)
            extra.forEach { (k, v) -> put(k, v) }
        }, alg)

    fun rotate() {
        post(endpoint("/rotate"), "{}")
    }

    fun outage(seconds: Int, mode: String = "503") {
        post(endpoint("/outage"), """{"seconds": $seconds, "mode": "$mode"}""")
    }

    fun stats(): JsonObject {
        val response = http.send(
            HttpRequest.newBuilder(URI.create(endpoint("/stats"))).GET().build(),
            HttpResponse.BodyHandlers.ofString(),
        )
        return Json.parseToJsonElement(response.body()).jsonObject
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}

/**
 * `tokenkeep dev-stack --postgres`: a dev issuer, a real OpenBao whose JWT auth
 * trusts it (role, KV v2) and a real PostgreSQL behind OpenBao's database
 * engine, in a child process that stops when its stdin closes ([close]).
 */
class DevStack(vararg args: String) : AutoCloseable {
    private val log: Path = Files.createTempFile("tokenkeep-dev-stack", ".log")
    private val process: Process = ProcessBuilder(
        listOf(Workspace.tokenkeepBin.toString(), "--json", "dev-stack", "--stop-on-stdin-eof") + args,
    ).redirectError(log.toFile()).apply {
        // The launcher looks for `bao` in the virtualenv of the checkout it was
        // built in (scripts/openbao.sh); name this workspace's when it has one.
        val bao = Workspace.root.resolve(".venv/bin/bao")
        if (System.getenv("TOKENKEEP_BAO") == null && Files.isExecutable(bao)) environment()["TOKENKEEP_BAO"] = bao.toString()
    }.start()
    private val http: HttpClient = HttpClient.newHttpClient()
    private val announced: JsonObject

    init {
        val stdout = BufferedReader(InputStreamReader(process.inputStream))
        val line = stdout.readLine()
            ?: error("dev-stack did not start (exit ${process.waitFor()}): ${Files.readString(log)}")
        announced = runCatching { Json.parseToJsonElement(line).jsonObject }.getOrElse {
            error("dev-stack did not start: ${line + stdout.readText()}\n${Files.readString(log)}")
        }
        IssuedSecrets.remember(openbao("root_token"))
        postgres?.let { IssuedSecrets.remember(it["admin_password"]!!.jsonPrimitive.content) }
    }

    fun openbao(key: String): String = announced["openbao"]!!.jsonObject[key]!!.jsonPrimitive.content
    private fun issuer(key: String): String = announced["issuer"]!!.jsonObject[key]!!.jsonPrimitive.content
    val postgres: JsonObject? get() = announced["postgres"]?.jsonObject
    fun postgres(key: String): String = postgres!![key]!!.jsonPrimitive.content

    /** A JWT the OpenBao role accepts (its subject and audience), valid [ttl] seconds. */
    fun loginJwt(ttl: Long = 600): String {
        val body = buildJsonObject {
            put("claims", buildJsonObject {
                put("iss", issuer("url"))
                put("sub", openbao("jwt_subject"))
                put("aud", openbao("jwt_audience"))
            })
            put("ttl", ttl)
        }
        val response = bao("POST", issuer("token_url"), body.toString(), token = null, absolute = true)
        check(response.statusCode() == 200) { "the dev issuer answered ${response.statusCode()}" }
        return IssuedSecrets.remember(Json.parseToJsonElement(response.body()).jsonObject["token"]!!.jsonPrimitive.content)
    }

    /** A request to OpenBao's HTTP API at `/v1/[path]` (the root token unless [token] is given). */
    fun bao(method: String, path: String, body: String? = null, token: String? = openbao("root_token"), absolute: Boolean = false): HttpResponse<String> {
        val url = if (absolute) path else "${openbao("addr")}/v1/$path"
        val request = HttpRequest.newBuilder(URI.create(url))
            .apply { token?.let { header("X-Vault-Token", it) } }
            .header("content-type", "application/json")
            .method(method, body?.let { HttpRequest.BodyPublishers.ofString(it) } ?: HttpRequest.BodyPublishers.noBody())
            .build()
        return http.send(request, HttpResponse.BodyHandlers.ofString())
    }

    /** Writes a KV v2 secret (root token); its new version. */
    fun putKv(path: String, data: Map<String, String>): Long {
        val body = buildJsonObject { put("data", JsonObject(data.mapValues { kotlinx.serialization.json.JsonPrimitive(it.value) })) }
        val response = bao("POST", "${openbao("kv_mount")}/data/$path", body.toString())
        check(response.statusCode() == 200) { "KV write answered ${response.statusCode()}" }
        return Json.parseToJsonElement(response.body()).jsonObject["data"]!!.jsonObject["version"]!!.jsonPrimitive.content.toLong()
    }

    override fun close() {
        runCatching { process.outputStream.close() }
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            process.waitFor()
        }
    }
}

fun JsonArray.strings(): List<String> = map { it.jsonPrimitive.content }
