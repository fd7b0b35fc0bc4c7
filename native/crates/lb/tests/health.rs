//! Active health checks over loopback: probes run concurrently and never hold up stop().

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// An address whose connects hang: a listener with a backlog of one, filled, and never accepting,
/// so the kernel drops further SYNs (a local stand-in for a black-holed route).
struct Blackhole {
    address: SocketAddr,
    _listener: OwnedFd,
    _filler: Vec<TcpStream>,
}

fn blackhole() -> Blackhole {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    // SAFETY: re-listening on a socket this function owns; std gave no way to set the backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    // SAFETY: the descriptor is moved out of the TcpListener, which is forgotten.
    let fd = unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(listener)) };
    let mut filler = Vec::new();
    while filler.len() < 4 {
        match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            Ok(stream) => filler.push(stream),
            Err(_) => break,
        }
    }
    assert!(
        TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_err(),
        "the blackhole accepted a connection"
    );
    Blackhole {
        address,
        _listener: fd,
        _filler: filler,
    }
}

fn with_health_check(backends: &str, timeout_ms: u64) -> String {
    let json = config(&[], "").replace(
        r#""health_check": null"#,
        &format!(
            r#""health_check": {{"path": "/healthz", "interval_ms": 20, "timeout_ms": {timeout_ms},
                "rise": 1, "fall": 1, "expected_status": [[200, 399]], "host": null}}"#
        ),
    );
    json.replace(r#""backends": []"#, &format!(r#""backends": [{backends}]"#))
}

fn backend_entry(address: SocketAddr) -> String {
    format!(r#"{{"address": "{address}", "weight": 1}}"#)
}

#[test]
fn stop_returns_promptly_while_probes_hang() {
    let hole = blackhole();
    // Accepts connections (the kernel does) but never answers.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let backends = [hole.address, mute.local_addr().unwrap()]
        .map(backend_entry)
        .join(", ");
    let (engine, _) = start(&with_health_check(&backends, 10_000));
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    engine.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(200), "stop() took {took:?}");
}

#[test]
fn slow_backends_do_not_delay_the_checks_of_the_others() {
    let holes: Vec<Blackhole> = (0..3).map(|_| blackhole()).collect();
    let sick = start_sick("sick");
    let mut entries: Vec<String> = holes.iter().map(|h| backend_entry(h.address)).collect();
    entries.push(backend_entry(sick.address));
    let (engine, _) = start(&with_health_check(&entries.join(", "), 3_000));
    let started = Instant::now();
    loop {
        let stats: serde_json::Value = serde_json::from_str(&engine.stats_json()).unwrap();
        if stats["pools"]["app"]["backends"][3]["up"] == false {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the sick backend's check waited behind the hanging ones: {stats}"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(sick.requests.load(Ordering::SeqCst), 0);
    engine.stop();
}
