//! Records the commit zsift is built from, for `zsift --version` (`unknown` outside a git
//! checkout; a packager may set `ZSIFT_COMMIT`).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ZSIFT_COMMIT");
    let commit = std::env::var("ZSIFT_COMMIT").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        let hash = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !hash.is_empty()).then_some(hash)
    });
    // A new commit moves HEAD's branch; only files that exist are watched (a missing one
    // would run this script at every build).
    for f in [".git/HEAD", ".git/packed-refs"] {
        if Path::new(f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            let path = format!(".git/{r}");
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    println!(
        "cargo:rustc-env=ZSIFT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
}
