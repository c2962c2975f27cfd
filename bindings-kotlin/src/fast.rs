//! A JNI fast path for the two hot calls, `verifyBlocking` and `verifyCached`.
//!
//! Measured (session 24, `benches/jvm`): through uniffi's JNA path a call that
//! does nothing costs 20-50 µs on the JVM, because every crossing allocates JNA
//! `Structure`s (the call status, its nested buffer) with native memory and a
//! cleaner each, reads them back by reflection, and clones the object's handle
//! with a further crossing; lowering a `String` and an `Option` are crossings
//! too. A verified-token cache hit (0.2 µs in Rust) took ~200 µs. Here one JNI
//! call takes the token as a `java.lang.String` and returns a `String[]`; the
//! verifier is found by an id in a registry (no pointer crosses). Every other
//! call stays on uniffi.
//!
//! Binding: JNA loads this library once for uniffi (from a temporary file it
//! deletes at once, so `System.load` cannot find it again); the JVM side calls
//! [`tokenkeep_fast_path_bind`] through JNA on that same library, with the
//! thread's `JNIEnv`, and it registers the functions below as the native
//! methods of `dev.tokenkeep.FastPath`: one library, one runtime.
//!
//! Conversions only: the runtime verifies; the result is its values as text
//! and its error codes. A panic becomes `internal_error`.

#![allow(unsafe_code)] // JNI glue only: `no_mangle`, the JNIEnv pointer, function pointers for RegisterNatives.

use crate::{NativeError, panicked};
use jni::objects::{JClass, JObjectArray, JString};
use jni::sys::{jint, jlong};
use jni::{EnvUnowned, NativeMethod};
use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use tokenkeep::UnixTime;

static VERIFIERS: LazyLock<RwLock<HashMap<u64, tokenkeep::Verifier>>> = LazyLock::new(Default::default);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Registers a verifier for the fast path; the id to pass to it.
pub(crate) fn register(verifier: tokenkeep::Verifier) -> i64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    VERIFIERS.write().unwrap_or_else(|e| e.into_inner()).insert(id, verifier);
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn lookup(id: jlong) -> Option<tokenkeep::Verifier> {
    let id = u64::try_from(id).ok()?;
    VERIFIERS.read().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()
}

/// `now_ms` of `Long.MIN_VALUE` means "the real clock".
const NO_TIME: jlong = jlong::MIN;

/// The answer as texts: `["ok", issuer, subject, alg, kid, typ, claims, scopes]`
/// (absent values null) or `[kind, code, detail, extra]` for an error.
type Answer = Vec<Option<String>>;

fn verify(id: jlong, token: &str, now_ms: jlong, cached: bool) -> Answer {
    guarded_answer(|| {
        let Some(verifier) = lookup(id) else {
            return Err(crate::host_error(
                tokenkeep::codes::HostErrorCode::Closed,
                "this verifier's native handle was released",
            ));
        };
        let now = (now_ms != NO_TIME).then(|| UnixTime::from_millis(u64::try_from(now_ms).unwrap_or(0)));
        let result = if cached { verifier.verify_cached_at(token, now) } else { verifier.verify_blocking(token, now) };
        Ok(answer(&result?))
    })
}

/// Runs `f`, its error or a panic (`internal_error`) becoming the error answer.
fn guarded_answer(f: impl FnOnce() -> Result<Answer, NativeError>) -> Answer {
    match catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(panicked())) {
        Ok(a) => a,
        Err(e) => error_answer(e),
    }
}

pub(crate) fn answer(t: &Arc<tokenkeep::VerifiedToken>) -> Answer {
    let (claims, scopes) = crate::token_json(t);
    vec![
        Some("ok".to_owned()),
        Some(t.issuer().to_owned()),
        t.claims.subject().map(str::to_owned),
        Some(t.header.alg.name().to_owned()),
        t.header.kid.as_deref().map(str::to_owned),
        t.header.typ.as_deref().map(str::to_owned),
        Some(claims),
        Some(scopes),
    ]
}

fn error_answer(e: NativeError) -> Answer {
    let (kind, code, detail, extra) = match e {
        NativeError::Rejected { code, detail, http_status } => ("rejected", code, detail, http_status.to_string()),
        NativeError::Config { code, path, detail } => ("config", code, detail, path),
        NativeError::Host { code, detail } => ("host", code, detail, String::new()),
        NativeError::Credential { code, detail } => ("credential", code, detail, String::new()),
        NativeError::Hmac { code, detail } => ("hmac", code, detail, String::new()),
    };
    vec![Some(kind.to_owned()), Some(code), Some(detail), Some(extra)]
}

fn to_java<'local>(
    env: &mut jni::Env<'local>,
    answer: Answer,
) -> jni::errors::Result<JObjectArray<'local, JString<'local>>> {
    let array = JObjectArray::<JString>::new(env, answer.len(), JString::null())?;
    for (i, s) in answer.into_iter().enumerate() {
        if let Some(s) = s {
            let js = JString::from_str(env, s)?;
            array.set_element(env, i, &js)?;
        }
    }
    Ok(array)
}

/// `FastPath.verify(id, token, nowMs, cached)`: one verification, one crossing.
extern "system" fn verify_native<'caller>(
    mut env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    id: jlong,
    token: JString<'caller>,
    now_ms: jlong,
    cached: jint,
) -> JObjectArray<'caller, JString<'caller>> {
    env.with_env(|env| -> jni::errors::Result<_> {
        let token = token.try_to_string(env)?;
        let answer = verify(id, &token, now_ms, cached != 0);
        to_java(env, answer)
    })
    .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
}

/// `FastPath.release(id)`: forgets a verifier (its owner became unreachable).
extern "system" fn release_native<'caller>(mut env: EnvUnowned<'caller>, _class: JClass<'caller>, id: jlong) {
    env.with_env(|_env| -> jni::errors::Result<()> {
        if let Ok(id) = u64::try_from(id) {
            VERIFIERS.write().unwrap_or_else(|e| e.into_inner()).remove(&id);
        }
        Ok(())
    })
    .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
}

/// `FastPath.known(id)`: whether this library holds the id uniffi registered
/// (one library loaded, not two). No verification, no event, no metric.
extern "system" fn known_native<'caller>(
    mut env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    id: jlong,
) -> jni::sys::jboolean {
    env.with_env(|_env| -> jni::errors::Result<bool> { Ok(catch_unwind(|| lookup(id).is_some()).unwrap_or(false)) })
        .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
}

/// Test-only: a panic inside the fast path's guard, to prove it arrives as
/// `internal_error` and nothing unwinds into the JVM.
extern "system" fn debug_panic_native<'caller>(
    mut env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
) -> JObjectArray<'caller, JString<'caller>> {
    env.with_env(|env| -> jni::errors::Result<_> {
        let answer = guarded_answer(|| panic!("FastPath.debugPanicForTests: a deliberate panic"));
        to_java(env, answer)
    })
    .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
}

/// Registers the functions above as `dev.tokenkeep.FastPath`'s native methods;
/// called once through JNA (`FastPath.kt`) with the calling thread's `JNIEnv`.
/// 1 when bound, 0 when not (the JVM then keeps to uniffi).
///
/// # Safety
///
/// `env` is the calling thread's `JNIEnv` (JNA's `JNIEnv.CURRENT`), valid
/// for this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tokenkeep_fast_path_bind(env: *mut jni::sys::JNIEnv) -> jint {
    if env.is_null() {
        return 0;
    }
    // SAFETY: JNA passes the current thread's JNIEnv, valid during this call.
    let mut unowned = unsafe { EnvUnowned::from_raw(env) };
    let bound = unowned.with_env(|env| -> jni::errors::Result<()> {
        let class = env.find_class(jni::jni_str!("dev/tokenkeep/FastPath"))?;
        // SAFETY: each pointer is a function of exactly the JNI signature beside it.
        let methods = unsafe {
            [
                NativeMethod::from_raw_parts(
                    jni::jni_str!("verify"),
                    jni::jni_str!("(JLjava/lang/String;JI)[Ljava/lang/String;"),
                    verify_native as *mut c_void,
                ),
                NativeMethod::from_raw_parts(
                    jni::jni_str!("release"),
                    jni::jni_str!("(J)V"),
                    release_native as *mut c_void,
                ),
                NativeMethod::from_raw_parts(
                    jni::jni_str!("known"),
                    jni::jni_str!("(J)Z"),
                    known_native as *mut c_void,
                ),
                NativeMethod::from_raw_parts(
                    jni::jni_str!("debugPanicForTests"),
                    jni::jni_str!("()[Ljava/lang/String;"),
                    debug_panic_native as *mut c_void,
                ),
            ]
        };
        // SAFETY: as above.
        unsafe { env.register_native_methods(&class, &methods) }
    });
    match bound.into_outcome() {
        jni::Outcome::Ok(()) => 1,
        _ => 0,
    }
}
