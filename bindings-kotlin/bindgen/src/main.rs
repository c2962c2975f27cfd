//! uniffi's code generator, built from the same uniffi version as the library
//! (the workspace's one lock file); `make kotlin-bindings` runs it on the
//! built cdylib.

fn main() {
    uniffi::uniffi_bindgen_main()
}
