//! Every shell Debian ships, running the redirections a user types, without
//! and with the library: the probe must see the same fds. Some shells open a
//! redirection's file in the shell itself and then fork (posh and yash do
//! for `prog 3>file`): no act of the child shows it, so only the
//! pass-through list (K7) can keep it, and these runs check that every
//! shell is on it.

mod common;

use std::process::Command;

use common::{Preload, SHORT, TempDir, build_once, harness, parse_fds, require, run};

/// The csh family has no numbered redirections, so nothing here to check.
const SHELLS: [&str; 8] = [
    "/bin/sh",
    "/bin/bash",
    "/bin/dash",
    "/usr/bin/zsh",
    "/usr/bin/ksh",
    "/usr/bin/fish",
    "/bin/posh",
    "/usr/bin/yash",
];

/// Redirections as the user types them (`{P}` is the probe, `{F}` a file),
/// and the fds each one hands the probe.
fn forms(shell: &str) -> &'static [(&'static str, &'static [i32])] {
    if shell.ends_with("fish") {
        &[("{P} 3>{F}; true", &[3]), ("begin; {P} 7<{F}; end", &[7])]
    } else {
        &[
            ("{P} 3>{F}; true", &[3]),
            ("{P} 3>{F}", &[3]),
            ("( {P} 3>{F} )", &[3]),
            ("exec 7<{F}; {P}; true", &[7]),
            ("{P} 3<{F} 4<{F} | cat", &[3, 4]),
        ]
    }
}

#[test]
fn redirections_reach_the_program_in_every_shell() {
    build_once();
    let dir = TempDir::new("shells");
    let file = dir.write("file", "redirected\n");
    let probe = harness("probe");
    let mut problems = Vec::new();
    for shell in SHELLS {
        if !require(shell, "a shell users run") {
            continue;
        }
        let mut compared = 0;
        for &(form, handed) in forms(shell) {
            let script = form
                .replace("{P}", probe.to_str().unwrap())
                .replace("{F}", file.to_str().unwrap());
            let seen = |preload| {
                let mut cmd = Command::new(shell);
                cmd.env_clear()
                    .env("PATH", "/usr/bin:/bin")
                    .args(["-c", &script]);
                let out = run(cmd, preload, &[], SHORT);
                (out.success(), parse_fds(&out.stdout), out)
            };
            let (ok_without, without, out_without) = seen(Preload::Without);
            let (ok_with, with, out_with) = seen(Preload::With);
            assert!(ok_without, "{shell} -c '{script}': {out_without}");
            // ksh93 closes what `exec 7<f` opened at every command: a form
            // whose control hands nothing on has nothing to compare.
            if !handed.iter().all(|fd| without.contains_key(fd)) {
                continue;
            }
            compared += 1;
            if !ok_with || without.keys().ne(with.keys()) {
                problems.push(format!(
                    "{shell} -c '{script}': without {:?}, with {:?}\n{out_with}",
                    without.keys().collect::<Vec<_>>(),
                    with.keys().collect::<Vec<_>>()
                ));
            }
        }
        assert!(
            compared > 0,
            "{shell}: no form handed its fds on, even without the library"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
