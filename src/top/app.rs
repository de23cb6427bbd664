//! The event loops: one process sampled live, and the list of every Python process with a way
//! into the live view of one of them.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event, KeyEvent, KeyEventKind};

use super::heap_panel::HeapView;
use super::input::{is_quit, list_action, pid_action, ListAction, PidAction};
use super::process_list::{display_command, ProcessRow, ProcessSnapshot, Scanner};
use super::render::{draw_pid, PidModel};
use super::render_list::{draw_list, ListModel, ListSort};
use super::stats::{Aggregation, RowOptions, Stats};
use super::terminal::{wait_for_event, TerminalGuard};
use super::TopConfig;
use crate::sampler::{Sampler, SamplerConfig, StopReason, Tick};
use crate::session::Session;

/// How often the screen is redrawn while sampling goes on.
const REFRESH: Duration = Duration::from_secs(1);
/// How often ticks are drained from the sampler between redraws (its channel is bounded).
const PUMP: Duration = Duration::from_millis(50);
/// How long a message stays on the list's bottom line.
const MESSAGE_FOR: Duration = Duration::from_secs(6);

/// What a key did to a screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Stay; redraw.
    Redraw,
    /// Stay; nothing changed.
    Nothing,
    /// Leave pyprobe.
    Quit,
    /// Back to the list.
    Back,
}

/// One process sampled live.
pub(crate) struct Live {
    pid: i32,
    command: String,
    version: String,
    stats: Stats,
    /// The display while paused (sampling goes on into `stats`).
    frozen: Option<Stats>,
    opts: RowOptions,
    help: bool,
    from_list: bool,
    sampler: Option<Sampler>,
    stop: Arc<AtomicBool>,
    /// Why sampling ended, once it did.
    ended: Option<String>,
    /// The heap view's census thread, once the view was opened (key `o`).
    heap: Option<HeapView>,
    /// The heap view is shown in place of the function table.
    show_heap: bool,
}

impl Live {
    /// Attach to `pid` and start sampling it.
    fn open(pid: i32, config: &TopConfig, from_list: bool) -> anyhow::Result<Live> {
        if config.subprocesses {
            return Live::open_tree(pid, config, from_list);
        }
        let mut session = Session::attach(pid, config.pause)
            .with_context(|| format!("attaching to process {pid}"))?;
        if config.native {
            let interval = std::time::Duration::from_secs_f64(1.0 / config.rate_hz);
            crate::native::capture::enable_for_recording(&mut session, interval);
        }
        let target = session.target();
        let command = display_command(target.cmdline(), &target.exe().to_string_lossy());
        let version = session.interpreter().version.to_string();
        let probe = Box::new(crate::sampler::LiveProbe::new(session));
        Ok(Live::start(
            pid,
            command,
            version,
            probe,
            config.fault_period,
            config,
            from_list,
        ))
    }

    /// `--subprocesses`: the process and its descendants, one sampler; each process's stacks
    /// sit under its root frame, which shows as a row with the process's share.
    fn open_tree(pid: i32, config: &TopConfig, from_list: bool) -> anyhow::Result<Live> {
        let tree = crate::subprocesses::TreeProbe::new(pid, config.pause)
            .with_context(|| format!("watching process {pid} and its descendants"))?;
        let command = tree.title();
        let version = tree.root_version().unwrap_or_else(|| "not Python".into());
        // As in `record --subprocesses`: per-thread fault counts, in every process.
        Ok(Live::start(
            pid,
            command,
            version,
            Box::new(tree),
            None,
            config,
            from_list,
        ))
    }

    /// Start sampling `probe` (page-fault events every `fault_period` faults, if given).
    fn start(
        pid: i32,
        command: String,
        version: String,
        probe: Box<dyn crate::sampler::Probe + Send>,
        fault_period: Option<u64>,
        config: &TopConfig,
        from_list: bool,
    ) -> Live {
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = Sampler::start_probe(
            probe,
            SamplerConfig {
                rate_hz: config.rate_hz,
                duration: None,
                fault_period,
            },
            stop.clone(),
        );
        let mut stats = Stats::new(config.rate_hz, config.include_idle);
        stats.set_attribution(sampler.attribution().clone());
        Live {
            pid,
            command,
            version,
            stats,
            frozen: None,
            opts: RowOptions::default(),
            help: false,
            from_list,
            sampler: Some(sampler),
            stop,
            ended: None,
            heap: None,
            show_heap: false,
        }
    }

    /// Take in what the sampler sent; true when sampling just ended. A new heap census is asked
    /// for when due while the heap view is shown.
    fn pump(&mut self) -> bool {
        if let Some(heap) = self.heap.as_mut().filter(|_| self.show_heap) {
            heap.refresh(self.stats.rss.now);
        }
        let Some(sampler) = &self.sampler else {
            return false;
        };
        loop {
            match sampler.ticks.try_recv() {
                Ok(Tick::Sample {
                    at,
                    stacks,
                    rss,
                    moved,
                }) => self.stats.add_sample_counted(at, &stacks, rss, &moved),
                Ok(Tick::Error { at, rss, .. }) => self.stats.add_error(at, rss),
                Ok(Tick::Fault {
                    at,
                    stacks,
                    rss,
                    faults,
                }) => self.stats.add_fault(at, &stacks, &faults, rss),
                Ok(Tick::Details { details, .. }) => self.stats.add_details(details),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => break,
            }
        }
        let (reason, _, _) = self.sampler.take().expect("checked above").join();
        self.ended = Some(match reason {
            StopReason::TargetExited => format!("process {} exited", self.pid),
            StopReason::TargetExeced(exe) => {
                format!("process {} now runs {}", self.pid, exe.display())
            }
            StopReason::TooManyErrors(e) => format!("sampling stopped: {e}"),
            StopReason::Interrupted | StopReason::Duration => "sampling stopped".into(),
        });
        true
    }

    fn shown(&self) -> &Stats {
        self.frozen.as_ref().unwrap_or(&self.stats)
    }

    fn model(&self) -> PidModel<'_> {
        PidModel {
            pid: self.pid,
            command: &self.command,
            version: &self.version,
            stats: self.shown(),
            opts: self.opts,
            paused: self.frozen.is_some(),
            ended: self.ended.as_deref(),
            help: self.help,
            from_list: self.from_list,
            heap: self
                .heap
                .as_ref()
                .filter(|_| self.show_heap)
                .map(HeapView::panel),
        }
    }

    fn key(&mut self, key: &KeyEvent) -> Outcome {
        if key.kind == KeyEventKind::Release {
            return Outcome::Nothing;
        }
        if self.ended.is_some() {
            // The last screen stays until a key.
            return if self.from_list && !is_quit(key) {
                Outcome::Back
            } else {
                Outcome::Quit
            };
        }
        let action = pid_action(key);
        if self.help && !matches!(action, PidAction::Quit) {
            self.help = false;
            return Outcome::Redraw;
        }
        match action {
            PidAction::Quit => return Outcome::Quit,
            PidAction::Back if self.from_list => return Outcome::Back,
            PidAction::Back | PidAction::None => return Outcome::Nothing,
            PidAction::Sort(c) => self.opts.sort = c,
            PidAction::SortStep(step) => self.opts.sort = self.opts.sort.step(step),
            PidAction::ToggleAggregation => {
                self.opts.aggregation = match self.opts.aggregation {
                    Aggregation::Functions => Aggregation::Lines,
                    Aggregation::Lines => Aggregation::Functions,
                }
            }
            PidAction::NextThread => {
                let threads = self.shown().threads();
                self.opts.thread = match self.opts.thread {
                    None => threads.first().map(|t| t.thread_id),
                    Some(id) => threads
                        .iter()
                        .position(|t| t.thread_id == id)
                        .and_then(|i| threads.get(i + 1))
                        .map(|t| t.thread_id),
                };
            }
            PidAction::TogglePause => {
                self.frozen = match self.frozen {
                    Some(_) => None,
                    None => Some(self.stats.clone()),
                }
            }
            PidAction::Reset => {
                self.stats.reset();
                if self.frozen.is_some() {
                    self.frozen = Some(self.stats.clone());
                }
            }
            PidAction::ToggleIdle => {
                self.stats.set_include_idle(!self.stats.include_idle());
                if self.frozen.is_some() {
                    self.frozen = Some(self.stats.clone());
                }
            }
            PidAction::ToggleHelp => self.help = !self.help,
            PidAction::ToggleHeap => {
                self.show_heap = !self.show_heap;
                if self.show_heap && self.heap.is_none() {
                    self.heap = Some(HeapView::open(self.pid, self.stats.rss.now));
                }
            }
        }
        Outcome::Redraw
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(sampler) = self.sampler.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Drain until the sampler thread ends: it may be blocked sending on a full channel.
            for _ in sampler.ticks.iter() {}
            let _ = sampler.join();
        }
    }
}

/// SIGTERM, SIGHUP and SIGINT (a `kill`, a closed terminal) end the loop like `q`: the
/// terminal is restored on the way out.
fn quit_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ] {
        signal_hook::flag::register(sig, flag.clone()).context("installing signal handlers")?;
    }
    Ok(flag)
}

/// `pyprobe top --pid PID`.
pub(crate) fn run_pid(pid: i32, config: &TopConfig) -> anyhow::Result<()> {
    // Attach before touching the terminal: errors print as usual.
    let mut live = Live::open(pid, config, false)?;
    let quit = quit_signals()?;
    let mut guard = TerminalGuard::enter().context("setting up the terminal")?;
    let mut next_draw = Instant::now();
    loop {
        if quit.load(Ordering::Relaxed) {
            break;
        }
        let mut dirty = live.pump();
        let now = Instant::now();
        if now >= next_draw {
            dirty = true;
        }
        if dirty {
            guard.terminal.draw(|f| draw_pid(f, &live.model()))?;
            next_draw = Instant::now() + REFRESH;
            panic_if_asked(&live);
        }
        if wait_for_event(PUMP.min(next_draw.saturating_duration_since(Instant::now())))? {
            match event::read()? {
                Event::Key(key) => match live.key(&key) {
                    Outcome::Quit | Outcome::Back => break,
                    Outcome::Redraw => next_draw = Instant::now(),
                    Outcome::Nothing => {}
                },
                Event::Resize(..) => next_draw = Instant::now(),
                _ => {}
            }
        }
    }
    drop(guard);
    if let Some(msg) = &live.ended {
        crate::say!("pyprobe: {msg}");
    }
    Ok(())
}

/// Debug builds only: panic once the screen shows a sample, when `PYPROBE_TEST_PANIC_IN_TOP`
/// is set, so that a test can check that a panic restores the terminal.
fn panic_if_asked(live: &Live) {
    if cfg!(debug_assertions)
        && live.stats.samples() > 0
        && std::env::var_os("PYPROBE_TEST_PANIC_IN_TOP").is_some()
    {
        panic!("PYPROBE_TEST_PANIC_IN_TOP is set: a test asked for this panic");
    }
}

/// The state of the process list.
struct List {
    snapshot: Option<ProcessSnapshot>,
    rows: Vec<ProcessRow>,
    selected: usize,
    selected_pid: Option<i32>,
    sort: ListSort,
    message: Option<(String, Instant)>,
    help: bool,
}

impl List {
    fn take(&mut self, snapshot: ProcessSnapshot) {
        self.rows = snapshot.rows.clone();
        self.snapshot = Some(snapshot);
        self.resort();
    }

    fn resort(&mut self) {
        self.sort.sort(&mut self.rows);
        // The selection follows its process when rows move.
        if let Some(i) = self
            .selected_pid
            .and_then(|pid| self.rows.iter().position(|r| r.pid == pid))
        {
            self.selected = i;
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        self.selected_pid = self.rows.get(self.selected).map(|r| r.pid);
    }

    fn select(&mut self, index: isize) {
        let last = self.rows.len().saturating_sub(1) as isize;
        self.selected = index.clamp(0, last.max(0)) as usize;
        self.selected_pid = self.rows.get(self.selected).map(|r| r.pid);
    }

    fn model(&self) -> ListModel<'_> {
        ListModel {
            snapshot: self.snapshot.as_ref(),
            rows: &self.rows,
            selected: self.selected,
            sort: self.sort,
            message: self
                .message
                .as_ref()
                .filter(|(_, at)| at.elapsed() < MESSAGE_FOR)
                .map(|(m, _)| m.as_str()),
            help: self.help,
        }
    }
}

/// Scans /proc once a second on its own thread (attaching to new processes can take a
/// moment), unless paused; stops when the receiver is dropped or `stop` is set.
fn start_scanner(paused: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> Receiver<ProcessSnapshot> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut scanner = Scanner::new();
        while !stop.load(Ordering::Relaxed) {
            if !paused.load(Ordering::Relaxed) && tx.send(scanner.scan()).is_err() {
                break;
            }
            let until = Instant::now() + REFRESH;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(PUMP);
            }
        }
    });
    rx
}

/// `pyprobe top`: every Python process; Enter opens one.
pub(crate) fn run_list(config: &TopConfig) -> anyhow::Result<()> {
    let quit = quit_signals()?;
    let paused = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let snapshots = start_scanner(paused.clone(), stop.clone());
    let mut guard = TerminalGuard::enter().context("setting up the terminal")?;
    let mut list = List {
        snapshot: None,
        rows: Vec::new(),
        selected: 0,
        selected_pid: None,
        sort: ListSort::default(),
        message: None,
        help: false,
    };
    let mut live: Option<Live> = None;
    let mut next_draw = Instant::now();
    let result = loop {
        if quit.load(Ordering::Relaxed) {
            break Ok(());
        }
        let mut dirty = Instant::now() >= next_draw;
        match snapshots.try_recv() {
            Ok(snap) => {
                list.take(snap);
                dirty |= live.is_none();
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => {
                break Err(anyhow::anyhow!("the /proc scanner stopped"))
            }
        }
        if let Some(l) = live.as_mut() {
            dirty |= l.pump();
        }
        if dirty {
            guard.terminal.draw(|f| match &live {
                Some(l) => draw_pid(f, &l.model()),
                None => draw_list(f, &list.model()),
            })?;
            next_draw = Instant::now() + REFRESH;
        }
        if !wait_for_event(PUMP.min(next_draw.saturating_duration_since(Instant::now())))? {
            continue;
        }
        let key = match event::read()? {
            Event::Key(key) => key,
            Event::Resize(..) => {
                next_draw = Instant::now();
                continue;
            }
            _ => continue,
        };
        if let Some(l) = live.as_mut() {
            match l.key(&key) {
                Outcome::Quit => break Ok(()),
                Outcome::Back => {
                    live = None;
                    paused.store(false, Ordering::SeqCst);
                    next_draw = Instant::now();
                }
                Outcome::Redraw => next_draw = Instant::now(),
                Outcome::Nothing => {}
            }
            continue;
        }
        let action = list_action(&key);
        if list.help && action != ListAction::Quit {
            list.help = false;
            next_draw = Instant::now();
            continue;
        }
        match action {
            ListAction::Quit => break Ok(()),
            ListAction::Move(n) => list.select(list.selected as isize + n),
            ListAction::Home => list.select(0),
            ListAction::End => list.select(isize::MAX),
            ListAction::Sort(s) => {
                list.sort = s;
                list.resort();
            }
            ListAction::SortStep(step) => {
                let i = ListSort::ALL
                    .iter()
                    .position(|&s| s == list.sort)
                    .unwrap_or(0) as isize;
                list.sort =
                    ListSort::ALL[(i + step).rem_euclid(ListSort::ALL.len() as isize) as usize];
                list.resort();
            }
            ListAction::ToggleHelp => list.help = !list.help,
            ListAction::Open => {
                if let Some(pid) = list.selected_pid {
                    match Live::open(pid, config, true) {
                        Ok(l) => {
                            live = Some(l);
                            paused.store(true, Ordering::SeqCst);
                        }
                        Err(e) => {
                            list.message =
                                Some((format!("cannot open {pid}: {e:#}"), Instant::now()))
                        }
                    }
                }
            }
            ListAction::None => continue,
        }
        next_draw = Instant::now();
    };
    stop.store(true, Ordering::SeqCst);
    drop(live);
    drop(guard);
    result
}
