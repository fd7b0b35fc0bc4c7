//! Route matching: host (exact or `*.suffix`, case-insensitive, port stripped) and path
//! (exact, prefix or regex compiled at load), first match wins, else the listener's default.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use regex::bytes::Regex;

use crate::config::{HeaderRules, PathKind, RouteConfig};
use crate::error::LbError;
use crate::http::normalize_path;

enum HostMatch {
    Any,
    Exact(Vec<u8>),
    /// `*.example` stored as `.example`: matches any name ending with it.
    Suffix(Vec<u8>),
}

enum PathMatcher {
    Any,
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
    Regex(Regex),
}

/// Header rules with names lower-cased for comparison.
#[derive(Default)]
pub struct CompiledRules {
    pub remove: Vec<Vec<u8>>,
    pub set: Vec<(Vec<u8>, Vec<u8>)>,
    pub add: Vec<(Vec<u8>, Vec<u8>)>,
}

impl CompiledRules {
    fn compile(rules: &HeaderRules) -> Self {
        let lower = |s: &str| s.to_ascii_lowercase().into_bytes();
        Self {
            remove: rules.remove.iter().map(|n| lower(n)).collect(),
            set: rules
                .set
                .iter()
                .map(|(n, v)| (lower(n), v.clone().into_bytes()))
                .collect(),
            add: rules
                .add
                .iter()
                .map(|(n, v)| (n.clone().into_bytes(), v.clone().into_bytes()))
                .collect(),
        }
    }

    /// True when an incoming field with this name must not be copied (removed or replaced).
    pub fn drops(&self, name: &[u8]) -> bool {
        self.remove.iter().any(|r| r.eq_ignore_ascii_case(name))
            || self.set.iter().any(|(r, _)| r.eq_ignore_ascii_case(name))
    }
}

/// One compiled route.
pub struct Route {
    pub name: String,
    host: HostMatch,
    path: PathMatcher,
    /// Index into the runtime's pools.
    pub pool: usize,
    pub request_rules: CompiledRules,
    pub response_rules: CompiledRules,
    /// Requests routed here (shared across config generations by route name).
    pub requests: Arc<AtomicU64>,
    /// The route's series in the metrics registry, if any.
    pub metric: Option<thecloud_metrics::Counter>,
}

/// A route's counters: the engine's own and, optionally, its metrics series.
pub struct RouteCounters {
    pub requests: Arc<AtomicU64>,
    pub metric: Option<thecloud_metrics::Counter>,
}

/// What a request was routed to.
pub struct RouteChoice {
    pub pool: usize,
    /// Index of the matching route (for `Router::get`); None for the default pool.
    pub route: Option<usize>,
}

/// The routes of one listener.
pub struct Router {
    routes: Vec<Route>,
    default_pool: Option<usize>,
}

/// Strips the port from a Host value (`[v6]:port`, `name:port`).
fn host_without_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return host
            .iter()
            .position(|&b| b == b']')
            .map_or(host, |end| &host[..=end]);
    }
    host.iter()
        .rposition(|&b| b == b':')
        .map_or(host, |colon| &host[..colon])
}

/// An exact or prefix route path, refused unless already normal: requests are matched on their
/// normalised path (see `http::normalize_path`), which no other spelling could equal.
fn normal_route_path(field: &str, value: &str) -> Result<Vec<u8>, LbError> {
    let mut scratch = Vec::new();
    let refuse = |why: String| LbError::invalid(format!("{field}.path.value: {value:?} {why}"));
    if !value.starts_with('/') {
        return Err(refuse("must start with '/'".into()));
    }
    if value.contains(['?', '#']) {
        return Err(refuse(
            "never matches: routes match the path without query or fragment".into(),
        ));
    }
    match normalize_path(value.as_bytes(), &mut scratch) {
        Err(e) => Err(refuse(e.reason.into())),
        Ok(normal) if normal != value.as_bytes() => Err(refuse(format!(
            "never matches: requests are routed on normalised paths; use {:?}",
            String::from_utf8_lossy(normal)
        ))),
        Ok(_) => Ok(value.as_bytes().to_vec()),
    }
}

impl Router {
    /// Compiles routes; `pool_index` resolves pool names, `route_counter` the shared counters.
    pub fn compile(
        listener: usize,
        routes: &[RouteConfig],
        default_pool: Option<usize>,
        pool_index: impl Fn(&str) -> Option<usize>,
        route_counter: &mut dyn FnMut(&str) -> Result<RouteCounters, LbError>,
    ) -> Result<Self, LbError> {
        let mut compiled = Vec::with_capacity(routes.len());
        for (j, route) in routes.iter().enumerate() {
            let field = format!("listeners[{listener}].routes[{j}]");
            let host = match route.host.as_deref() {
                None => HostMatch::Any,
                Some(h) if h.starts_with("*.") => {
                    HostMatch::Suffix(h[1..].to_ascii_lowercase().into_bytes())
                }
                Some(h) => HostMatch::Exact(h.to_ascii_lowercase().into_bytes()),
            };
            let path = match &route.path {
                None => PathMatcher::Any,
                Some(p) => match p.kind {
                    PathKind::Exact => PathMatcher::Exact(normal_route_path(&field, &p.value)?),
                    PathKind::Prefix => PathMatcher::Prefix(normal_route_path(&field, &p.value)?),
                    PathKind::Regex => PathMatcher::Regex(Regex::new(&p.value).map_err(|e| {
                        LbError::invalid(format!("{field}.path.value: invalid regex: {e}"))
                    })?),
                },
            };
            let pool = pool_index(&route.pool).ok_or_else(|| {
                LbError::invalid(format!("{field}.pool: unknown pool {:?}", route.pool))
            })?;
            let counters = route_counter(&route.name)?;
            compiled.push(Route {
                name: route.name.clone(),
                host,
                path,
                pool,
                request_rules: CompiledRules::compile(&route.request_headers),
                response_rules: CompiledRules::compile(&route.response_headers),
                requests: counters.requests,
                metric: counters.metric,
            });
        }
        Ok(Self {
            routes: compiled,
            default_pool,
        })
    }

    /// The route at `index` (as returned in a `RouteChoice`).
    pub fn get(&self, index: usize) -> &Route {
        &self.routes[index]
    }

    /// All routes, in match order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Routes a request by its Host (or absolute-form authority) and path (query excluded).
    pub fn route(&self, host: Option<&[u8]>, target_path: &[u8]) -> Option<RouteChoice> {
        let host = host.map(host_without_port).unwrap_or(b"");
        let path = target_path
            .iter()
            .position(|&b| b == b'?' || b == b'#')
            .map_or(target_path, |q| &target_path[..q]);
        for (index, route) in self.routes.iter().enumerate() {
            let host_ok = match &route.host {
                HostMatch::Any => true,
                HostMatch::Exact(h) => host.eq_ignore_ascii_case(h),
                HostMatch::Suffix(s) => {
                    host.len() > s.len() && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
                }
            };
            if !host_ok {
                continue;
            }
            let path_ok = match &route.path {
                PathMatcher::Any => true,
                PathMatcher::Exact(p) => path == p.as_slice(),
                PathMatcher::Prefix(p) => path.starts_with(p),
                PathMatcher::Regex(r) => r.is_match(path),
            };
            if path_ok {
                return Some(RouteChoice {
                    pool: route.pool,
                    route: Some(index),
                });
            }
        }
        self.default_pool
            .map(|pool| RouteChoice { pool, route: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PathMatch;

    fn route(
        name: &str,
        host: Option<&str>,
        path: Option<(PathKind, &str)>,
        pool: &str,
    ) -> RouteConfig {
        RouteConfig {
            name: name.into(),
            host: host.map(Into::into),
            path: path.map(|(kind, value)| PathMatch {
                kind,
                value: value.into(),
            }),
            pool: pool.into(),
            request_headers: HeaderRules::default(),
            response_headers: HeaderRules::default(),
        }
    }

    fn compile(
        listener: usize,
        routes: &[RouteConfig],
        default: Option<usize>,
    ) -> Result<Router, LbError> {
        let pools = ["a", "b", "c", "d"];
        Router::compile(
            listener,
            routes,
            default,
            |name| pools.iter().position(|p| *p == name),
            &mut |_| {
                Ok(RouteCounters {
                    requests: Arc::new(AtomicU64::new(0)),
                    metric: None,
                })
            },
        )
    }

    fn router(routes: &[RouteConfig], default: Option<usize>) -> Router {
        compile(0, routes, default).unwrap()
    }

    #[test]
    fn first_matching_route_wins_and_default_catches_the_rest() {
        let r = router(
            &[
                route(
                    "api",
                    Some("api.example"),
                    Some((PathKind::Prefix, "/v1/")),
                    "a",
                ),
                route("wild", Some("*.example"), None, "b"),
                route("exact", None, Some((PathKind::Exact, "/x")), "c"),
                route("re", None, Some((PathKind::Regex, "^/u/[0-9]+$")), "d"),
            ],
            Some(3),
        );
        let pool = |host: &[u8], path: &[u8]| r.route(Some(host), path).map(|c| c.pool);
        assert_eq!(pool(b"API.example:8080", b"/v1/users?q=1"), Some(0));
        assert_eq!(pool(b"api.example", b"/v2/"), Some(1));
        assert_eq!(pool(b"deep.sub.example", b"/"), Some(1));
        assert_eq!(pool(b"example", b"/x"), Some(2));
        assert_eq!(pool(b"other", b"/x?y"), Some(2));
        assert_eq!(pool(b"other", b"/u/42"), Some(3));
        assert!(r.route(Some(b"other"), b"/u/42").unwrap().route.is_some());
        assert!(r
            .route(Some(b"other"), b"/nothing")
            .unwrap()
            .route
            .is_none());
    }

    #[test]
    fn no_default_pool_means_no_route() {
        let r = router(&[route("only", Some("a.test"), None, "a")], None);
        assert!(r.route(Some(b"b.test"), b"/").is_none());
        assert!(r.route(Some(b"[::1]:80"), b"/").is_none());
        assert_eq!(host_without_port(b"[::1]:80"), b"[::1]");
    }

    #[test]
    fn route_paths_that_could_never_match_a_normalised_path_are_refused() {
        for (value, why) in [
            ("/%61dmin", "use \"/admin\""),
            ("/a/../b", "use \"/b\""),
            ("//x", "use \"/x\""),
            ("/%zz", "invalid percent-encoding"),
            ("x", "must start with '/'"),
        ] {
            let bad = route("bad", None, Some((PathKind::Prefix, value)), "a");
            let err = compile(1, &[bad], None).err().unwrap();
            assert!(
                err.message.starts_with("listeners[1].routes[0].path.value")
                    && err.message.contains(why),
                "{value}: {}",
                err.message
            );
        }
    }

    #[test]
    fn a_bad_regex_names_the_route() {
        let bad = route("bad", None, Some((PathKind::Regex, "(")), "a");
        let err = compile(2, &[bad], None).err().unwrap();
        assert!(err.message.starts_with("listeners[2].routes[0].path.value"));
    }
}
