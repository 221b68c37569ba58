//! (detection path: owned by the engine detection/replay work, issues 5/6)
