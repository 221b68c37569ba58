//! Control-socket request lines through the command interpreter, against an in-memory block
//! backend (no kernel): `block`, `unblock`, `list`, durations, addresses, `--json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use verdict_engine::block::{BlockSettings, Blocker, MemBackend};
use verdict_engine::control::Control;

fuzz_target!(|data: &[u8]| {
    let blocker = Blocker::new(
        BlockSettings::default(),
        Box::new(MemBackend::default()),
        None,
    );
    let ctl = Control::new(Arc::new(blocker), None);
    for line in String::from_utf8_lossy(data).lines() {
        let _ = ctl.execute(line);
    }
});
