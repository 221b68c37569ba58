//! Active response as one unit: the block table, the [`Blocker`], the thread that applies
//! automatic blocks, the tee that maps alerts to blocks, scan detection and the control
//! socket. `verdict run` starts it once ([`Active::start`]), the control socket and reload
//! act on the same [`Blocker`], and [`Active::finish`] takes it down in the order that lets
//! every thread end.

use crate::block::{AutoBlocks, BlockSettings, Blocker, NftBackend};
use crate::control::{self, Control, ControlConfig, ControlError, Hooks};
use crate::output::Event;
use crate::scan::{self, ScanSettings};
use crossbeam_channel::Sender;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use verdict_compiler::bytecode::Program;
use verdict_nft::block::{self as nft_block, BlockError};

/// What [`Active::start`] needs.
pub struct ActiveOptions {
    /// Whitelist, guard, durations.
    pub block: BlockSettings,
    /// Scan detection, if on.
    pub scan: Option<ScanSettings>,
    /// The loaded programs (their `fwsam` and classtypes).
    pub programs: Vec<Program>,
    /// The engine's stop flag.
    pub stop: Arc<AtomicBool>,
}

/// Why active response could not start.
#[derive(Debug, thiserror::Error)]
pub enum ActiveError {
    /// The block table could not be created.
    #[error("cannot create the block sets")]
    Block(#[from] BlockError),
    /// The scan detector's NFLOG group could not be bound.
    #[error("cannot bind NFLOG group {group} for scan detection")]
    Nflog {
        /// the group
        group: u16,
        /// why
        source: std::io::Error,
    },
    /// The control socket could not be opened.
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// The running active-response side of the engine.
pub struct Active {
    blocker: Arc<Blocker>,
    events: Sender<Event>,
    auto: AutoBlocks,
    scan_script: String,
    tee: JoinHandle<()>,
    auto_thread: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Active {
    /// Creates the block table if missing (keeping earlier blocks), starts the block and tee
    /// threads in front of `writer`, and binds scan detection's NFLOG group.
    pub fn start(opts: ActiveOptions, writer: Sender<Event>) -> Result<Active, ActiveError> {
        nft_block::ensure()?;
        let blocker = Arc::new(Blocker::new(
            opts.block,
            Box::new(NftBackend),
            Some(writer.clone()),
        ));
        blocker.set_rules(&opts.programs);
        let (auto, auto_thread) = blocker.spawn_auto();
        let (events, tee) = blocker.tee(writer, auto.clone());
        let mut others = Vec::new();
        let mut scan_script = String::new();
        if let Some(s) = opts.scan {
            let group = s.nflog_group;
            scan_script = scan::nft_rule(&s);
            let auto_scan = s.block.is_some().then(|| auto.clone());
            let h = scan::spawn(s, events.clone(), auto_scan, Arc::clone(&opts.stop))
                .map_err(|source| ActiveError::Nflog { group, source })?;
            others.push(h);
        }
        Ok(Active {
            blocker,
            events,
            auto,
            scan_script,
            tee,
            auto_thread,
            others,
            stop: opts.stop,
        })
    }

    /// The sender workers and kernel alerts should write to (alerts pass the tee first).
    pub fn events(&self) -> Sender<Event> {
        self.events.clone()
    }

    /// The blocker (for reload and the control socket).
    pub fn blocker(&self) -> Arc<Blocker> {
        Arc::clone(&self.blocker)
    }

    /// nft text to append to the engine's script (the scan detector's `ct state new` rule).
    pub fn nft_script(&self) -> &str {
        &self.scan_script
    }

    /// Opens the control socket with the engine's `hooks`.
    pub fn serve_control(&mut self, cfg: ControlConfig, hooks: Hooks) -> Result<(), ActiveError> {
        let ctl = Arc::new(Control::new(Arc::clone(&self.blocker), Some(hooks)));
        let h = control::serve(cfg, ctl, Arc::clone(&self.stop))?;
        self.others.push(h);
        Ok(())
    }

    /// Stops everything once the workers are gone (the stop flag must be set and every
    /// sender from [`Active::events`] dropped); removes the block table if it holds nothing.
    pub fn finish(self) {
        self.blocker.close_events();
        drop(self.events);
        for h in self.others {
            let _ = h.join();
        }
        let _ = self.tee.join();
        drop(self.auto);
        let _ = self.auto_thread.join();
        match nft_block::remove_if_empty() {
            Ok(true) | Ok(false) => {}
            Err(e) => tracing::warn!("cannot tidy the block table: {e}"),
        }
    }
}
