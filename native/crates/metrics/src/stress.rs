//! Load generation for tests and benchmarks: engine-like threads incrementing one counter.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::error::MetricsError;
use crate::registry::Registry;
use crate::writer::Counter;

/// Starts `threads` threads that each take a shard writer and add 1 (an integer increment, as
/// engines count) to `counter` `iterations`
/// times, all starting together; returns each thread's elapsed time.
pub fn hammer_counter(
    registry: &Arc<Registry>,
    counter: Counter,
    threads: usize,
    iterations: u64,
) -> Result<Vec<Duration>, MetricsError> {
    let writers = (0..threads)
        .map(|_| registry.writer())
        .collect::<Result<Vec<_>, _>>()?;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = writers
        .into_iter()
        .map(|writer| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let began = Instant::now();
                for _ in 0..iterations {
                    writer.inc_by(std::hint::black_box(counter), 1);
                }
                began.elapsed()
            })
        })
        .collect();
    Ok(handles
        .into_iter()
        .map(|h| h.join().expect("hammer thread panicked"))
        .collect())
}
