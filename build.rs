//! Link-time settings for the `sluice` binary: they keep the server's resident memory small.

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let (os, env, arch) = (
        var("CARGO_CFG_TARGET_OS"),
        var("CARGO_CFG_TARGET_ENV"),
        var("CARGO_CFG_TARGET_ARCH"),
    );
    if os == "linux" && env == "gnu" {
        // Relative relocations as a packed bitmap (DT_RELR, glibc 2.36+, binutils 2.38+) instead
        // of 24 bytes each: the loader reads ~2 MB less at start, and that table stays out of the
        // server's resident memory. A linker without the option warns and ignores it.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // The functions the server runs at start and on its hot paths go first and together (lld's symbol
    // ordering; rust-lld is Rust's default linker on this target only). The kernel maps code 64 KB around
    // each page first run, so scattered hot functions made nearly all 20 MB of code resident.
    // bench/order.sh regenerates the list; SLUICE_NO_SYMBOL_ORDER=1 turns it off (another linker).
    let order = format!("{}/bench/symbol-order.txt", var("CARGO_MANIFEST_DIR"));
    if os == "linux"
        && env == "gnu"
        && arch == "x86_64"
        && var("PROFILE") == "release"
        && var("SLUICE_NO_SYMBOL_ORDER").is_empty()
        && std::path::Path::new(&order).exists()
    {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={order}");
    println!("cargo:rerun-if-env-changed=SLUICE_NO_SYMBOL_ORDER");
}
