//! uniffi's code generator, built from the same uniffi version as the library
//! (`make kotlin-bindings` runs it on the built cdylib).

fn main() {
    uniffi::uniffi_bindgen_main()
}
