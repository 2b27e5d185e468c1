//! The static constraints (README "How it works"), checked on the built `.so`:
//! only libc (and the loader) as NEEDED, no malloc family imported, no
//! panicking code linked in, and every hook exported.

mod common;

use common::{HOOKS, build_once, lib_path};
use std::path::PathBuf;
use std::process::Command;

fn library() -> PathBuf {
    build_once();
    lib_path()
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .arg(library())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn needs_only_libc_and_the_loader() {
    let dynamic = tool("readelf", &["-d", "-W"]);
    let needed: Vec<&str> = dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    assert!(needed.contains(&"libc.so.6"), "{needed:?}");
    for lib in &needed {
        assert!(
            *lib == "libc.so.6" || lib.starts_with("ld-linux"),
            "unexpected NEEDED {lib} (std would pull in libgcc_s)"
        );
    }
}

#[test]
fn imports_no_allocator() {
    let undefined = tool("nm", &["-D", "--undefined-only"]);
    for sym in undefined
        .lines()
        .filter_map(|l| l.split_whitespace().last())
    {
        let name = sym.split('@').next().unwrap();
        assert!(
            ![
                "malloc",
                "calloc",
                "realloc",
                "free",
                "posix_memalign",
                "aligned_alloc",
                "memalign"
            ]
            .contains(&name),
            "imports {name}"
        );
        assert_ne!(name, "closefrom", "glibc's closefrom can abort");
    }
}

#[test]
fn links_no_panicking_code() {
    let symbols = tool("nm", &["--demangle"]);
    let panicky: Vec<&str> = symbols
        .lines()
        .filter(|l| {
            l.contains("panicking") || l.contains("panic_fmt") || l.contains("panic_bounds_check")
        })
        .collect();
    assert!(panicky.is_empty(), "panic paths linked in: {panicky:#?}");
}

#[test]
fn exports_every_hook() {
    let defined = tool("nm", &["-D", "--defined-only"]);
    let exported: Vec<&str> = defined
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    for hook in &HOOKS {
        assert!(exported.contains(hook), "{hook} is not exported");
    }
    for never in ["fork", "vfork"] {
        assert!(!exported.contains(&never), "{never} must not be interposed");
    }
}
