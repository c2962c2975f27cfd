package dev.tokenkeep

import com.sun.jna.JNIEnv
import com.sun.jna.Library
import com.sun.jna.Native
import com.sun.jna.NativeLibrary
import java.lang.ref.Cleaner

/**
 * The JNI fast path of [Verifier.verifyBlocking] and [Verifier.verifyCached]
 * (`bindings-kotlin/src/fast.rs`): one JNI call per verification instead of
 * uniffi's several JNA crossings (each allocating JNA structures with native
 * memory and a cleaner), which cost ~20-50 µs apiece on the JVM. Every other
 * call stays on uniffi.
 *
 * Binding: JNA deletes the temporary copy of the library it loaded for
 * uniffi, so `System.load` cannot name it; instead [Binder] calls
 * `tokenkeep_fast_path_bind` through JNA on that same library (the same name
 * and options as uniffi's, so JNA hands back the instance it loaded), which
 * registers this object's native methods: one library, one runtime. When
 * that fails, [available] is false and every call takes the uniffi path.
 */
internal object FastPath {
    /** Whether the native methods are bound. */
    val available: Boolean = try {
        Binder.bind(JNIEnv.CURRENT) == 1
    } catch (e: LinkageError) {
        false
    } catch (e: RuntimeException) {
        false
    }

    /** JNA's direct mapping of the one binding function. */
    private object Binder {
        init {
            // The same name and options as uniffi's Native.register: JNA hands back the library it loaded.
            val name = System.getProperty("uniffi.component.tokenkeep.libraryOverride") ?: "tokenkeep_kotlin"
            Native.register(
                Binder::class.java,
                NativeLibrary.getInstance(name, mapOf(Library.OPTION_CLASSLOADER to Binder::class.java.classLoader)),
            )
        }

        @JvmStatic external fun tokenkeep_fast_path_bind(env: JNIEnv): Int

        fun bind(env: JNIEnv): Int = tokenkeep_fast_path_bind(env)
    }

    private val cleaner: Cleaner by lazy { Cleaner.create() }

    /** Registers [handle]'s verifier; releases it when [owner] is unreachable. 0 when the fast path is off. */
    fun register(owner: Any, handle: NativeVerifier): Long {
        if (!available) return 0L
        val id = handle.fastPathId()
        if (id == 0L) return 0L
        cleaner.register(owner) { release(id) }
        // The JNI side must see uniffi's registration (one library loaded, not two).
        return if (known(id)) id else 0L
    }

    /** `Long.MIN_VALUE` for [nowMs] means the real clock. */
    @JvmStatic external fun verify(id: Long, token: String, nowMs: Long, cached: Int): Array<String?>

    @JvmStatic external fun release(id: Long)

    /** Whether the library the native methods live in holds [id]. */
    @JvmStatic external fun known(id: Long): Boolean

    /** Test-only: a Rust panic inside the fast path's guard (answers `internal_error`). */
    @JvmStatic external fun debugPanicForTests(): Array<String?>

    /** The fast path's answer as a [VerifiedToken], or its error as the public exception. */
    fun lift(a: Array<String?>): VerifiedToken = when (a.firstOrNull()) {
        "ok" -> VerifiedToken(a[1]!!, a[2], a[3]!!, a[4], a[5], a[6]!!, a[7]!!)
        "rejected" -> throw TokenRejectedException(a[1]!!, a[2]!!, a[3]!!.toInt())
        "config" -> throw ConfigException(a[1]!!, a[3]!!, a[2]!!)
        "credential" -> throw CredentialUnavailableException(a[1]!!, a[2]!!)
        "hmac" -> throw HmacException(a[1]!!, a[2]!!)
        "host" -> throw HostException(a[1]!!, a[2]!!)
        // Empty: a panic caught where only a value could be returned.
        else -> throw HostException(HostErrorCode.INTERNAL_ERROR.code, "a bug in tokenkeep's native code")
    }
}
