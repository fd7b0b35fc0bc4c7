//! Thin, safe wrappers over the Linux socket and epoll calls the engine makes. Every function
//! returns `io::Result` and never blocks (all sockets are non-blocking).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn from_sockaddr(storage: &libc::sockaddr_storage) -> SocketAddr {
    if i32::from(storage.ss_family) == libc::AF_INET6 {
        // SAFETY: the family says the storage holds a sockaddr_in6.
        let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
        SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(sin6.sin6_addr.s6_addr),
            u16::from_be(sin6.sin6_port),
            sin6.sin6_flowinfo,
            sin6.sin6_scope_id,
        ))
    } else {
        // SAFETY: otherwise it is AF_INET (we only create inet sockets).
        let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
        SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
            u16::from_be(sin.sin_port),
        ))
    }
}

fn family(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

fn set_int_option(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    // SAFETY: fd is an open socket; the option value is a c_int of the stated size. A failure
    // (e.g. TCP_NODELAY on an exotic socket) only costs latency, so it is ignored.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn new_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked and owned immediately.
    let fd = check(unsafe {
        libc::socket(
            family(addr),
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A bound, listening, non-blocking TCP socket and the address it got.
pub fn listen(addr: &SocketAddr, backlog: i32) -> io::Result<(OwnedFd, SocketAddr)> {
    let fd = new_socket(addr)?;
    set_int_option(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    let (storage, len) = to_sockaddr(addr);
    // SAFETY: storage holds a valid sockaddr of `len` bytes.
    check(unsafe { libc::bind(fd.as_raw_fd(), &storage as *const _ as *const _, len) })?;
    // SAFETY: fd is a bound socket.
    check(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    let bound = local_address(fd.as_raw_fd())?;
    Ok((fd, bound))
}

/// The local address of a socket.
pub fn local_address(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: zeroed storage, a correct length, and the result checked.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    check(unsafe { libc::getsockname(fd, &mut storage as *mut _ as *mut _, &mut len) })?;
    Ok(from_sockaddr(&storage))
}

/// Accepts one connection (non-blocking, close-on-exec, TCP_NODELAY set).
pub fn accept(listener: RawFd) -> io::Result<(OwnedFd, SocketAddr)> {
    // SAFETY: zeroed storage of the declared length; the returned fd is checked and owned.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let fd = check(unsafe {
        libc::accept4(
            listener,
            &mut storage as *mut _ as *mut _,
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: accept4 returned a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int_option(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    Ok((fd, from_sockaddr(&storage)))
}

/// Starts a non-blocking connect; `Ok((fd, true))` when it completed at once.
pub fn connect(addr: &SocketAddr) -> io::Result<(OwnedFd, bool)> {
    let fd = new_socket(addr)?;
    set_int_option(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    let (storage, len) = to_sockaddr(addr);
    // SAFETY: storage holds a valid sockaddr of `len` bytes.
    let ret = unsafe { libc::connect(fd.as_raw_fd(), &storage as *const _ as *const _, len) };
    if ret == 0 {
        return Ok((fd, true));
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINPROGRESS) {
        Ok((fd, false))
    } else {
        Err(err)
    }
}

/// The pending error of a socket (the outcome of a non-blocking connect).
pub fn socket_error(fd: RawFd) -> io::Result<()> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value is a c_int of the declared length.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut value as *mut _ as *mut _,
            &mut len,
        )
    })?;
    if value == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(value))
    }
}

/// recv(2) into `buf`; 0 means the peer closed.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    check_size(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// Sends up to two slices with one sendmsg(2) (no SIGPIPE); returns the bytes sent.
pub fn send2(fd: RawFd, first: &[u8], second: &[u8]) -> io::Result<usize> {
    let mut iov = [
        libc::iovec {
            iov_base: first.as_ptr() as *mut _,
            iov_len: first.len(),
        },
        libc::iovec {
            iov_base: second.as_ptr() as *mut _,
            iov_len: second.len(),
        },
    ];
    let count = if second.is_empty() { 1 } else { 2 };
    let start = usize::from(first.is_empty() && count == 2);
    // SAFETY: msghdr is plain data; it points at the iovecs above, which point at live slices.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = iov[start..].as_mut_ptr();
    msg.msg_iovlen = count - start;
    // SAFETY: msg is a valid msghdr whose buffers outlive the call.
    check_size(unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) })
}

/// An epoll instance.
pub struct Epoll {
    fd: OwnedFd,
}

/// Readiness flags the engine uses.
pub const READ: u32 = libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32;
pub const WRITE: u32 = libc::EPOLLOUT as u32;
/// Reported whatever the interest: a reset (or fully shut) socket.
pub const BROKEN: u32 = libc::EPOLLERR as u32 | libc::EPOLLHUP as u32;

impl Epoll {
    pub fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: fd is new and owned by nobody else.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // SAFETY: event is a valid epoll_event; fd is open.
        check(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut event) }).map(|_| ())
    }

    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    pub fn delete(&self, fd: RawFd) {
        // Failure means the fd was never registered or is closing: nothing to undo.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Waits up to `timeout_ms` and fills `events`; returns how many are ready.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        // SAFETY: events is valid for events.len() entries.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(err);
        }
        Ok(n as usize)
    }
}

/// An eventfd used to wake a worker out of epoll_wait.
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Self> {
        // SAFETY: eventfd returns a new descriptor or -1.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: fd is new and owned by nobody else.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64; a full counter (EAGAIN) still wakes.
        unsafe { libc::write(self.fd.as_raw_fd(), &one as *const u64 as *const _, 8) };
    }

    pub fn reset(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (nothing pending) is fine.
        unsafe { libc::read(self.fd.as_raw_fd(), &mut value as *mut u64 as *mut _, 8) };
    }
}

/// Whether an error means "try again later".
pub fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// The IP of a peer, for forwarding headers and rate limits.
pub fn peer_ip(addr: &SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    }
}

/// Eight bytes from the kernel's CSPRNG (getrandom(2)), for keys an attacker must not guess.
/// Fails only on a kernel without getrandom (before 3.17), which the engine does not support.
pub fn random_key() -> u64 {
    let mut key = [0u8; 8];
    let mut filled = 0;
    while filled < key.len() {
        let rest = &mut key[filled..];
        // SAFETY: the pointer and length describe the writable tail of `key`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else {
            let err = std::io::Error::last_os_error();
            assert!(
                err.kind() == std::io::ErrorKind::Interrupted,
                "getrandom(2) failed: {err}"
            );
        }
    }
    u64::from_ne_bytes(key)
}

/// Half-closes a socket: a FIN goes out after the queued bytes; the receive side stays open.
pub fn shutdown_write(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain shutdown(2) on a descriptor the caller owns.
    check(unsafe { libc::shutdown(fd, libc::SHUT_WR) }).map(|_| ())
}
