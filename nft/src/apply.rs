//! (apply/probe: owned by the engine work, issue 5)
