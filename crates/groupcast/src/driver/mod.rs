//! What the long-running commands' drivers share: the clock and the stop signal.

pub(crate) mod clock;
mod stop;

pub(crate) use stop::Stop;
