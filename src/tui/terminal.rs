//! The terminal while the UI runs: raw mode and the alternate screen, restored however
//! zsift ends — normal quit, an error (the [`Tui`] guard's `Drop`), a panic on the UI
//! thread (the panic hook restores before the message prints), or SIGTERM/SIGHUP (the
//! event loop sees the flag and returns through the guard).

use std::io::{self, BufWriter, Stdout, Write};
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
pub type Backend = CrosstermBackend<BufWriter<Stdout>>;

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
    /// The number of the SIGTERM or SIGHUP received, 0 while none.
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
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
            // A second signal while the first is being handled ends the process at
            // once (a stuck UI must still die on `kill`).
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&signalled))?;
            signal_hook::flag::register(sig, Arc::clone(&signalled))?;
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
        }
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = BufWriter::with_capacity(1 << 16, io::stdout());
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

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.terminal.backend_mut().flush();
        restore();
    }
}
