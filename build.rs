//! Compiles `src/variadic.c`, the C bodies of the variadic hooks that stable
//! Rust cannot define, into a static archive linked into the cdylib.
//! No `cc` crate: the library's only dependencies are libc, ctor and log.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed with {status}");
}

fn main() {
    let src = "src/variadic.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("variadic.o");
    let lib = out.join("libcloexec_variadic.a");
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    run(Command::new(&cc)
        .args([
            "-c",
            "-O2",
            "-fPIC",
            "-fvisibility=hidden",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=c11",
            "-o",
        ])
        .arg(&obj)
        .arg(src));
    let _ = std::fs::remove_file(&lib);
    run(Command::new("ar").arg("crs").arg(&lib).arg(&obj));
    // A SONAME, as a shared object in the multiarch directory has (the
    // Debian package puts it there); preloading does not read it.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcloexec.so");
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=cloexec_variadic");
}
