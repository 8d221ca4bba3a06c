//! The terminal while the UI runs: raw mode and the alternate screen, restored however
//! zsift ends — normal quit, an error (the [`Tui`] guard's `Drop`), a panic on the UI
//! thread (the panic hook restores before the message prints), or SIGTERM, SIGHUP or
//! SIGINT (the event loop sees the flag and returns through the guard). In raw mode
//! Ctrl-C arrives as a key, so SIGINT only comes from `kill -INT`.

use std::io::{self, BufWriter, Stdout, Write};

use ratatui::buffer::Buffer;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::thread::ThreadId;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// The backend: a buffered stdout, so a frame leaves in few writes over a slow link.
pub type Backend = CrosstermBackend<BufWriter<Screen>>;

/// Standard output while the terminal is in the UI's modes. Once [`restore`] has run,
/// writes are dropped: a frame half-written when the UI thread panicked must not be
/// flushed onto the restored screen as the buffer is dropped.
pub struct Screen(Stdout);

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if ACTIVE.load(Ordering::SeqCst) {
            self.0.write(buf)
        } else {
            Ok(buf.len())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The signals that end the UI (restoring the terminal first).
pub const SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
];

/// Whether the terminal is in the UI's modes (so restoring twice is harmless).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The UI thread; a panic elsewhere (a worker) is reported in the UI instead.
static UI_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// The last panic message of a worker thread, for the UI to show.
static WORKER_PANIC: Mutex<Option<String>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// Puts the terminal back: leaves the alternate screen and raw mode, shows the cursor.
/// Safe to call more than once and from any thread.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = execute!(out, LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
        let _ = out.flush();
    }
}

/// The message of the last worker panic, if any (taken).
pub fn take_worker_panic() -> Option<String> {
    WORKER_PANIC.try_lock().ok().and_then(|mut m| m.take())
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_ui = UI_THREAD
                .get()
                .is_none_or(|&id| id == std::thread::current().id());
            if on_ui || !ACTIVE.load(Ordering::SeqCst) {
                restore();
                previous(info);
            } else if let Ok(mut slot) = WORKER_PANIC.try_lock() {
                // A worker's panic is caught and shown as the job's error; printing it
                // over the UI would garble the screen.
                *slot = Some(info.to_string());
            }
        }));
    });
}

/// The terminal in UI mode; restores it when dropped.
pub struct Tui {
    /// The ratatui terminal.
    pub terminal: Terminal<Backend>,
    /// The number of the signal received (one of [`SIGNALS`]), 0 while none.
    pub signal: Arc<AtomicUsize>,
}

impl Tui {
    /// Enters raw mode and the alternate screen, and installs the panic hook and the
    /// signal handlers.
    pub fn enter() -> io::Result<Self> {
        let _ = UI_THREAD.set(std::thread::current().id());
        install_panic_hook();
        let signal = Arc::new(AtomicUsize::new(0));
        let signalled = Arc::new(AtomicBool::new(false));
        for sig in SIGNALS {
            // A second signal while the first is being handled ends the process at
            // once (a stuck UI must still die on `kill`).
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&signalled))?;
            signal_hook::flag::register(sig, Arc::clone(&signalled))?;
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
        }
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = BufWriter::with_capacity(1 << 16, Screen(io::stdout()));
        if let Err(e) = execute!(out, EnterAlternateScreen, Hide) {
            restore();
            return Err(e);
        }
        let terminal = match Terminal::new(CrosstermBackend::new(out)) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        Ok(Self { terminal, signal })
    }
}

/// Replaces every cell whose symbol holds an unsafe character (see
/// [`crate::sanitize::is_unsafe`]) by U+FFFD. Log text is sanitized before any widget sees
/// it; this is the last line of defence, run on each frame before it is written, so no
/// path that missed the sanitizer can emit a control sequence. (Zero-width joiners, for
/// one, join the character before them into one cell that ratatui would write as is.)
/// Returns the number of cells replaced.
pub fn scrub(buf: &mut Buffer) -> usize {
    let mut n = 0;
    for cell in buf.content.iter_mut() {
        if cell.symbol().chars().any(crate::sanitize::is_unsafe) {
            cell.set_symbol("\u{FFFD}");
            n += 1;
        }
    }
    n
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.terminal.backend_mut().flush();
        restore();
    }
}
