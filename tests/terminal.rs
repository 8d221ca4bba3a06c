//! The real binary on a pseudo-terminal: however the UI ends (a panic, an abort, a
//! SIGKILL of its process, SIGTERM, SIGHUP, SIGINT), the alternate screen is left, the
//! cursor shown and the terminal back in cooked mode; a worker's panic is an error on screen, not the end of the UI; CSV
//! written to a terminal is neutralised.

mod common;

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ENTER: &[u8] = b"\x1b[?1049h";
const LEAVE: &[u8] = b"\x1b[?1049l";
const SHOW_CURSOR: &[u8] = b"\x1b[?25h";

/// Held while the binary is copied and while a child is spawned: a child forked while
/// another thread still has the copy open for writing would keep that descriptor until
/// its exec, and exec'ing the copy meanwhile fails with "text file busy".
static SPAWN: Mutex<()> = Mutex::new(());

/// A private copy of the binary: the build directory may be shared with other checkouts'
/// builds, which replace `zsift` there while a test runs.
fn private_binary(dir: &std::path::Path) -> std::path::PathBuf {
    let to = dir.join("zsift");
    let _guard = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::copy(env!("CARGO_BIN_EXE_zsift"), &to).unwrap();
    to
}

/// zsift running on its own pseudo-terminal, the master read by a thread.
struct Pty {
    child: Child,
    master: Arc<OwnedFd>,
    /// The slave, kept open here to read its modes after the child ended.
    slave: OwnedFd,
    output: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// The slave's modes before the run.
    before: libc::termios,
}

fn termios(fd: &OwnedFd) -> libc::termios {
    // SAFETY: a zeroed termios is a valid out-parameter; the fd is open.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd.as_raw_fd(), &mut t), 0, "tcgetattr");
        t
    }
}

fn cooked(t: &libc::termios) -> bool {
    t.c_lflag & libc::ICANON != 0 && t.c_lflag & libc::ECHO != 0
}

impl Pty {
    fn spawn(bin: &std::path::Path, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Self {
        let (mut m, mut s) = (-1, -1);
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds; the name and termios pointers may be null.
        let r = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty returned these fds, owned from here on.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        let before = termios(&slave);
        assert!(cooked(&before), "a new pty starts in cooked mode");
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .env_remove("ZSIFT_FAULT")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = {
            // `spawn` returns once the child has exec'd, closing what it inherited.
            let _guard = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
            cmd.spawn().unwrap()
        };
        let master = Arc::new(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (master, output, stop) = (master.clone(), output.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while !stop.load(Ordering::SeqCst) {
                    let mut p = libc::pollfd {
                        fd: master.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    if unsafe { libc::poll(&mut p, 1, 50) } <= 0 {
                        continue;
                    }
                    // SAFETY: reading into a buffer of the given length.
                    let n = unsafe {
                        libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                    };
                    if n <= 0 {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    output.lock().unwrap().extend_from_slice(&buf[..n as usize]);
                }
            })
        };
        Self {
            child,
            master,
            slave,
            output,
            stop,
            reader: Some(reader),
            before,
        }
    }

    fn output(&self) -> Vec<u8> {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output holds `text`.
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while find(&self.output(), text.as_bytes()).is_none() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?}; output:\n{}",
                String::from_utf8_lossy(&self.output())
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send(&self, bytes: &[u8]) {
        let mut f = std::fs::File::from(self.master.try_clone().unwrap());
        f.write_all(bytes).unwrap();
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// Waits for the child to end (killing it after a minute); returns its status and
    /// everything it wrote.
    fn finish(mut self) -> (ExitStatus, Vec<u8>, libc::termios) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "zsift did not end; output:\n{}",
                    String::from_utf8_lossy(&self.output())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the reader drain what the child wrote last.
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let after = termios(&self.slave);
        (status, self.output(), after)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Asserts the terminal was restored: left the alternate screen and showed the cursor
/// after entering, and is back in the modes it had (cooked: canonical input, echo).
/// Returns where the restoring ends in the output.
fn assert_restored(out: &[u8], before: &libc::termios, after: &libc::termios) -> usize {
    let text = String::from_utf8_lossy(out);
    let enter = find(out, ENTER).unwrap_or_else(|| panic!("never entered the UI:\n{text}"));
    let leave = rfind(out, LEAVE).unwrap_or_else(|| panic!("never left the UI:\n{text}"));
    let show = rfind(out, SHOW_CURSOR).unwrap_or_else(|| panic!("cursor not shown:\n{text}"));
    assert!(
        leave > enter && show > enter,
        "restored before entering:\n{text}"
    );
    assert!(cooked(after), "the terminal is left in raw mode");
    assert_eq!(
        after.c_lflag, before.c_lflag,
        "local modes differ from before the run"
    );
    assert_eq!(
        after.c_iflag, before.c_iflag,
        "input modes differ from before the run"
    );
    assert_eq!(
        after.c_oflag, before.c_oflag,
        "output modes differ from before the run"
    );
    leave.max(show)
}

fn run_until_signal(sig: i32) {
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let pty = Pty::spawn(&bin, &["--demo".as_ref()], &[]);
    pty.wait_for("flagged of");
    let before = pty.before;
    pty.signal(sig);
    let (status, out, after) = pty.finish();
    assert_restored(&out, &before, &after);
    // Ended as the signal ends a process, after restoring.
    assert_eq!(status.signal(), Some(sig), "{status:?}");
    assert!(!status.success());
}

#[test]
fn sigterm_restores_the_terminal_on_a_pty() {
    run_until_signal(libc::SIGTERM);
}

#[test]
fn sighup_restores_the_terminal_on_a_pty() {
    run_until_signal(libc::SIGHUP);
}

#[test]
fn sigint_restores_the_terminal_on_a_pty() {
    run_until_signal(libc::SIGINT);
}

#[test]
fn quitting_restores_the_terminal_on_a_pty() {
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let pty = Pty::spawn(&bin, &["--demo".as_ref()], &[]);
    pty.wait_for("flagged of");
    let before = pty.before;
    pty.send(b"q");
    let (status, out, after) = pty.finish();
    assert_restored(&out, &before, &after);
    assert!(status.success(), "{status:?}");
}

#[test]
fn csv_written_to_a_terminal_is_neutralised() {
    use common::hostile::{self, first_forbidden};
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let (tsv, _) = hostile::write(dir.path());
    let args = [
        "score".as_ref(),
        tsv.as_os_str(),
        "--all".as_ref(),
        "--format".as_ref(),
        "csv".as_ref(),
    ];
    let pty = Pty::spawn(&bin, &args, &[]);
    let (status, out, _) = pty.finish();
    assert!(status.success(), "{}", String::from_utf8_lossy(&out));
    let text = String::from_utf8(out).unwrap();
    // The terminal's output processing turns each line feed into CR LF.
    assert_eq!(first_forbidden(&text, &['\n', '\r']), None, "{text}");
    assert!(text.contains(hostile::SHOWN), "{text}");
    assert_eq!(
        text.matches("\r\n").count(),
        1 + hostile::NORMAL + hostile::HOSTILE
    );
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_panic_on_the_ui_thread_restores_the_terminal_then_reports() {
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let pty = Pty::spawn(&bin, &["--demo".as_ref()], &[("ZSIFT_FAULT", "panic")]);
    let before = pty.before;
    let (status, out, after) = pty.finish();
    let restored = assert_restored(&out, &before, &after);
    let message = find(&out, b"injected fault: the UI thread panics")
        .unwrap_or_else(|| panic!("no panic message:\n{}", String::from_utf8_lossy(&out)));
    assert!(
        message > restored,
        "the message is printed after the restore"
    );
    // Nothing of the UI follows the restore.
    assert_eq!(rfind(&out, ENTER), find(&out, ENTER));
    assert!(!status.success());
    assert_eq!(status.code(), Some(101), "{status:?}");
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_panic_on_a_worker_thread_is_a_job_error_in_the_ui() {
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let pty = Pty::spawn(
        &bin,
        &["--demo".as_ref()],
        &[("ZSIFT_FAULT", "panic-worker")],
    );
    pty.wait_for("internal error: injected fault: the worker thread panics");
    // The UI is still up and answers keys.
    pty.send(b"6");
    // One word: the terminal diff may move the cursor over an unchanged blank between two.
    pty.wait_for("talkers");
    let before = pty.before;
    pty.send(b"q");
    let (status, out, after) = pty.finish();
    let restored = assert_restored(&out, &before, &after);
    assert!(status.success(), "{status:?}");
    // The panic is reported in the UI, not printed over it by the default hook.
    let text = String::from_utf8_lossy(&out[..restored]);
    assert!(!text.contains("thread 'zsift-worker'"), "{text}");
}

/// The UI's process, a child of the zsift started on the terminal (which guards it).
fn ui_process(parent: u32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return pid.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "the UI runs in no child process");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ended with no code of its own running (the kernel's out-of-memory killer sends
/// SIGKILL): the guarding parent restores the terminal and says how the UI ended.
#[test]
fn a_killed_ui_process_leaves_the_terminal_restored() {
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let pty = Pty::spawn(&bin, &["--demo".as_ref()], &[]);
    pty.wait_for("flagged of");
    let before = pty.before;
    let ui = ui_process(pty.child.id());
    // SAFETY: signalling a process of this test.
    assert_eq!(unsafe { libc::kill(ui, libc::SIGKILL) }, 0);
    let (status, out, after) = pty.finish();
    let restored = assert_restored(&out, &before, &after);
    let message = find(&out, b"the UI ended abnormally (SIGKILL")
        .unwrap_or_else(|| panic!("no message:\n{}", String::from_utf8_lossy(&out)));
    assert!(message > restored, "the message follows the restore");
    assert_eq!(status.code(), Some(128 + libc::SIGKILL), "{status:?}");
}

/// An abort (what a failed allocation does: no unwinding, no panic hook) likewise.
#[cfg(feature = "fault-injection")]
#[test]
fn an_aborting_ui_process_leaves_the_terminal_restored() {
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let pty = Pty::spawn(&bin, &["--demo".as_ref()], &[("ZSIFT_FAULT", "abort")]);
    let before = pty.before;
    let (status, out, after) = pty.finish();
    let restored = assert_restored(&out, &before, &after);
    let message = find(&out, b"the UI ended abnormally (SIGABRT")
        .unwrap_or_else(|| panic!("no message:\n{}", String::from_utf8_lossy(&out)));
    assert!(message > restored, "the message follows the restore");
    assert_eq!(status.code(), Some(128 + libc::SIGABRT), "{status:?}");
}
