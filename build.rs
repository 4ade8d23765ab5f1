//! Link settings of the `sluice` binary.

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        // Relative relocations as a packed bitmap (DT_RELR, glibc 2.36+, binutils 2.38+) instead
        // of 24 bytes each: the loader reads ~2 MB less at start, and that table stays out of the
        // server's resident memory. A linker without the option warns and ignores it.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
    // The migrations are embedded in the binary (`store/conn.rs`): a new one must rebuild it.
    println!("cargo:rerun-if-changed=migrations");
}
