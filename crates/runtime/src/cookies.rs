//! The names of every cookie Portcullis sets. The control plane sets them; the gateway's reverse
//! proxy strips them from what goes upstream and drops an upstream's `Set-Cookie` for them, so
//! both read the one list here.

pub use crate::legacy::LEGACY_COOKIE;

/// The session cookie (HttpOnly) of a deployment served over plain http.
pub const SESSION_COOKIE: &str = "portcullis_session";
/// The CSRF cookie (readable by the portal's script, echoed in `X-CSRF-Token`) over plain http.
pub const CSRF_COOKIE: &str = "portcullis_csrf";
/// The session cookie under https: the `__Host-` prefix makes browsers accept it only with
/// `Secure`, `Path=/` and no `Domain`, so a sibling subdomain or a plain-http page cannot plant
/// or shadow it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-portcullis_session";
/// The CSRF cookie under https (see [`SECURE_SESSION_COOKIE`]).
pub const SECURE_CSRF_COOKIE: &str = "__Host-portcullis_csrf";

/// Every cookie name Portcullis sets, in every spelling (plain, `__Host-`, legacy): a reverse
/// proxy strips these from what goes upstream and drops an upstream's `Set-Cookie` for them.
pub fn portcullis_cookie_names() -> &'static [&'static str] {
    &[
        SESSION_COOKIE,
        CSRF_COOKIE,
        SECURE_SESSION_COOKIE,
        SECURE_CSRF_COOKIE,
        LEGACY_COOKIE,
    ]
}
