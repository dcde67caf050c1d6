//! Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1): `Cookie = HMAC(Secret, Client-IP,
//! Client-Parameters)`. The demultiplexer answers a ClientHello without a valid cookie from
//! nothing but this secret, so a flood of spoofed ClientHellos allocates nothing per peer.
//!
//! The secret rotates; a cookie made with the previous secret is still accepted, so a client
//! that got its HelloVerifyRequest just before a rotation is not turned away.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the truncated HMAC sent as cookie (webrtc-dtls and OpenSSL use 20-32).
pub const COOKIE_LEN: usize = 20;

pub struct CookieJar {
    current: [u8; 32],
    previous: [u8; 32],
    rotated_at: Instant,
    every: Duration,
}

impl CookieJar {
    pub fn new(now: Instant, every: Duration) -> CookieJar {
        CookieJar {
            current: rand::random(),
            previous: rand::random(),
            rotated_at: now,
            every,
        }
    }

    /// Rotates the secret when it is older than the rotation period.
    pub fn tick(&mut self, now: Instant) {
        if now.saturating_duration_since(self.rotated_at) >= self.every {
            self.previous = self.current;
            self.current = rand::random();
            self.rotated_at = now;
        }
    }

    /// The cookie for a ClientHello with `params` (version, random, session id) from `peer`.
    pub fn make(&self, peer: SocketAddr, params: &[u8]) -> [u8; COOKIE_LEN] {
        mac(&self.current, peer, params)
    }

    /// Whether `cookie` was made by [`CookieJar::make`] for this peer and parameters, with the
    /// current or the previous secret. Constant time in the cookie's content.
    pub fn verify(&self, peer: SocketAddr, params: &[u8], cookie: &[u8]) -> bool {
        if cookie.len() != COOKIE_LEN {
            return false;
        }
        [&self.current, &self.previous].into_iter().any(|secret| {
            let expected = mac(secret, peer, params);
            expected
                .iter()
                .zip(cookie)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        })
    }
}

fn mac(secret: &[u8; 32], peer: SocketAddr, params: &[u8]) -> [u8; COOKIE_LEN] {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else {
        return [0; COOKIE_LEN];
    };
    match peer {
        SocketAddr::V4(a) => m.update(&a.ip().octets()),
        SocketAddr::V6(a) => m.update(&a.ip().octets()),
    }
    m.update(&peer.port().to_be_bytes());
    m.update(params);
    let full = m.finalize().into_bytes();
    let mut out = [0; COOKIE_LEN];
    out.copy_from_slice(&full[..COOKIE_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_cookie_verifies_for_its_peer_and_parameters_only() {
        let jar = CookieJar::new(Instant::now(), Duration::from_secs(60));
        let c = jar.make(peer(1000), b"params");
        assert!(jar.verify(peer(1000), b"params", &c));
        assert!(!jar.verify(peer(1001), b"params", &c));
        assert!(!jar.verify(SocketAddr::from(([127, 0, 0, 2], 1000)), b"params", &c));
        assert!(!jar.verify(peer(1000), b"paramz", &c));
        let mut bad = c;
        bad[0] ^= 1;
        assert!(!jar.verify(peer(1000), b"params", &bad));
        assert!(!jar.verify(peer(1000), b"params", &c[..COOKIE_LEN - 1]));
        assert!(!jar.verify(peer(1000), b"params", b""));
    }

    #[test]
    fn the_previous_secret_still_verifies_after_one_rotation_only() {
        let t0 = Instant::now();
        let mut jar = CookieJar::new(t0, Duration::from_secs(60));
        let c = jar.make(peer(7), b"p");
        jar.tick(t0 + Duration::from_secs(30));
        assert!(jar.verify(peer(7), b"p", &c), "no rotation yet");
        jar.tick(t0 + Duration::from_secs(61));
        assert!(jar.verify(peer(7), b"p", &c), "previous secret");
        assert_ne!(jar.make(peer(7), b"p"), c);
        jar.tick(t0 + Duration::from_secs(122));
        assert!(!jar.verify(peer(7), b"p", &c), "two rotations later");
    }

    #[test]
    fn jars_do_not_share_secrets() {
        let a = CookieJar::new(Instant::now(), Duration::from_secs(60));
        let b = CookieJar::new(Instant::now(), Duration::from_secs(60));
        assert!(!b.verify(peer(1), b"p", &a.make(peer(1), b"p")));
    }
}
