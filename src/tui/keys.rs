//! Every key binding, declared once. Dispatch, the footer hints and the `?` help overlay
//! all read [`BINDINGS`], so the help cannot drift from what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. Overlays are modal: while one is open only its own bindings
/// (and text input where it takes text) apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// Every tab.
    Global,
    /// Moving in the current tab's list.
    Move,
    /// The Anomalies tab.
    Anomalies,
    /// The Hosts tab.
    Hosts,
    /// The Scatter tab.
    Scatter,
    /// The Clusters tab.
    Clusters,
    /// The Histograms tab.
    Histograms,
    /// A picker (services, addresses, features, detectors, labels).
    Picker,
    /// The detectors picker, on top of [`Context::Picker`].
    Detectors,
    /// The full record of a row.
    Detail,
    /// A one-line text prompt (search, export directory).
    Prompt,
    /// The help overlay.
    Help,
}

impl Context {
    /// The heading of this context in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Move => "Moving",
            Context::Anomalies => "Anomalies tab",
            Context::Hosts => "Hosts tab",
            Context::Scatter => "Scatter tab",
            Context::Clusters => "Clusters tab",
            Context::Histograms => "Histograms tab",
            Context::Picker => "Pickers (type to narrow the list)",
            Context::Detectors => "Detectors picker",
            Context::Detail => "Full record",
            Context::Prompt => "Text prompt",
            Context::Help => "Help",
        }
    }
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave zsift.
    Quit,
    /// Open or close the help overlay.
    Help,
    /// Next tab.
    NextTab,
    /// Previous tab.
    PrevTab,
    /// Go to tab n (0-based).
    Tab(u8),
    /// One row up.
    Up,
    /// One row down.
    Down,
    /// Left (previous feature, scroll left).
    Left,
    /// Right.
    Right,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Open the services picker.
    Services,
    /// Open the addresses picker.
    Addresses,
    /// Open the features picker.
    Features,
    /// Open the detectors picker.
    Detectors,
    /// Open the training-label picker.
    TrainLabel,
    /// Search flagged rows by UID or address.
    Search,
    /// Open the query bar.
    Query,
    /// Go back to the query before the current one.
    Back,
    /// Complete the field name typed (query bar).
    Complete,
    /// Export the flagged rows.
    Export,
    /// Open the selected row's full record.
    Open,
    /// Filter on the selected row's source address.
    PivotHost,
    /// Filter on the selected row's source and destination addresses.
    PivotPair,
    /// Sort the table by the next column.
    Sort,
    /// Rank sources, destinations or pairs.
    Unit,
    /// Reverse the sort order.
    Reverse,
    /// PCA or UMAP.
    Projection,
    /// Colour the scatter by the next scheme.
    Colour,
    /// All, anomalous or normal rows.
    Subset,
    /// Histograms overlaid or side by side.
    Layout,
    /// Linear or log bins.
    LogBins,
    /// Close the overlay (or quit from the main screen).
    Close,
    /// Mark or unmark the highlighted item.
    Toggle,
    /// Apply the picker's choice.
    Apply,
    /// Clear the picker's marks and typed text.
    Clear,
    /// Delete the last typed character.
    Erase,
    /// Raise the contamination.
    More,
    /// Lower the contamination.
    Less,
    /// Show or hide the time strip.
    Strip,
    /// Move the time window earlier.
    Earlier,
    /// Move the time window later.
    Later,
    /// Narrow the time window by a bucket.
    Narrower,
    /// Widen the time window by a bucket.
    Wider,
    /// Following: stop or resume the view.
    Pause,
    /// Following: mark the new rows seen.
    Seen,
    /// Fit the model again (following: on the window).
    Refit,
    /// Analyse the next kind of log loaded (conn, dns, http, ssl).
    Kind,
    /// Next verdict rule.
    Rule,
    /// Every detector on.
    AllOn,
    /// Confirm the prompt.
    Confirm,
    /// A typed character (not in the table: text that no binding claims).
    Char(char),
}

/// A key with its modifiers (shift is implied by the character itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(pub KeyCode, pub KeyModifiers);

const fn k(c: char) -> Key {
    Key(KeyCode::Char(c), KeyModifiers::NONE)
}
const fn code(c: KeyCode) -> Key {
    Key(c, KeyModifiers::NONE)
}
const fn ctrl(c: char) -> Key {
    Key(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// One binding: the keys, how they are written, what they do, where, and the help text.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The keys.
    pub keys: &'static [Key],
    /// How the keys are written in the footer and help.
    pub label: &'static str,
    /// What they do.
    pub action: Action,
    /// Where.
    pub context: Context,
    /// Help text.
    pub help: &'static str,
    /// Short text for the footer, if it is worth a place there.
    pub hint: Option<&'static str>,
}

const fn b(
    keys: &'static [Key],
    label: &'static str,
    action: Action,
    context: Context,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        keys,
        label,
        action,
        context,
        help,
        hint,
    }
}

use Action as A;
use Context as C;

/// The key table.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    // Main screen, every tab.
    b(&[k('q'), ctrl('c')], "q", A::Quit, C::Global, "quit", Some("quit")),
    b(&[code(KeyCode::Esc)], "Esc", A::Close, C::Global, "clear the search (never quits)", None),
    b(&[k('?')], "?", A::Help, C::Global, "help: every key", Some("help")),
    b(&[code(KeyCode::Tab)], "Tab", A::NextTab, C::Global, "next tab", None),
    b(&[code(KeyCode::BackTab)], "S-Tab", A::PrevTab, C::Global, "previous tab", None),
    b(&[k('1')], "1", A::Tab(0), C::Global, "Anomalies tab", None),
    b(&[k('2')], "2", A::Tab(1), C::Global, "Hosts tab", None),
    b(&[k('3')], "3", A::Tab(2), C::Global, "Scatter tab", None),
    b(&[k('4')], "4", A::Tab(3), C::Global, "Clusters tab", None),
    b(&[k('5')], "5", A::Tab(4), C::Global, "Histograms tab", None),
    b(&[k('6')], "6", A::Tab(5), C::Global, "Overview tab", None),
    b(&[k('s')], "s", A::Services, C::Global, "filter on services", Some("service")),
    b(&[k('i')], "i", A::Addresses, C::Global, "filter on addresses (source or destination)", Some("ip")),
    b(&[k('f')], "f", A::Features, C::Global, "choose features, scaling and unset values", Some("feat")),
    b(&[k('d')], "d", A::Detectors, C::Global, "detectors, contamination and verdict rule", Some("det")),
    b(&[k('t')], "t", A::TrainLabel, C::Global, "train on the rows of one label", None),
    b(&[k('/')], "/", A::Search, C::Global, "search every row by UID or address, flagged first", Some("search")),
    b(&[k('e')], "e", A::Export, C::Global, "export the flagged rows to a directory", Some("export")),
    b(&[k(':')], ":", A::Query, C::Global, "query bar: narrow the view (src:10.0.0.0/8 port:22 score:>0.9 -service:dns sort:-orig_bytes)", Some("query")),
    b(&[code(KeyCode::Backspace), k('-')], "Bksp", A::Back, C::Global, "back to the view before the last query or pivot", None),
    b(&[k(' ')], "Space", A::Pause, C::Global, "following (zsift -f): stop the view or let it move again (rows are still read and scored)", None),
    b(&[k('n')], "n", A::Seen, C::Global, "following: mark the new rows (●) seen", None),
    b(&[k('R')], "R", A::Refit, C::Global, "fit the model again (following: on the rows in the window; the 2-D views too)", None),
    b(&[k('L')], "L", A::Kind, C::Global, "analyse the next kind of log loaded (conn, dns, http, ssl: given as files or a directory)", None),
    // Moving.
    b(&[code(KeyCode::Up), k('k')], "↑/k", A::Up, C::Move, "up", None),
    b(&[code(KeyCode::Down), k('j')], "↓/j", A::Down, C::Move, "down", None),
    b(&[code(KeyCode::Left), k('h')], "←/h", A::Left, C::Move, "left (previous feature)", None),
    b(&[code(KeyCode::Right), k('l')], "→/l", A::Right, C::Move, "right (next feature)", None),
    b(&[code(KeyCode::PageUp), ctrl('b')], "PgUp", A::PageUp, C::Move, "page up", None),
    b(&[code(KeyCode::PageDown), ctrl('f')], "PgDn", A::PageDown, C::Move, "page down", None),
    b(&[k('g'), code(KeyCode::Home)], "g", A::Top, C::Move, "first row", None),
    b(&[k('G'), code(KeyCode::End)], "G", A::Bottom, C::Move, "last row", None),
    // Tabs.
    b(&[code(KeyCode::Enter)], "Enter", A::Open, C::Anomalies, "full record of the row (with a time window chosen: narrow the view to it)", Some("record")),
    b(&[k('H')], "H", A::PivotHost, C::Anomalies, "narrow the view to the row's source host (host: term)", Some("host")),
    b(&[k('P')], "P", A::PivotPair, C::Anomalies, "narrow the view to the row's two hosts (pair: term)", Some("pair")),
    b(&[k('o')], "o", A::Sort, C::Anomalies, "sort by the next column", Some("sort")),
    b(&[k('O'), k('r')], "O", A::Reverse, C::Anomalies, "reverse the order (the header's ▲/▼ marks it)", None),
    b(&[k('w')], "w", A::Strip, C::Anomalies, "show or hide the time strip (rows and flagged rows over time)", None),
    b(&[k('[')], "[", A::Earlier, C::Anomalies, "time window: choose one, or move it earlier", Some("when")),
    b(&[k(']')], "]", A::Later, C::Anomalies, "time window: choose one, or move it later", None),
    b(&[k('{')], "{", A::Narrower, C::Anomalies, "time window: a bucket narrower", None),
    b(&[k('}')], "}", A::Wider, C::Anomalies, "time window: a bucket wider", None),
    b(&[code(KeyCode::Enter)], "Enter", A::Open, C::Hosts, "the host's or pair's connections, flagged first", Some("rows")),
    b(&[k('u')], "u", A::Unit, C::Hosts, "rank sources, destinations or pairs", Some("src/dst/pair")),
    b(&[k('o')], "o", A::Sort, C::Hosts, "sort by score, a behaviour, rows or flagged", Some("sort")),
    b(&[k('p')], "p", A::Projection, C::Scatter, "PCA or UMAP", Some("pca/umap")),
    b(&[k('c')], "c", A::Colour, C::Scatter, "colour by verdict, cluster or a detector", Some("colour")),
    b(&[k('a')], "a", A::Subset, C::Clusters, "clusters of all, anomalous or normal rows", Some("subset")),
    b(&[k('v')], "v", A::Layout, C::Histograms, "overlaid or side by side", Some("layout")),
    b(&[k('b')], "b", A::LogBins, C::Histograms, "linear or log bins", Some("log")),
    // Pickers.
    b(&[code(KeyCode::Up)], "↑", A::Up, C::Picker, "up", None),
    b(&[code(KeyCode::Down)], "↓", A::Down, C::Picker, "down", None),
    b(&[code(KeyCode::PageUp)], "PgUp", A::PageUp, C::Picker, "page up", None),
    b(&[code(KeyCode::PageDown)], "PgDn", A::PageDown, C::Picker, "page down", None),
    b(&[k(' ')], "Space", A::Toggle, C::Picker, "mark or unmark, then move down (as htop)", Some("mark")),
    b(&[code(KeyCode::Enter)], "Enter", A::Apply, C::Picker, "apply (the marked items, or the highlighted one)", Some("apply")),
    b(&[code(KeyCode::Delete), ctrl('u')], "Del", A::Clear, C::Picker, "clear marks and typed text", Some("clear")),
    b(&[code(KeyCode::Backspace)], "Bksp", A::Erase, C::Picker, "erase a typed character", None),
    b(&[code(KeyCode::Esc)], "Esc", A::Close, C::Picker, "close without applying", Some("cancel")),
    b(&[k('+'), k('=')], "+", A::More, C::Detectors, "raise the contamination", Some("contam")),
    b(&[k('-')], "-", A::Less, C::Detectors, "lower the contamination", None),
    b(&[k('m')], "m", A::Rule, C::Detectors, "next verdict rule (mean, any, votes)", Some("rule")),
    b(&[k('a')], "a", A::AllOn, C::Detectors, "every detector on", None),
    // Full record.
    b(&[code(KeyCode::Up), k('k')], "↑/k", A::Up, C::Detail, "scroll up", None),
    b(&[code(KeyCode::Down), k('j')], "↓/j", A::Down, C::Detail, "scroll down", None),
    b(&[code(KeyCode::PageUp)], "PgUp", A::PageUp, C::Detail, "page up", None),
    b(&[code(KeyCode::PageDown)], "PgDn", A::PageDown, C::Detail, "page down", None),
    b(&[k('g'), code(KeyCode::Home)], "g", A::Top, C::Detail, "first line", None),
    b(&[k('G'), code(KeyCode::End)], "G", A::Bottom, C::Detail, "last line", None),
    b(&[code(KeyCode::Esc), code(KeyCode::Enter), k('q')], "Esc", A::Close, C::Detail, "close", Some("close")),
    // Prompt.
    b(&[code(KeyCode::Enter)], "Enter", A::Confirm, C::Prompt, "confirm", Some("ok")),
    b(&[code(KeyCode::Tab)], "Tab", A::Complete, C::Prompt, "complete the field name (query bar)", None),
    b(&[code(KeyCode::Backspace)], "Bksp", A::Erase, C::Prompt, "erase a character", None),
    b(&[code(KeyCode::Delete), ctrl('u')], "Del", A::Clear, C::Prompt, "clear the text", None),
    b(&[code(KeyCode::Esc)], "Esc", A::Close, C::Prompt, "cancel", Some("cancel")),
    // Help.
    b(&[code(KeyCode::Up), k('k')], "↑/k", A::Up, C::Help, "scroll up", None),
    b(&[code(KeyCode::Down), k('j')], "↓/j", A::Down, C::Help, "scroll down", None),
    b(&[code(KeyCode::PageUp)], "PgUp", A::PageUp, C::Help, "page up", None),
    b(&[code(KeyCode::PageDown)], "PgDn", A::PageDown, C::Help, "page down", None),
    b(&[code(KeyCode::Esc), k('?'), k('q')], "Esc", A::Close, C::Help, "close", Some("close")),
];

/// The key as the table writes it: shift folded into the character, and Shift-Tab as
/// BackTab whichever way the terminal reports it.
fn normalise(e: KeyEvent) -> Key {
    let mods = e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    match e.code {
        KeyCode::Tab if e.modifiers.contains(KeyModifiers::SHIFT) => Key(KeyCode::BackTab, mods),
        c => Key(c, mods),
    }
}

/// The action for a key in the given contexts (searched in order), if any. A context
/// that takes text turns an unclaimed printable character into [`Action::Char`].
pub fn lookup(contexts: &[Context], takes_text: bool, e: KeyEvent) -> Option<Action> {
    let key = normalise(e);
    for &c in contexts {
        if let Some(b) = BINDINGS
            .iter()
            .find(|b| b.context == c && b.keys.contains(&key))
        {
            return Some(b.action);
        }
    }
    match key {
        Key(KeyCode::Char(c), m) if takes_text && !m.contains(KeyModifiers::CONTROL) => {
            Some(Action::Char(c))
        }
        _ => None,
    }
}

/// The footer's hints for the given contexts: (keys, short text).
pub fn hints(contexts: &[Context]) -> Vec<(&'static str, &'static str)> {
    contexts
        .iter()
        .flat_map(|&c| {
            BINDINGS
                .iter()
                .filter(move |b| b.context == c)
                .filter_map(|b| b.hint.map(|h| (b.label, h)))
        })
        .collect()
}

/// Bindings of a context, for the help overlay.
pub fn of(context: Context) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.context == context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.context == b.context {
                    for key in a.keys {
                        assert!(!b.keys.contains(key), "{key:?} twice in {:?}", a.context);
                    }
                }
            }
        }
    }

    #[test]
    fn contexts_are_searched_in_order_and_text_is_typed() {
        let move_then_global = [Context::Move, Context::Global];
        assert_eq!(
            lookup(&move_then_global, false, key(KeyCode::Char('j'))),
            Some(Action::Down)
        );
        assert_eq!(
            lookup(&move_then_global, false, key(KeyCode::Char('s'))),
            Some(Action::Services)
        );
        assert_eq!(
            lookup(&move_then_global, false, key(KeyCode::Char('z'))),
            None
        );
        // In a picker, letters are text; Space still marks.
        assert_eq!(
            lookup(&[Context::Picker], true, key(KeyCode::Char('s'))),
            Some(Action::Char('s'))
        );
        assert_eq!(
            lookup(&[Context::Picker], true, key(KeyCode::Char(' '))),
            Some(Action::Toggle)
        );
        let shift_tab = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(
            lookup(&[Context::Global], false, shift_tab),
            Some(Action::PrevTab)
        );
        let upper = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&[Context::Move], false, upper), Some(Action::Bottom));
    }

    #[test]
    fn footer_and_help_come_from_the_table() {
        let h = hints(&[Context::Anomalies, Context::Global]);
        assert!(h.contains(&("Enter", "record")));
        assert!(h.contains(&("s", "service")));
        assert!(of(Context::Help).count() >= 3);
    }
}
