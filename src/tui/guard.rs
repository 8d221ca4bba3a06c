//! The terminal restored whatever ends the UI's process. The UI restores the terminal
//! itself on a quit, an error, a panic and the usual signals, but an abort (an allocation
//! that fails) or a SIGKILL (the kernel's out-of-memory killer) ends a process with no
//! code of its own running. So `zsift` on a terminal starts the UI as a child process of
//! itself and only waits: when the child has ended, it puts back the terminal modes saved
//! before, if the child did not, and says how the child ended. The parent holds no log
//! and allocates next to nothing, so what kills the child does not reach it.
//!
//! No crate does this for a terminal application (a process that outlives its child to
//! undo the child's terminal modes), hence this module.

use std::io::{IsTerminal, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Set in the child's environment: it runs the UI itself.
pub const CHILD_ENV: &str = "ZSIFT_UI_CHILD";

/// Signals the parent passes on to the child (and then dies of, as the child did).
const FORWARDED: [i32; 4] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];

/// Whether this process is the UI's child (so runs the UI itself).
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The terminal the UI puts in raw mode: standard input when it is one (as the terminal
/// library chooses), else `/dev/tty`.
fn tty() -> Option<OwnedFd> {
    use std::os::fd::AsFd;
    if std::io::stdin().is_terminal() {
        std::io::stdin().as_fd().try_clone_to_owned().ok()
    } else {
        std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()
            .map(Into::into)
    }
}

fn modes(fd: &OwnedFd) -> Option<libc::termios> {
    // SAFETY: a zeroed termios is a valid out-parameter and the fd is open.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        (libc::tcgetattr(fd.as_raw_fd(), &mut t) == 0).then_some(t)
    }
}

fn same_modes(a: &libc::termios, b: &libc::termios) -> bool {
    a.c_iflag == b.c_iflag
        && a.c_oflag == b.c_oflag
        && a.c_cflag == b.c_cflag
        && a.c_lflag == b.c_lflag
        && a.c_cc == b.c_cc
}

/// The name of a signal that ends a process abnormally, for the message.
fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGKILL => "SIGKILL: the system may have run out of memory".into(),
        libc::SIGABRT => "SIGABRT: an allocation failed, or an internal error".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        other => format!("signal {other}"),
    }
}

/// Runs the UI in a child process (the same program and arguments) and waits for it.
/// Returns the exit code for this process once the child has ended and the terminal is
/// restored, or `None` when no child could be started (the caller then runs the UI in
/// this process). A child ended by a forwarded signal makes this process end by it too.
pub fn run() -> Option<u8> {
    let exe = std::env::current_exe().ok()?;
    let tty = tty();
    let saved = tty.as_ref().and_then(modes);
    // Signals that would end this process are caught and passed on: the child decides.
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in FORWARDED {
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize).ok()?;
    }
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(CHILD_ENV, "1")
        .spawn()
        .ok()?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(_) => match child.wait() {
                Ok(status) => break status,
                Err(_) => return Some(1),
            },
        }
        let sig = signal.swap(0, Ordering::SeqCst);
        if sig != 0 {
            // SAFETY: signalling our own child, whose id is valid until it is waited.
            unsafe { libc::kill(child.id() as i32, sig as i32) };
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The child restores the terminal on every way out it can see; when it could not
    // (its modes are still raw), leave the alternate screen, show the cursor and put
    // back the modes saved before it started.
    if let (Some(fd), Some(saved)) = (&tty, &saved) {
        if modes(fd).is_some_and(|now| !same_modes(&now, saved)) {
            let mut out = std::io::stdout();
            let _ = out.write_all(b"\x1b[?1049l\x1b[?25h\x1b[0m");
            let _ = out.flush();
            // SAFETY: the fd is open and `saved` came from tcgetattr on it.
            unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, saved) };
        }
    }
    if let Some(code) = status.code() {
        return Some(u8::try_from(code).unwrap_or(1));
    }
    let sig = status.signal().unwrap_or(libc::SIGKILL);
    if FORWARDED.contains(&sig) {
        let _ = signal_hook::low_level::emulate_default_handler(sig);
    }
    eprintln!(
        "zsift: the UI ended abnormally ({}); the terminal was restored",
        signal_name(sig)
    );
    Some(u8::try_from(128 + sig).unwrap_or(1))
}
