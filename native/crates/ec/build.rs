//! Compiles the one C erasure-coding library (native/ec) into this crate; Python binds the same
//! sources through cffi.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ec");
    let mut build = cc::Build::new();
    build
        .include(root.join("include"))
        .include(root.join("src"))
        .opt_level(3)
        .warnings(true);
    for entry in std::fs::read_dir(root.join("src")).expect("native/ec/src exists") {
        let path = entry.expect("readable directory entry").path();
        if path.extension().is_some_and(|e| e == "c") {
            println!("cargo:rerun-if-changed={}", path.display());
            build.file(path);
        }
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("include/thecloud_ec.h").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("src/internal.h").display()
    );
    build.compile("thecloud_ec");
}
